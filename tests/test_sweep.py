import jax
import numpy as np
import pytest

from initjax import shard, sweep, train
from initjax.data import Dataset


def tiny_dataset(n_train=128, n_test=64, dim=8, classes=3, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, classes))
    x = rng.normal(size=(n_train + n_test, dim)).astype(np.float32)
    y = np.argmax(x @ w, axis=1).astype(np.int32)
    return Dataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss")


def assert_cell_equals_run(res, cfg, data, rtol):
    for seed in res.seed.values:
        for sigma in res.sigma.values:
            for lr in res.lr.values:
                hist = train.run(cfg, data, seed=int(seed), sigma=float(sigma), lr=float(lr))
                cell = res.sel(seed=seed, sigma=sigma, lr=lr)
                for name in METRICS:
                    np.testing.assert_allclose(
                        cell[name].values,
                        getattr(hist, name),
                        rtol=rtol,
                        atol=1e-7,
                        err_msg=f"{name} seed={seed} sigma={sigma} lr={lr}",
                    )
                assert bool(cell.diverged) == hist.diverged


def test_softmax_grid_cells_equal_single_runs():
    data = tiny_dataset()
    cfg = train.Config(dataset="synthetic", num_classes=3, batch_size=16, epochs=3)
    res = sweep.run(
        cfg, data, seeds=[0, 1], sigmas=[0.0, 0.01, 1.0], lrs=[0.1, 0.5], progress=False
    )
    assert dict(res.sizes) == {"seed": 2, "sigma": 3, "lr": 2, "epoch": 4, "layer": 1}
    np.testing.assert_array_equal(res.sigma.values, [0.0, 0.01, 1.0])
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)


def test_batchnorm_mlp_grid_cells_equal_single_runs():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp",
        hidden=(16, 16),
        activation="tanh",
        batch_norm=True,
        scheme="he_normal",
        optimizer="momentum",
        dataset="synthetic",
        num_classes=3,
        batch_size=32,
        epochs=2,
    )
    res = sweep.run(cfg, data, seeds=2, sigmas=[0.5, 2.0], lrs=[0.05], progress=False)
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)


def test_diverging_cells_are_flagged_and_leave_the_others_untouched():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(64, 64), dataset="synthetic", num_classes=3, batch_size=32, epochs=3
    )
    full = sweep.run(cfg, data, seeds=[0], sigmas=[0.1, 100.0], lrs=[0.1, 10.0], progress=False)
    # The same grid shape with tame values in the other cells: the shared cell must be
    # bit-identical (same program, same batching). A smaller grid batches its matmuls
    # differently, so there the match is to float rounding only.
    calm = sweep.run(cfg, data, seeds=[0], sigmas=[0.1, 0.2], lrs=[0.1, 0.2], progress=False)
    alone = sweep.run(cfg, data, seeds=[0], sigmas=[0.1], lrs=[0.1], progress=False)
    assert bool(full.diverged.sel(sigma=100.0, lr=10.0).item())
    assert not bool(full.diverged.sel(sigma=0.1, lr=0.1).item())
    bad = full.sel(sigma=100.0, lr=10.0)
    first_bad_epoch = int(bad.diverged_step.item()) // (128 // 32) + 1
    assert np.all(np.isnan(bad.train_loss.values[..., first_bad_epoch:]))
    assert not calm.diverged.any()
    for name in METRICS:
        cell = full[name].sel(sigma=0.1, lr=0.1).values
        np.testing.assert_array_equal(cell, calm[name].sel(sigma=0.1, lr=0.1).values)
        np.testing.assert_allclose(cell, alone[name].sel(sigma=0.1, lr=0.1).values, rtol=1e-6)


def test_second_grid_of_same_shape_does_not_recompile():
    data = tiny_dataset()
    cfg = train.Config(
        dataset="synthetic", num_classes=3, batch_size=16, epochs=2, scheme="xavier_uniform"
    )
    sweep.run(cfg, data, seeds=2, sigmas=[0.5, 1.0, 2.0], lrs=[0.1], progress=False)
    before = sweep.compile_count()
    res = sweep.run(cfg, data, seeds=[5, 6], sigmas=[0.1, 0.2, 3.0], lrs=[0.7], progress=False)
    assert sweep.compile_count() == before
    assert res.sigma.values.tolist() == [0.1, 0.2, 3.0]


def test_shared_order_pairs_cells_and_per_seed_order_does_not():
    # With zero init every seed starts identical; only the data order can tell them apart.
    data = tiny_dataset()
    cfg = train.Config(scheme="zeros", dataset="synthetic", num_classes=3, batch_size=16, epochs=2)
    shared = sweep.run(cfg, data, seeds=3, progress=False)
    per_seed = sweep.run(cfg.replace(order="per_seed"), data, seeds=3, progress=False)
    loss = shared.train_loss.values
    np.testing.assert_array_equal(loss[0], loss[1])
    np.testing.assert_array_equal(loss[0], loss[2])
    assert not np.array_equal(per_seed.train_loss.values[0], per_seed.train_loss.values[1])


def test_per_seed_order_grid_cells_equal_single_runs():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(8,), dataset="synthetic", num_classes=3, batch_size=16, epochs=2,
        order="per_seed",
    )  # fmt: skip
    res = sweep.run(cfg, data, seeds=[0, 1], sigmas=[0.1, 0.5], progress=False)
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)


def _dot_operands(cfg, m, data):
    """The operand types of every dot_general in the compiled grid step for m cells."""
    arrays = train.DataArrays.from_dataset(data)
    cells = np.arange(m, dtype=np.int32), np.full(m, 0.1, np.float32), np.full(m, 0.1, np.float32)
    state, _ = sweep.init_grid(cfg, arrays, *cells)
    text = sweep.advance_grid.lower(cfg, arrays, state, 1).as_text()
    return [line.rsplit(":", 1)[1] for line in text.splitlines() if "dot_general" in line]


def test_shared_order_grid_multiplies_one_batch_for_all_cells():
    # order="shared": the batch is gathered once per step and each layer's forward matmul is
    # one (B, D)·(D, M·K) GEMM; a per-cell copy of the batch (an (M, B, D) operand) would make
    # it M small memory-bound matmuls. per_seed needs those copies: the check can tell.
    data = tiny_dataset(dim=8, classes=3)
    cfg = train.Config(dataset="synthetic", num_classes=3, batch_size=16, epochs=1)
    m = 5
    shared = _dot_operands(cfg, m, data)
    per_seed = _dot_operands(cfg.replace(order="per_seed"), m, data)
    per_cell_batch = f"tensor<{m}x16x8xf32>"
    assert shared and not any(per_cell_batch in d for d in shared), shared
    assert any(per_cell_batch in d for d in per_seed), per_seed
    assert any("tensor<16x8xf32>" in d for d in shared), shared


def test_grid_sharded_over_two_devices_equals_one_device():
    assert jax.device_count() == 2  # conftest: 2 virtual CPU devices
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(8,), dataset="synthetic", num_classes=3, batch_size=32, epochs=2
    )
    # 3 cells over 2 devices: padded to 4, the pad cell never appears.
    two = sweep.run(cfg, data, seeds=3, sigmas=[0.1], progress=False)
    one = sweep.run(cfg, data, seeds=3, sigmas=[0.1], progress=False, devices=jax.devices()[:1])
    assert two.sizes["seed"] == 3
    for name in METRICS:
        np.testing.assert_allclose(two[name].values, one[name].values, rtol=1e-6)


def test_resume_from_a_chunk_state_gives_the_same_result():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp",
        hidden=(8,),
        optimizer="adam",
        lr=0.01,
        dataset="synthetic",
        num_classes=3,
        batch_size=32,
        epochs=4,
    )
    saved = {}

    def keep(state):
        if state.epochs_done == 2:
            saved["state"] = jax.tree_util.tree_map(np.asarray, state.state)
            saved["metrics"] = {k: v.copy() for k, v in state.metrics.items()}

    whole = sweep.run(cfg, data, seeds=2, sigmas=[0.1, 0.3], progress=False, on_chunk=keep)
    resumed = sweep.run(
        cfg,
        data,
        seeds=2,
        sigmas=[0.1, 0.3],
        progress=False,
        resume=sweep.SweepState(2, saved["state"], saved["metrics"]),
    )
    for name in METRICS:
        np.testing.assert_array_equal(whole[name].values, resumed[name].values)


def test_bad_grids_are_rejected():
    with pytest.raises(ValueError, match="sigmas must be finite and >= 0"):
        sweep.Grid.make([0], [-1.0], [0.1])
    with pytest.raises(ValueError, match="lrs must be finite and > 0"):
        sweep.Grid.make([0], [0.1], [0.0])
    with pytest.raises(ValueError, match="seeds has repeated values"):
        sweep.Grid.make([1, 1], [0.1], [0.1])


def test_svd_diagnostics_run_on_one_device_per_process():
    # jaxlib 0.10.2: SVDs in a grid sharded over 2+ XLA:CPU devices of one process can hang.
    assert jax.device_count() == 2
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(8,), dataset="synthetic", num_classes=3, batch_size=32, epochs=1,
        record=("weight_rank",), probe_size=32,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="deadlock"):
        assert shard.grid_devices(cfg.record, None) == jax.devices()[:1]
    assert shard.grid_devices(("grad_norm",), None) is None
    assert shard.grid_devices(cfg.record, jax.devices()[1:]) == jax.devices()[1:]
    with pytest.raises(ValueError, match=r"deadlock.*devices=jax\.devices"):
        sweep.run(cfg, data, seeds=2, progress=False, devices=jax.devices())
    with pytest.warns(UserWarning, match=r"1 device.*one per process, not 2"):
        res = sweep.run(cfg, data, seeds=3, progress=False)
    one = sweep.run(cfg, data, seeds=3, progress=False, devices=jax.devices()[:1])
    np.testing.assert_array_equal(res.weight_rank.values, one.weight_rank.values)
    np.testing.assert_array_equal(res.train_loss.values, one.train_loss.values)


def test_an_outer_scheme_axis_trains_with_one_compiled_program(mnist1d_data):
    """Schemes differ only in how parameters are drawn: the training program is keyed on
    config.for_training(cfg), so three schemes (and bias inits) compile it once."""
    from initjax import config, grid

    cfg = train.Config(model="softmax", dataset="mnist1d", epochs=1, batch_size=500, lr=0.05)
    a = config.for_training(cfg.replace(scheme="he_normal", sigma=2.0, bias_scheme="normal"))
    assert (
        a
        == config.for_training(cfg.replace(scheme="orthogonal"))
        != config.for_training(cfg.replace(lr=0.1))
    )
    assert a.lr == cfg.lr and a.model == cfg.model and a.scheme == train.Config().scheme
    before = grid.advance_grid._cache_size()
    sweep.run(
        cfg.replace(batch_size=400), mnist1d_data, seeds=2, sigmas=[0.5, 1.0],
        over={"scheme": ["he_normal", "lecun_normal", "orthogonal"]}, progress=False,
    )  # fmt: skip
    assert grid.advance_grid._cache_size() - before == 1


def test_on_devices_sets_the_default_devices_of_sweeps_started_inside(
    mnist1d_data, monkeypatch, tmp_path
):
    cfg = train.Config(model="softmax", dataset="mnist1d", epochs=1, batch_size=500)
    assert len(jax.devices()) == 2  # conftest: 2 virtual CPU devices
    meshes = []
    grid_mesh = shard.grid_mesh
    monkeypatch.setattr(
        shard, "grid_mesh", lambda d=None: meshes.append(grid_mesh(d)) or meshes[-1]
    )
    kw = {"seeds": 2, "sigmas": [0.5, 1.0], "progress": False}
    both = sweep.run(cfg, mnist1d_data, **kw)
    first = len(meshes)
    with shard.on_devices(jax.devices()[:1]):
        one = sweep.run(cfg, mnist1d_data, **kw)
        # checkpointed sweeps too, with and without outer axes
        saved = sweep.run(cfg, mnist1d_data, out=tmp_path / "one", **kw)
        outer = {"scheme": ["he_normal", "lecun_normal"]}
        sweep.run(cfg, mnist1d_data, out=tmp_path / "outer", over=outer, **kw)
        inside = len(meshes)
        sweep.run(cfg, mnist1d_data, devices=jax.devices(), **kw)  # an explicit list wins
    sweep.run(cfg, mnist1d_data, **kw)
    sizes = [m.devices.size for m in meshes]
    assert set(sizes[:first]) == {2} and set(sizes[first:inside]) == {1}, sizes
    assert sizes[inside:] == [2, 2]
    np.testing.assert_allclose(one.test_acc, both.test_acc, rtol=1e-6)
    np.testing.assert_allclose(saved.test_acc, both.test_acc, rtol=1e-6)
    devices = [r.attrs["num_devices"] for r in (both, one, saved)]
    assert devices == [2, 1, 1]  # the devices each grid was sharded over


@pytest.mark.parametrize(
    ("model", "scheme", "dim"), [("mlp", "truncated_normal", 8), ("cnn", "orthogonal", 64)]
)
def test_init_grid_draws_op_by_op_what_the_compiled_init_run_draws(model, scheme, dim):
    # init_grid draws the state op by op (no whole-init program to compile) and compiles only
    # the epoch-0 metrics; a vmapped jitted init_run is the reference.
    from initjax import grid
    from initjax.step import DataArrays

    data = tiny_dataset(dim=dim)
    cfg = train.Config(model=model, hidden=(4, 4), scheme=scheme, dataset="synthetic",
                       num_classes=3, batch_size=32)  # fmt: skip
    arrays = DataArrays.from_dataset(data)
    cells = (np.arange(3, dtype=np.int32), np.array([0.5, 1.0, 2.0], np.float32),
             np.full(3, 0.1, np.float32))  # fmt: skip
    state, first = grid.init_grid(cfg, arrays, *map(jax.numpy.asarray, cells))
    ref_state, ref_first = jax.jit(
        jax.vmap(lambda s, g, lr: train.init_run(cfg, arrays, s, g, lr))
    )(*cells)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(ref_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert first.keys() == ref_first.keys()
    for k in first:
        np.testing.assert_allclose(first[k], ref_first[k], rtol=1e-5)
    assert float(np.std(np.asarray(state.params["output"]["kernel"][2]))) > 0


def test_lrs_trained_in_two_sweeps_join_to_the_one_sweep_over_all():
    """A finished sweep widened by the lrs it turned out to need (sigma_map's full grid):
    joined on lr, it equals one sweep over every lr, outer axis and diagnostics included."""
    data = tiny_dataset()
    cfg = train.Config(dataset="synthetic", num_classes=3, batch_size=32, epochs=2)
    kw = {"seeds": 2, "sigmas": [0.1, 1.0], "over": {"scheme": ["normal", "he_normal"]},
          "progress": False}  # fmt: skip
    whole = sweep.run(cfg, data, lrs=[0.03, 0.1, 0.3], **kw)
    first = sweep.run(cfg, data, lrs=[0.1], **kw)
    added = sweep.run(cfg, data, lrs=[0.3, 0.03], **kw)
    joined = sweep.concat_lrs([first, added])
    assert dict(joined.sizes) == dict(whole.sizes)
    np.testing.assert_array_equal(joined.lr.values, [0.03, 0.1, 0.3])
    for name in whole.data_vars:
        a, b = whole[name], joined[name].transpose(*whole[name].dims)
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b.values, a.values, rtol=1e-5, atol=1e-7, err_msg=name)
        else:
            np.testing.assert_array_equal(b.values, a.values, err_msg=name)
    assert joined.attrs["lr_pieces"] == "[[0.1], [0.3, 0.03]]"
    assert "fingerprint" not in joined.attrs
    with pytest.raises(ValueError, match="overlap"):
        sweep.concat_lrs([first, whole])
    other = added.assign_coords(seed=[0, 5])
    with pytest.raises(ValueError, match="coordinate 'seed'"):
        sweep.concat_lrs([first, other])
    init = added.assign(init_std=added.init_std * 2)
    with pytest.raises(ValueError, match="'init_std' \\(no lr dim\\)"):
        sweep.concat_lrs([first, init])
