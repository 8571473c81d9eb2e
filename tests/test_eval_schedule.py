"""Evaluation when you want it: ``eval_every`` and ``eval_examples`` skip work, never change
what is trained, and the last epoch is always evaluated on everything."""

import numpy as np
import pytest
from test_sweep import tiny_dataset

from initjax import sweep, train

EVAL = ("train_loss", "train_acc", "test_loss", "test_acc")


def test_eval_every_keeps_the_training_and_the_final_metrics_bit_for_bit():
    data = tiny_dataset(n_train=128, n_test=64)
    cfg = train.Config(model="mlp", hidden=(8,), dataset="synthetic", num_classes=3,
                       batch_size=16, epochs=7)  # fmt: skip
    every = sweep.run(cfg, data, seeds=2, sigmas=[0.5, 1.0], progress=False)
    sparse = sweep.run(cfg.replace(eval_every=3), data, seeds=2, sigmas=[0.5, 1.0], progress=False)
    np.testing.assert_array_equal(sparse.batch_loss.values, every.batch_loss.values)
    for name in EVAL:
        kept = [0, 3, 6, 7]  # init, every 3rd epoch, and the last (7) always
        np.testing.assert_array_equal(sparse[name].isel(epoch=kept).values,
                                      every[name].isel(epoch=kept).values, err_msg=name)  # fmt: skip
        assert np.isnan(sparse[name].isel(epoch=[1, 2, 4, 5]).values).all(), name
    # A single run follows the same schedule.
    hist = train.run(cfg.replace(eval_every=3), data, seed=1, sigma=1.0)
    np.testing.assert_array_equal(hist.test_acc, sparse.test_acc.sel(seed=1, sigma=1.0, lr=0.1))


def test_eval_examples_measures_intermediate_epochs_on_a_prefix_and_the_last_on_all():
    data = tiny_dataset(n_train=128, n_test=64)
    cfg = train.Config(model="mlp", hidden=(8,), dataset="synthetic", num_classes=3,
                       batch_size=16, epochs=3)  # fmt: skip
    full = sweep.run(cfg, data, seeds=2, progress=False)
    part = sweep.run(cfg.replace(eval_examples=64), data, seeds=2, progress=False)
    # The test split has exactly 64 examples: its prefix is all of it, every epoch.
    np.testing.assert_array_equal(part.test_loss.values, full.test_loss.values)
    # The train split has 128: intermediate epochs differ, init and the last do not.
    mid = part.train_loss.isel(epoch=[1, 2]).values
    assert np.isfinite(mid).all() and not np.array_equal(mid, full.train_loss.isel(epoch=[1, 2]))
    np.testing.assert_array_equal(part.train_loss.isel(epoch=3), full.train_loss.isel(epoch=3))


def test_a_per_seed_grid_with_an_eval_schedule_does_not_copy_the_data_per_cell():
    """With ``eval_every`` > 1 and ``order="per_seed"``, a per-cell epoch turned the schedule's
    lax.switch into a select that broadcast the whole dataset to every cell (410 MB per cell
    for batchnorm's full config). The compiled program's scratch memory must stay well under
    one copy of the data per cell."""
    import jax
    import jax.numpy as jnp

    from initjax import grid as engine
    from initjax.train import DataArrays

    data = tiny_dataset(n_train=4096, n_test=1024, dim=256)
    cfg = train.Config(model="mlp", hidden=(8,), dataset="synthetic", num_classes=3,
                       batch_size=64, epochs=4, order="per_seed", eval_every=2)  # fmt: skip
    arrays = DataArrays(*map(jnp.asarray, (data.x_train, data.y_train, data.x_test, data.y_test)))
    cells = 8
    state, _ = jax.eval_shape(
        lambda *a: engine.init_grid(cfg, arrays, *a),
        jnp.arange(cells, dtype=jnp.int32), jnp.ones(cells), jnp.full(cells, 0.1),
    )  # fmt: skip
    temp = engine.advance_grid.lower(cfg, arrays, state, 2).compile().memory_analysis()
    per_copy = data.x_train.nbytes + data.x_test.nbytes  # 5 MB
    assert temp.temp_size_in_bytes < 0.25 * cells * per_copy, temp.temp_size_in_bytes


def test_eval_epochs_adds_named_epochs_to_the_schedule_in_both_orders():
    """``eval_epochs=(1, 4)`` with ``eval_every`` = epochs evaluates at init, 1, 4 and the
    last only, equal to the every-epoch sweep there, in a shared-order and a per-seed grid;
    entries outside 1..epochs are refused; the field is left out of a default config's JSON
    (old fingerprints hold)."""
    data = tiny_dataset(n_train=128, n_test=64)
    for order in ("shared", "per_seed"):
        cfg = train.Config(model="mlp", hidden=(8,), dataset="synthetic", num_classes=3,
                           batch_size=16, epochs=6, order=order)  # fmt: skip
        every = sweep.run(cfg, data, seeds=2, sigmas=[0.5, 1.0], progress=False)
        sched = cfg.replace(eval_every=6, eval_epochs=(4, 1))
        sparse = sweep.run(sched, data, seeds=2, sigmas=[0.5, 1.0], progress=False)
        np.testing.assert_array_equal(sparse.batch_loss.values, every.batch_loss.values)
        for name in EVAL:
            kept = [0, 1, 4, 6]
            np.testing.assert_array_equal(sparse[name].isel(epoch=kept).values,
                                          every[name].isel(epoch=kept).values, err_msg=name)  # fmt: skip
            assert np.isnan(sparse[name].isel(epoch=[2, 3, 5]).values).all(), (order, name)
    assert sched.eval_epochs == (1, 4) and train.Config.from_json(sched.to_json()) == sched
    assert "eval_epochs" not in cfg.to_json() and '"eval_epochs": [1, 4]' in sched.to_json()
    with pytest.raises(ValueError, match=r"eval_epochs must name epochs in 1..epochs = 1..6"):
        cfg.replace(eval_epochs=(7,))
    with pytest.raises(ValueError, match="eval_epochs must be a tuple"):
        cfg.replace(eval_epochs="1")


def test_tools_that_shorten_a_config_drop_its_eval_epochs(tmp_path, capsys):
    """The dry run's timed probe (2 epochs) and the coordinate check (1 epoch) shorten the
    config; an ``eval_epochs`` beyond their length must not make them fail."""
    from test_cli import TINY

    from initjax import cli, coordcheck

    args = [*TINY, "--model", "mlp", "--hidden", "8", "--epochs", "6", "--eval-epochs", "5"]
    assert cli.main([*args, "--out", str(tmp_path / "d"), "--dry-run"]) == 0
    assert "dry run:" in capsys.readouterr().out and not (tmp_path / "d").exists()
    data = tiny_dataset(n_train=128, n_test=64)
    cfg = train.Config(model="mlp", hidden=(8,), dataset="synthetic", num_classes=3,
                       batch_size=16, epochs=6, eval_epochs=(5,))  # fmt: skip
    out = coordcheck.coordinate_check(cfg, data, (8, 16), steps=1, seeds=(0,))
    assert np.isfinite(out["logits"]).all()
