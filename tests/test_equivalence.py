"""TOST equivalence tests: hand-computed values, scipy.stats, and the three decisions."""

import math

import numpy as np
import pytest
import scipy.stats

from initjax.equivalence import paired_difference, tost_paired, tost_welch


def t2_cdf(t):
    """The t distribution's CDF with 2 degrees of freedom, in closed form."""
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


def test_paired_by_hand_with_two_degrees_of_freedom():
    a = np.array([0.80, 0.81, 0.79])
    d = np.array([0.001, 0.003, 0.005])  # mean 0.003, sd 0.002
    r = tost_paired(a, a + d, margin=0.01)
    se = 0.002 / math.sqrt(3)
    assert r.n == (3,) and r.df == 2
    assert r.diff == pytest.approx(0.003) and r.se == pytest.approx(se)
    assert r.p_lower == pytest.approx(1 - t2_cdf(0.013 / se))  # H0: μ ≤ −0.01
    assert r.p_upper == pytest.approx(t2_cdf(-0.007 / se))  # H0: μ ≥ +0.01
    assert r.p_difference == pytest.approx(2 * (1 - t2_cdf(0.003 / se)))
    half = 0.9 / math.sqrt(2 * 0.95 * 0.05) * se  # t_{0.95, 2} = (2p − 1)/√(2p(1 − p))
    np.testing.assert_allclose(r.ci, (0.003 - half, 0.003 + half), rtol=1e-9)
    assert r.level == pytest.approx(0.9)
    assert r.decision == "equivalent" and r.passed is True  # 90% CI inside ±0.01


def test_welch_by_hand():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]  # means 2 and 5, variances 1 and 20/3
    r = tost_welch(a, b, margin=0.5)
    assert r.n == (3, 4) and r.diff == pytest.approx(3.0)
    assert r.se == pytest.approx(math.sqrt(1 / 3 + 20 / 12))  # √2
    assert r.df == pytest.approx(4 / ((1 / 3) ** 2 / 2 + (5 / 3) ** 2 / 3))  # 4.0755
    assert r.decision == "inconclusive"  # t = 3/√2 = 2.1 on 4.1 df: p(Δ = 0) ≈ 0.1
    r = tost_welch(a, [12.0, 14.0, 16.0, 18.0], margin=0.5)  # Δ = 13, t = 9.2
    assert r.diff == pytest.approx(13.0) and r.decision == "different" and r.passed is False


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shift", [0.0, 0.004, 0.02])
def test_paired_agrees_with_scipy(seed, shift):
    rng = np.random.default_rng(seed)
    a = 0.8 + 0.01 * rng.standard_normal(6)
    b = a + shift + 0.003 * rng.standard_normal(6)
    m = 0.01
    r = tost_paired(a, b, margin=m)
    d = b - a
    assert r.p_lower == pytest.approx(
        scipy.stats.ttest_1samp(d, -m, alternative="greater").pvalue, rel=1e-9
    )
    assert r.p_upper == pytest.approx(scipy.stats.ttest_1samp(d, m, alternative="less").pvalue)
    rel = scipy.stats.ttest_rel(b, a)
    assert r.p_difference == pytest.approx(rel.pvalue, rel=1e-9)
    np.testing.assert_allclose(r.ci, tuple(rel.confidence_interval(0.9)), rtol=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shift", [0.0, 0.004, 0.02])
def test_welch_agrees_with_scipy(seed, shift):
    rng = np.random.default_rng(seed)
    a = 0.8 + 0.004 * rng.standard_normal(7)
    b = 0.8 + shift + 0.008 * rng.standard_normal(5)
    m = 0.01
    r = tost_welch(a, b, margin=m)

    def p(x, alternative):
        return scipy.stats.ttest_ind(x, a, equal_var=False, alternative=alternative).pvalue

    assert r.p_lower == pytest.approx(p(b + m, "greater"), rel=1e-9)  # H0: μ ≤ −m
    assert r.p_upper == pytest.approx(p(b - m, "less"), rel=1e-9)  # H0: μ ≥ +m
    ind = scipy.stats.ttest_ind(b, a, equal_var=False)
    assert r.p_difference == pytest.approx(ind.pvalue, rel=1e-9)
    assert r.df == pytest.approx(ind.df, rel=1e-9)
    np.testing.assert_allclose(r.ci, tuple(ind.confidence_interval(0.9)), rtol=1e-9)


def test_the_three_decisions():
    a = np.array([0.80, 0.82, 0.79, 0.81, 0.80, 0.83, 0.78, 0.80])
    tiny = np.array([0.001, -0.002, 0.0, 0.002, -0.001, 0.001, 0.0, -0.001])
    # equivalent: 90% CI of Δ well inside ±1 point
    assert tost_paired(a, a + tiny, 0.01).decision == "equivalent"
    # different: Δ ≈ 3 points, every pair agrees
    assert tost_paired(a, a + 0.03 + tiny, 0.01).decision == "different"
    # inconclusive: the same mean difference with noise the samples cannot resolve
    noisy = np.array([0.02, -0.03, 0.01, 0.03, -0.02, 0.0, 0.025, -0.03])
    r = tost_paired(a, a + noisy, 0.01)
    assert r.decision == "inconclusive" and r.passed is None
    assert r.ci[0] < -0.01 < 0 < r.ci[1]  # the interval reaches past the margin, and over 0
    # equivalent although the difference is significant: it is smaller than the margin
    r = tost_paired(a, a + 0.002 + tiny / 10, 0.01)
    assert r.equivalent and r.p_difference < 0.05 and r.decision == "equivalent"


def test_identical_differences_and_non_finite_pairs():
    a = np.array([0.5, 0.6, 0.7, np.nan])
    r = tost_paired(a, a + 0.002, 0.01)  # every pair differs by exactly 0.002; NaN pair left out
    assert r.n == (3,) and r.se == 0 and r.decision == "equivalent"
    assert tost_paired(a, a + 0.02, 0.01).decision == "different"
    assert tost_paired(a, a, 0.01).p_difference == 1.0


def test_text_says_interval_margin_and_decision():
    a = np.array([0.80, 0.81, 0.79])
    text = tost_paired(a, a + np.array([0.001, 0.003, 0.005]), 0.01).text()
    assert text.startswith("Δ = +0.0030, 90% CI [-0.0004, +0.0064] vs ±0.01: equivalent")
    assert "paired, n = 3" in text
    assert "n = 3 and 4" in tost_welch([1.0, 2, 3], [2.0, 4, 6, 8], 0.5).text()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tost_paired([1.0, 2.0], [1.0, 2.0], 0.0), "margin must be a positive"),
        (lambda: tost_paired([1.0, 2.0], [1.0, 2.0], 0.1, alpha=0.5), "alpha must be in"),
        (lambda: tost_paired([1.0, 2.0], [1.0], 0.1), "equal lengths"),
        (lambda: tost_paired([1.0, np.nan], [1.0, 2.0], 0.1), "at least 2 finite pairs"),
        (lambda: tost_welch([1.0], [1.0, 2.0], 0.1), "at least 2 finite values each"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("shift", [-0.5, 0.0, 0.5])
def test_paired_difference_is_the_two_sided_t_interval(shift):
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 12)
    b = a + shift + rng.normal(0, 0.3, 12)
    outcome, text = paired_difference(a, b, level=0.95)
    d = b - a
    lo, hi = scipy.stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=scipy.stats.sem(d))
    assert f"95% CI [{lo:+.4f}, {hi:+.4f}] (paired, n = 12)" in text
    assert outcome is (True if lo > 0 else False if hi < 0 else None)
    assert outcome == {-0.5: False, 0.0: None, 0.5: True}[shift]
    with pytest.raises(ValueError, match="level must be in"):
        paired_difference(a, b, level=95)


def test_difference_interval_matches_the_t_interval_by_hand():
    import scipy.stats

    from initjax.equivalence import difference_interval

    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.9, 3.4, 4.8])
    d = b - a
    half = scipy.stats.t(3).ppf(0.975) * d.std(ddof=1) / 2
    np.testing.assert_allclose(
        difference_interval(a, b), (d.mean(), d.mean() - half, d.mean() + half)
    )
    diff, lo, hi = difference_interval(a, b + 10, 0.9, design="welch")
    assert diff == pytest.approx(b.mean() + 10 - a.mean()) and lo < diff < hi
    with pytest.raises(ValueError, match="design"):
        difference_interval(a, b, design="pooled")


def test_band_test_by_hand_with_two_degrees_of_freedom():
    from initjax.equivalence import band_test

    x = [0.44, 0.45, 0.46]  # mean 0.45, sd 0.01, se 0.01/√3; t(0.975, 2) = 4.3027
    half = 4.302652729911275 * 0.01 / math.sqrt(3)
    outcome, text = band_test(x, 0.40, 0.50)
    assert outcome is True and f"[{0.45 - half:.4f}, {0.45 + half:.4f}]" in text
    assert "(n = 3)" in text and "vs [0.4, 0.5]" in text
    assert band_test(x, 0.43, 0.47)[0] is None  # the interval ±0.025 straddles both edges
    assert band_test(x, 0.50, 0.60)[0] is False  # wholly below the band
    assert band_test(x, upper=0.40)[0] is False and "≤ 0.4" in band_test(x, upper=0.40)[1]
    assert band_test(x, lower=0.30)[0] is True
    # Diverged runs are left out and said; one finite value gives no interval.
    outcome, text = band_test([0.45, math.nan, 0.45, 0.45], 0.4, 0.5)
    assert outcome is True and "1 non-finite left out" in text
    assert band_test([0.45, math.nan], 0.4, 0.5)[0] is None
    with pytest.raises(ValueError, match="lower < upper"):
        band_test(x, 0.5, 0.4)


def test_proportion_interval_is_clopper_pearson():
    from initjax.equivalence import proportion_interval

    # 0 of n: upper = 1 − (α/2)^(1/n); n of n: lower = (α/2)^(1/n) (closed forms).
    assert proportion_interval(0, 5) == pytest.approx((0.0, 1 - 0.025 ** (1 / 5)))
    assert proportion_interval(5, 5) == pytest.approx((0.025 ** (1 / 5), 1.0))
    lo, hi = proportion_interval(4, 5)  # the beta quantiles
    assert lo == pytest.approx(scipy.stats.beta(4, 2).ppf(0.025))
    assert hi == pytest.approx(scipy.stats.beta(5, 1).ppf(0.975))
    with pytest.raises(ValueError, match="0 <= k <= n"):
        proportion_interval(6, 5)


def test_argmax_range_resamples_seeds_and_returns_grid_values():
    from initjax.equivalence import argmax_range

    grid = [0.5, 1.0, 2.0]
    agree = [[0.1, 0.9, 0.2], [0.2, 0.8, 0.1], [0.0, 0.7, 0.3]]  # every seed peaks at 1.0
    assert argmax_range(agree, grid) == (1.0, 1.0)
    split = [[0.9, 0.1, 0.0], [0.0, 0.1, 0.9], [0.9, 0.1, 0.0], [0.0, 0.1, 0.9]]
    lo, hi = argmax_range(split, grid)
    assert (lo, hi) == (0.5, 2.0)  # resampled means peak at either end, never in between
    assert argmax_range(split, grid) == (lo, hi)  # a fixed generator: the same every call
    with pytest.raises(ValueError, match=r"values must be \(seed, 3\)"):
        argmax_range([[0.1, 0.2]], grid)
    with pytest.raises(ValueError, match="must be finite"):  # NaN would read as the best
        argmax_range([[0.1, math.nan, 0.2], [0.2, 0.3, 0.1]], grid)
