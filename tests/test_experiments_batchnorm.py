"""batchnorm at quick scale: σ-sensitivity with and without BatchNorm (claim C9)."""

import numpy as np
import pytest

from initjax import study

exp = study.load("batchnorm")


def test_window_is_contiguous_around_best():
    sig = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    assert exp.window(np.array([0.6, 0.3, 0.62, 0.6, 0.1]), sig) == (0.1, 1.0)
    assert exp.window(np.array([0.1, 0.5, 0.2, 0.1, 0.1]), sig) == (0.01, 0.01)


def test_grid_spans_four_decades_both_ways(quick):
    res = quick.results
    assert res.norm.values.tolist() == ["none", "batchnorm"]
    assert res.sigma.values.min() == pytest.approx(1e-3) and res.sigma.values.max() == 10
    # Runs diverge (loss non-finite or > 1000·ln 10) only at the largest scales of the grid.
    assert not res.diverged.sel(sigma=res.sigma <= 1.0).any()


def test_bn_rescues_small_sigma_but_not_large(quick):
    res = quick.results
    last = res.test_acc.isel(epoch=-1).mean("seed")
    # No BN: σ = 1e-3 stalls at chance; BN: as good as σ = 0.1 (within 5 points).
    assert float(last.sel(norm="none", sigma=1e-3)) < 0.15
    small, mid = (float(last.sel(norm="batchnorm", sigma=s)) for s in (1e-3, 0.1))
    assert abs(small - mid) < 0.05
    assert quick.row("BN: σ = 0.001").passed is True
    assert quick.row("C9: BN widens").passed is True
    # The output layer is not normalized: logits at init scale as σ·√(n_L/2).
    big = res.sigma >= exp.EPS_FREE
    ratio = (res.bn_logit_rms_init / res.bn_logit_rms_predicted).where(big, drop=True)
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)
    assert quick.row("BN: σ = 10").passed is True


def test_spread_row_is_decided_and_matches_the_data(quick):
    acc = exp.final_acc(quick.results)
    spread = acc.max("sigma") - acc.min("sigma")
    # Decided at quick scale either way; which way depends on training length (see module).
    passed = quick.row("C9: BN lessens").passed
    assert passed == bool(spread.sel(norm="batchnorm") < spread.sel(norm="none"))


def test_figures_exist(quick):
    quick.assert_figures()


def test_measure_on_quick_results(quick):
    res = quick.results
    m = exp.measure(res)
    assert m["seeds"] == res.sizes["seed"] and m["s_lo"] < m["s_mid"] < m["s_hi"]
    assert m["decades"]["batchnorm"] > m["decades"]["none"]
    assert np.all(np.abs(m["ratio"] - 1) < 0.1)
    assert exp.verdict(m) == quick.rows
    m["decades"] = {"batchnorm": 0.0, "none": 1.0}  # BN narrowing the window fails the row
    assert quick.row("C9: BN widens", exp.verdict(m)).passed is False
