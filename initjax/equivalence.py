"""Equivalence tests: is a difference shown to be smaller than a stated margin? (TOST)

"No effect" is not the absence of a significant difference: with few seeds a real effect
goes unseen. The two one-sided tests (TOST; Schuirmann 1987, Lakens 2017) turn it around:
with a margin Δ stated in advance, they test H₀: μ ≤ −Δ and H₀: μ ≥ +Δ for the mean
difference μ, each at level α. Rejecting both shows |μ| < Δ: the two designs are
*equivalent* within Δ. Equivalently, the (1 − 2α) confidence interval of μ (90% for
α = 0.05) lies inside (−Δ, +Δ)::

    r = ij.equivalence.tost_paired(acc_zero_bias, acc_random_bias, margin=0.01)
    r.ci, r.p_lower, r.p_upper, r.decision   # (-0.004, 0.005), 0.001, 0.003, "equivalent"

Each result also carries the ordinary two-sided t-test of μ = 0 (``p_difference``), so a
comparison ends in one of three decisions: *equivalent* (TOST rejects; a difference may also
be significant, but it is smaller than the margin), *different* (not shown equivalent, and μ
differs from 0 at level α), or *inconclusive* (neither: too few or too noisy samples to say).
A verdict row reads ``passed``: True when equivalent, False only when the interval lies wholly
beyond the margin (``beyond``: the effect is shown to be at least Δ), None otherwise.

``band_test`` asks the same of one sample against a band of published values (is the mean
shown to lie inside it, or outside?); ``proportion_interval`` is the exact (Clopper–Pearson)
interval of a success fraction, for claims about how many seeds do something; ``argmax_range``
says how stable "the best setting" is when the seeds are resampled.

``tost_paired`` is for paired samples (the same seed, init and data order for both arms:
the differences are tested); ``tost_welch`` for independent ones (Welch's t, unequal
variances). Both are plain numpy/scipy on host arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

__all__ = [
    "DECISIONS",
    "Equivalence",
    "argmax_range",
    "band_test",
    "difference_interval",
    "paired_difference",
    "proportion_interval",
    "tost_paired",
    "tost_welch",
]

DECISIONS = ("equivalent", "different", "inconclusive")


@dataclass(frozen=True)
class Equivalence:
    """The outcome of a TOST for the mean difference μ = mean(b) − mean(a)."""

    design: str
    """``"paired"`` or ``"welch"`` (independent samples, unequal variances)."""
    margin: float
    """Δ: |μ| < Δ counts as no meaningful difference (stated before looking at the data)."""
    alpha: float
    """Level of each one-sided test (and of the two-sided test of μ = 0)."""
    n: tuple[int, ...]
    """Sample sizes: ``(pairs,)`` or ``(n_a, n_b)``."""
    diff: float
    """The estimate of μ: mean of b − a (paired) or mean(b) − mean(a)."""
    se: float
    """Its standard error."""
    df: float
    """Degrees of freedom of the t distribution (n − 1; Welch–Satterthwaite)."""
    ci: tuple[float, float]
    """The (1 − 2α) confidence interval of μ: 90% for α = 0.05."""
    p_lower: float
    """p-value of H₀: μ ≤ −Δ (rejected: μ > −Δ)."""
    p_upper: float
    """p-value of H₀: μ ≥ +Δ (rejected: μ < +Δ)."""
    p_difference: float
    """Two-sided p-value of the ordinary t-test of μ = 0."""

    @property
    def p(self) -> float:
        """The TOST p-value: the larger of the two one-sided ones."""
        return max(self.p_lower, self.p_upper)

    @property
    def equivalent(self) -> bool:
        """Both one-sided tests reject at α: |μ| < Δ is shown."""
        return self.p < self.alpha

    @property
    def different(self) -> bool:
        """Not shown equivalent, and μ ≠ 0 at level α (two-sided)."""
        return not self.equivalent and self.p_difference < self.alpha

    @property
    def decision(self) -> str:
        """``"equivalent"``, ``"different"`` or ``"inconclusive"``."""
        return (
            "equivalent" if self.equivalent else "different" if self.different else "inconclusive"
        )

    @property
    def beyond(self) -> bool:
        """The whole (1 − 2α) interval lies outside (−Δ, +Δ): |μ| ≥ Δ is shown."""
        return self.ci[0] >= self.margin or self.ci[1] <= -self.margin

    @property
    def passed(self) -> bool | None:
        """For a "no effect within Δ" verdict row: True when equivalent (|μ| < Δ shown), False
        when :attr:`beyond` (|μ| ≥ Δ shown), None otherwise: a difference from 0 that may
        still be smaller than Δ decides nothing."""
        return True if self.equivalent else False if self.beyond else None

    @property
    def level(self) -> float:
        """Confidence level of :attr:`ci`: 1 − 2α."""
        return 1 - 2 * self.alpha

    def text(self, digits: int = 4) -> str:
        """``"Δ = +0.0012, 90% CI [-0.0031, +0.0055] vs ±0.01: equivalent (TOST p = 0.0021;
        p(Δ = 0) = 0.61; paired, n = 8)"``."""
        lo, hi = self.ci
        n = f"n = {self.n[0]}" if len(self.n) == 1 else f"n = {self.n[0]} and {self.n[1]}"
        return (
            f"Δ = {self.diff:+.{digits}f}, {100 * self.level:.0f}% CI [{lo:+.{digits}f}, "
            f"{hi:+.{digits}f}] vs ±{self.margin:g}: {self.decision} (TOST p = {self.p:.2g}; "
            f"p(Δ = 0) = {self.p_difference:.2g}; {self.design}, {n})"
        )


def _check(margin: float, alpha: float) -> None:
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number, got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")


def _finite(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty sample")
    return a


def _result(
    design: str, margin: float, alpha: float, n: tuple[int, ...], diff: float, se: float, df: float
) -> Equivalence:
    t = scipy.stats.t(df)
    if se > 0:
        p_lower = float(t.sf((diff + margin) / se))
        p_upper = float(t.cdf((diff - margin) / se))
        p_difference = float(2 * t.sf(abs(diff) / se))
    else:  # every difference the same: the tests are decided by the sign alone
        p_lower = 0.0 if diff > -margin else 1.0
        p_upper = 0.0 if diff < margin else 1.0
        p_difference = 0.0 if diff != 0 else 1.0
    half = float(t.ppf(1 - alpha)) * se
    return Equivalence(
        design, margin, alpha, n, diff, se, df, (diff - half, diff + half),
        p_lower, p_upper, p_difference,
    )  # fmt: skip


def tost_paired(a: Any, b: Any, margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST for paired samples: is |mean(b − a)| < ``margin``?

    Args:
      a, b: paired values (same length; pair i shares everything but the treatment, e.g. a
        seed's init and data order). Pairs with a non-finite value (a diverged run) are left
        out; at least 2 must remain.
      margin: Δ > 0, in the values' units (0.01 = one accuracy point).
      alpha: level of each one-sided test; the interval is the (1 − 2α) one.

    Returns:
      :class:`Equivalence`: μ̂ = mean(d), se = sd(d)/√n (ddof 1), df = n − 1.
    """
    _check(margin, alpha)
    a, b = _finite(a, "a"), _finite(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    d = (b - a)[np.isfinite(a) & np.isfinite(b)]
    if d.size < 2:
        raise ValueError(f"a paired TOST needs at least 2 finite pairs, got {d.size}")
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    return _result("paired", margin, alpha, (d.size,), float(d.mean()), se, d.size - 1.0)


def tost_welch(a: Any, b: Any, margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST for independent samples (Welch): is |mean(b) − mean(a)| < ``margin``?

    Args:
      a, b: independent samples (non-finite values left out; at least 2 each remain).
      margin: Δ > 0, in the values' units.
      alpha: level of each one-sided test; the interval is the (1 − 2α) one.

    Returns:
      :class:`Equivalence`: se² = s_a²/n_a + s_b²/n_b (ddof 1), Welch–Satterthwaite df.
    """
    _check(margin, alpha)
    a, b = _finite(a, "a"), _finite(b, "b")
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        raise ValueError(
            f"a Welch TOST needs at least 2 finite values each, got {a.size}, {b.size}"
        )
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(math.sqrt(va + vb))
    if se > 0:
        df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
    else:
        df = float(a.size + b.size - 2)
    return _result("welch", margin, alpha, (a.size, b.size), float(b.mean() - a.mean()), se, df)


def difference_interval(
    a: Any, b: Any, level: float = 0.95, design: str = "paired"
) -> tuple[float, float, float]:
    """mean(b − a) (``"paired"``) or mean(b) − mean(a) (``"welch"``) and its two-sided
    ``level`` t-interval, as ``(diff, lower, upper)``: each bound is one-sided at
    (1 + ``level``)/2."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    tests = {"paired": tost_paired, "welch": tost_welch}
    if design not in tests:
        raise ValueError(f"design must be one of {sorted(tests)}, got {design!r}")
    t = tests[design](a, b, margin=1.0, alpha=(1 - level) / 2)  # only its interval is used
    return t.diff, t.ci[0], t.ci[1]


def paired_difference(a: Any, b: Any, level: float = 0.95) -> tuple[bool | None, str]:
    """Is mean(b − a) above 0, for paired samples? The row outcome of a "b beats a" claim.

    Returns:
      ``(outcome, text)``: True when the two-sided ``level`` t-interval of the mean paired
      difference lies above 0, False when it lies below, None when it contains 0; the text is
      ``"Δ = +0.0182, 95% CI [+0.0146, +0.0218] (paired, n = 3)"``.
    """
    diff, lo, hi = difference_interval(a, b, level)
    n = int(np.sum(np.isfinite(_finite(a, "a")) & np.isfinite(_finite(b, "b"))))
    text = f"Δ = {diff:+.4f}, {100 * level:.0f}% CI [{lo:+.4f}, {hi:+.4f}] (paired, n = {n})"
    return (True if lo > 0 else False if hi < 0 else None), text


def _bound(v: float) -> str:
    return f"{v:.4g}"


def band_test(
    x: Any, lower: float = -math.inf, upper: float = math.inf, level: float = 0.95
) -> tuple[bool | None, str]:
    """Is the mean of ``x`` inside ``[lower, upper]``? The row outcome of "we reproduce the
    published value": True when the two-sided ``level`` t-interval of the mean lies inside the
    band, False when it lies wholly outside, None when it straddles an edge or fewer than two
    finite values give no interval. Non-finite values (diverged runs) are left out and
    counted in the text. A one-sided band leaves the other bound infinite.

    Returns ``(outcome, text)``, the text as ``"mean 0.4470, 95% CI [0.4462, 0.4478] vs
    [0.43, 0.47] (n = 5)"``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if not lower < upper:
        raise ValueError(f"the band needs lower < upper, got [{lower!r}, {upper!r}]")
    a = _finite(x, "x")
    ok = a[np.isfinite(a)]
    band = (
        f"≥ {_bound(lower)}"
        if upper == math.inf
        else (f"≤ {_bound(upper)}" if lower == -math.inf else f"[{_bound(lower)}, {_bound(upper)}]")
    )
    lost = f"; {a.size - ok.size} non-finite left out" if ok.size < a.size else ""
    if ok.size < 2:
        return None, f"{ok.size} finite value{'s' * (ok.size != 1)}: no interval vs {band}{lost}"
    mean, se = float(ok.mean()), float(ok.std(ddof=1) / math.sqrt(ok.size))
    half = float(scipy.stats.t(ok.size - 1).ppf((1 + level) / 2)) * se
    lo, hi = mean - half, mean + half
    outcome = True if lower <= lo and hi <= upper else False if hi < lower or lo > upper else None
    text = (
        f"mean {mean:.4f}, {100 * level:.0f}% CI [{lo:.4f}, {hi:.4f}] vs {band} "
        f"(n = {ok.size}{lost})"
    )
    return outcome, text


def proportion_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) two-sided ``level`` interval of a success probability from
    ``k`` successes in ``n`` trials: e.g. 4 of 5 seeds escaping → (0.284, 0.995)."""
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    ci = scipy.stats.binomtest(int(k), int(n)).proportion_ci(level, method="exact")
    return float(ci.low), float(ci.high)


def argmax_range(
    values: Any, grid: Any, draws: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Where the best grid point lands when the seeds are resampled with replacement.

    ``values`` is (seed, grid point); each draw resamples the seeds, takes the mean over them
    and its argmax over the grid. Returns the (1 − ``level``)/2 and (1 + ``level``)/2 points
    of those argmaxes as grid values (not interpolated). A stability range, not a confidence
    interval: an argmax over a few seeds takes few values. A fixed generator gives the same
    range on every call.
    """
    a = np.asarray(values, dtype=np.float64)
    g = np.asarray(grid)
    if a.ndim != 2 or a.shape[1] != g.size or a.shape[0] == 0:
        raise ValueError(f"values must be (seed, {g.size}) for a grid of {g.size}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("values must be finite (fill diverged runs first, e.g. with chance)")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(0)
    picks = rng.integers(0, a.shape[0], size=(draws, a.shape[0]))
    best = g[a[picks].mean(axis=1).argmax(axis=1)]
    lo, hi = np.quantile(best, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(lo), float(hi)
