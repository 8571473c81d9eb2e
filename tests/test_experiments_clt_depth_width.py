"""clt_depth_width at quick scale: C7 over weight draws for one fixed input (issue 15)."""

import math

import numpy as np
import pytest
import scipy.special

from initjax import study

exp = study.load("clt_depth_width")


def test_pooled_kurtosis_by_hand():
    # A two-point scale mixture s² ∈ {1, 3}: E z⁴ = 3·(1 + 9)/2 = 15, E z² = 2 → 15/4 − 3.
    n = 10
    k, lo, hi = exp.kurtosis(np.array([n * 1.0, n * 3.0] * 50), np.array([3 * n, 27 * n] * 50), n)
    assert k == pytest.approx(0.75) and lo <= k <= hi


def test_predictions_and_their_limits():
    assert exp.predicted("relu", 64, 1) == 0 and math.isnan(exp.predicted("tanh", 64, 10))
    assert exp.predicted("relu", 100, 11) == pytest.approx(3 * (1.05**10 - 1))
    # Var(log R): ψ'(n/2) for a linear layer, → 5/n for ReLU at large width.
    assert exp.log_var("linear", 64) == pytest.approx(scipy.special.polygamma(1, 32))
    assert 2048 * exp.log_var("relu", 2048) == pytest.approx(5.0, rel=0.01)
    assert 2048 * exp.log_var("linear", 2048) == pytest.approx(2.0, rel=0.01)


def test_quick_rows_pass_and_figures_exist(quick):
    assert quick.failed == []
    kinds = [r.kind for r in quick.rows]
    assert kinds.count("sanity") == 2 and kinds.count("evidence") == 4
    quick.assert_figures()


def test_depth_one_is_gaussian_and_depth_grows_the_tails(quick):
    res = quick.results
    one = res.sel(depth=1)
    assert np.all(one.ci_low <= 0) and np.all(one.ci_high >= 0)
    relu = res.kurtosis.sel(act="relu")
    # At every width the excess kurtosis grows with depth, and at fixed depth falls with width.
    assert np.all(np.diff(relu.values[:, 1:], axis=1) > 0)
    assert np.all(np.diff(relu.sel(depth=20).values) < 0)


def test_measure_and_a_wrong_formula_fails(quick):
    m = exp.measure(quick.results)
    assert exp.verdict(m) == quick.rows
    for c in m["cells"]["relu"]:
        c["predicted"] *= 2  # a factor 10 in place of 5 would not be covered
    assert quick.row("C7 (relu)", exp.verdict(m)).passed is False
    for c in m["cells"]["relu"]:
        c["logvar_predicted"] *= 1.5
    assert quick.row("Var(log s_L²)", exp.verdict(m)).passed is False
