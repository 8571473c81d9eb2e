"""residual_depth at quick scale: residual inits vs depth without normalization (C3, C9)."""

import json
import math

import jax
import numpy as np
import pytest
import xarray as xr

from initjax import shard, study

exp = study.load("residual_depth")


def test_growth_and_variance_slope_helpers():
    m2 = np.stack([2.0 ** np.arange(10), 3 * 2.0 ** np.arange(10)])  # Var doubles per block
    assert exp.growth_per_block(m2) == pytest.approx(math.sqrt(2))
    assert exp.variance_slope(np.stack([1.5 + np.arange(8.0)] * 2)) == pytest.approx(1.0)


def test_best_lr_skips_diverged_lrs():
    loss = np.array([[[0.5], [1.0]], [[np.nan], [1.2]]])  # (seed, lr, epoch): lr 0.1 diverged once
    res = xr.Dataset(
        {
            "train_loss": (("seed", "lr", "epoch"), loss),
            "test_acc": (("seed", "lr", "epoch"), np.ones_like(loss)),
            "diverged": (("seed", "lr"), np.array([[False, False], [True, False]])),
        },
        coords={"lr": [0.1, 0.01], "epoch": [1]},
    )
    np.testing.assert_allclose(exp.best_lr_final(res).values, [1.0, 1.2])


def test_bn_net_is_a_model_factory_with_the_stream_sown(mnist1d_data):
    base, _ = exp.CONFIGS["quick"]
    m2 = exp.stream_stats(exp.config(base, 16, 5, "batchnorm"), mnist1d_data, seeds=1)
    assert m2.shape == (1, 6) and np.all(np.diff(m2[0]) > 0)


def test_quick_rows_decided_and_figures(quick):
    assert len(quick.rows) == 8
    assert all(r.passed is not None for r in quick.rows if "match BatchNorm" not in r.claim)
    assert quick.row("standard blocks grow the stream").passed is True
    assert quick.row("BatchNorm the stream's variance grows linearly").passed is True
    assert quick.row("Fixup trains at every depth").passed is True
    assert quick.row("zero-init branches").passed is True
    assert quick.row("BatchNorm residual net trains").passed is True
    assert quick.row("Sanity: zero-α and Fixup").passed is True
    # Standard init at 12 blocks: stuck at chance or diverged at every lr (a decided row: it
    # could have trained, as the other three nets do).
    assert quick.row("standard init without normalization").passed is True
    # Non-inferiority to BN with 3 seeds: shown or left open, never contradicted here.
    assert quick.row("match BatchNorm").passed is not False
    quick.assert_figures()


def test_measure_against_hand_computation(quick):
    res, m = quick.results, exp.measure(quick.results)
    assert m["depths"] == [2, 12] and m["diag_depth"] == 20 and res.sizes["seed"] == 3
    assert m["diag_width"] == [256, 32]
    # RMS growth per block of the standard stream, by hand from the saved second moments.
    wide = res.stream_m2.sel(diag_width=256, net="standard").values
    log_rms = 0.5 * np.log(wide).mean(axis=0)
    slope = np.polyfit(np.arange(log_rms.size), log_rms, 1)[0]
    assert m["growth"]["standard"] == pytest.approx(math.exp(slope), rel=1e-9)
    # Fixup at the deepest depth: the lr with the lowest seed-mean final loss, none diverged.
    last = res.train_loss.sel(net="fixup", depth=12).isel(epoch=-1)
    assert not res.diverged.sel(net="fixup", depth=12).any()
    best = int(last.mean("seed").argmin("lr"))
    np.testing.assert_allclose(m["final_loss"]["fixup"][12], last.isel(lr=best).values)
    assert exp.verdict(m) == quick.rows


def test_matching_batchnorm_is_a_paired_non_inferiority_bound(quick):
    m = exp.measure(quick.results)
    deep = max(m["depths"])
    bn = np.array([0.48, 0.49, 0.47])
    cases = (
        (bn - 0.01, bn - 0.005, True),  # both within a point of BN, every seed alike
        (bn - 0.10, bn - 0.005, False),  # Fixup ten points under BN on every seed
        (bn + np.array([0.05, -0.05, 0.0]), bn, None),  # the seeds scatter past the margin
        # mean −0.5 point, SE 0.7 point: the one-sided 95% bound (t = 2.92) is −2.5 points,
        # above −3; a two-sided 95% bound (t = 4.30, −3.5) would have left the row open
        (bn + np.array([-0.01712, 0.00712, -0.005]), bn, True),
    )
    for fixup, zero, outcome in cases:
        m["test_acc"]["batchnorm"][deep], m["test_acc"]["fixup"][deep] = bn, fixup
        m["test_acc"]["zero"][deep] = zero
        assert quick.row("match BatchNorm", exp.verdict(m)).passed is outcome, outcome
    # A net whose every lr diverged on every seed counts as chance: far under BN, a fail.
    m["test_acc"]["fixup"][deep] = [float("nan")] * 3
    m["test_acc"]["zero"][deep] = bn
    assert quick.row("match BatchNorm", exp.verdict(m)).passed is False


@pytest.mark.e2e
def test_the_full_configs_subset_and_evaluation_schedule_run_end_to_end(
    tmp_path, monkeypatch, fashion_mnist
):
    """The full config trains on the first ``examples`` images and evaluates every 2 epochs
    on a subset, the last epoch in full; shrunk (1 block of width 8, 64 images, batch 16, 4 epochs) it
    runs, measures and draws: even epochs finite, odd ones NaN, the data cut to 64."""
    base, grid = exp.CONFIGS["full"]
    assert (base.eval_every, grid["examples"]) == (2, 10_000)
    tiny = {**grid, "examples": 64, "depths": (1,), "width": 8, "seeds": 2, "lrs": (0.03,),
            "diag_depth": 2, "diag_width": 16}  # fmt: skip
    monkeypatch.setitem(
        exp.CONFIGS, "full", (base.replace(epochs=4, eval_examples=16, batch_size=16), tiny)
    )
    with shard.on_devices(jax.devices()[:1]):  # one device, as `initjax run` trains
        exp.run(tmp_path, "full", progress=False)
    res = exp.load(tmp_path)
    assert res.attrs["train_examples"] == 64
    loss = res.train_loss.sel(lr=0.03)
    assert np.isfinite(loss.sel(epoch=[0, 2, 4])).all() and np.isnan(loss.sel(epoch=[1, 3])).all()
    assert json.loads(res.attrs["config_standard"])["dataset"] == "fashion_mnist"
    assert len(exp.verdict(exp.measure(res))) >= 4
    assert all(p.exists() for p in exp.figures(tmp_path))
