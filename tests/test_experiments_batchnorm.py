"""batchnorm at quick scale: σ-sensitivity with and without BatchNorm (claim C9)."""

import numpy as np
import pytest

from initjax import results, study

batchnorm = study.load("batchnorm")


@pytest.fixture(scope="module")
def bn(quick_runs):
    rows = quick_runs("batchnorm")
    return rows, results.load(quick_runs.root / "batchnorm" / "results.nc")


def row(rows, start):
    (found,) = [r for r in rows if r.claim.startswith(start)]
    return found


def test_window_is_contiguous_around_best():
    sig = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    assert batchnorm.window(np.array([0.6, 0.3, 0.62, 0.6, 0.1]), sig) == (0.1, 1.0)
    assert batchnorm.window(np.array([0.1, 0.5, 0.2, 0.1, 0.1]), sig) == (0.01, 0.01)


def test_grid_spans_four_decades_both_ways(bn):
    _, res = bn
    assert res.norm.values.tolist() == ["none", "batchnorm"]
    assert res.sigma.values.min() == pytest.approx(1e-3) and res.sigma.values.max() == 10
    # Runs diverge (loss non-finite or > 1000·ln 10) only at the largest scales of the grid.
    assert not res.diverged.sel(sigma=res.sigma <= 1.0).any()


def test_bn_rescues_small_sigma_but_not_large(bn):
    rows, res = bn
    last = res.test_acc.isel(epoch=-1).mean("seed")
    # No BN: σ = 1e-3 stalls at chance; BN: as good as σ = 0.1 (within 5 points).
    assert float(last.sel(norm="none", sigma=1e-3)) < 0.15
    small, mid = (float(last.sel(norm="batchnorm", sigma=s)) for s in (1e-3, 0.1))
    assert abs(small - mid) < 0.05
    assert row(rows, "BN: σ = 0.001").passed is True
    assert row(rows, "C9: BN widens").passed is True
    # The output layer is not normalized: logits at init scale as σ·√(n_L/2).
    big = res.sigma >= batchnorm.EPS_FREE
    ratio = (res.bn_logit_rms_init / res.bn_logit_rms_predicted).where(big, drop=True)
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)
    assert row(rows, "BN: σ = 10").passed is True


def test_spread_row_is_decided_and_matches_the_data(bn):
    rows, res = bn
    acc = batchnorm.final_acc(res)
    spread = acc.max("sigma") - acc.min("sigma")
    r = row(rows, "C9: BN lessens")
    # Decided at quick scale either way; which way depends on training length (see module).
    assert r.passed == bool(spread.sel(norm="batchnorm") < spread.sel(norm="none"))


def test_figures_exist(bn, quick_runs):
    out = quick_runs.root / "batchnorm"
    assert (out / "batchnorm.png").stat().st_size > 10_000
    assert (out / "batchnorm.svg").exists()


def test_measure_on_quick_results(bn):
    rows, res = bn
    m = batchnorm.measure(res)
    assert m["seeds"] == res.sizes["seed"] and m["s_lo"] < m["s_mid"] < m["s_hi"]
    assert m["decades"]["batchnorm"] > m["decades"]["none"]
    assert np.all(np.abs(m["ratio"] - 1) < 0.1)
    assert batchnorm.verdict(m) == rows
    m["decades"] = {"batchnorm": 0.0, "none": 1.0}  # BN narrowing the window fails the row
    assert row(batchnorm.verdict(m), "C9: BN widens").passed is False
