"""Trainability boundaries: where a depth × scale grid stops training, and its depth scale.

From a boolean grid ``ok[depth, σ]`` (a cell trains or not) this finds, per σ, the depth where
training stops, and fits that boundary to a theoretical depth scale such as mean-field ξ_c::

    bound = boundary(ok, depths)          # per σ: NaN where censored
    fit = fit_multiple(bound, xi_c)       # L = c · ξ_c: c, its 95% CI, and the log-log slope

Schoenholz et al. 2017 found L ≈ 6 ξ_c for tanh nets; ``experiments/edge_of_chaos.py`` tests
it. Plain numpy/scipy on host arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats

__all__ = ["boundary", "fit_multiple"]


def boundary(ok: Any, depths: Any) -> np.ndarray:
    """The trainable-depth boundary per column of ``ok``.

    Args:
      ok: booleans (depth, σ), rows in the order of ``depths``.
      depths: ascending depths of the grid's rows.

    Returns:
      Per σ, the geometric midpoint between the deepest trainable depth and the next grid
      depth (the boundary lies between them); NaN where no depth trains or the deepest one does
      (censored: the grid does not bound it).

    >>> boundary(np.array([[True, True], [True, False], [False, False]]), [8, 16, 32]).tolist()
    [22.627416997969522, 11.313708498984761]
    """
    ok, depths = np.asarray(ok, bool), np.asarray(depths, float)
    if ok.ndim != 2 or ok.shape[0] != depths.size:
        raise ValueError(f"ok must be (depth, σ) with {depths.size} rows, got shape {ok.shape}")
    if np.any(np.diff(depths) <= 0):
        raise ValueError(f"depths must be strictly ascending, got {depths.tolist()}")
    out = np.full(ok.shape[1], np.nan)
    for j in range(ok.shape[1]):
        k = np.flatnonzero(ok[:, j])
        if k.size and k[-1] < depths.size - 1:
            out[j] = float(np.sqrt(depths[k[-1]] * depths[k[-1] + 1]))
    return out


def fit_multiple(bound: Any, scale: Any, level: float = 0.95) -> dict[str, Any]:
    """Fit ``bound ≈ c · scale`` over the points where both are finite and positive.

    Args:
      bound: per σ, the measured boundary (NaN: censored, left out).
      scale: per σ, the depth scale (e.g. ξ_c; inf or NaN at criticality: left out).
      level: confidence level of the intervals.

    Returns:
      ``n`` (points used); ``c`` the geometric mean of bound/scale with ``c_lo``, ``c_hi`` its
      t-interval (NaN with n < 2); ``slope`` of log bound on log scale and ``slope_half`` its
      interval's half-width (NaN with n < 3): 1 when the boundary scales as ``scale``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    bound, scale = np.asarray(bound, float), np.asarray(scale, float)
    if bound.shape != scale.shape:
        raise ValueError(f"bound and scale differ in shape: {bound.shape} vs {scale.shape}")
    use = np.isfinite(bound) & np.isfinite(scale) & (scale > 0) & (bound > 0)
    n = int(use.sum())
    nan = float("nan")
    out: dict[str, Any] = {"n": n, "c": nan, "c_lo": nan, "c_hi": nan, "slope": nan,
                           "slope_half": nan}  # fmt: skip
    if n < 2:
        return out
    q = 0.5 + level / 2
    log_ratio = np.log(bound[use] / scale[use])
    half = scipy.stats.t(n - 1).ppf(q) * log_ratio.std(ddof=1) / np.sqrt(n)
    mid = log_ratio.mean()
    out.update(c=float(np.exp(mid)), c_lo=float(np.exp(mid - half)), c_hi=float(np.exp(mid + half)))
    x = np.log(scale[use])
    if n >= 3 and np.ptp(x) > 0:
        fit = scipy.stats.linregress(x, np.log(bound[use]))
        out.update(
            slope=float(fit.slope), slope_half=float(scipy.stats.t(n - 2).ppf(q) * fit.stderr)
        )
    return out
