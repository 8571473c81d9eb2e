"""Honest aggregates over seeds: mean, confidence interval and how many seeds count.

A diverged run's metrics are NaN, so ``res.test_acc.isel(epoch=-1).mean("seed")`` silently
averages the seeds that survived: He at gain 4 with 7 of 8 seeds diverged reads as one seed's
accuracy. :func:`over_seeds` gives the same mean with the count attached and warns::

    final = ij.aggregate.over_seeds(res.test_acc.isel(epoch=-1))
    final["mean"], final["ci_low"], final["ci_high"]   # 95% Student-t interval of the mean
    final["n_finite"], final.attrs["n_seeds"]           # n of N seeds finite, per cell

Every aggregate in initjax (``results.summary``, the sweep figures and REPORT.md) uses it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.stats
import xarray as xr

LEVEL = 0.95
"""Confidence level of the intervals."""


class DivergedWarning(UserWarning):
    """Some runs of a result diverged; aggregates over seeds leave them out."""


def diverged_count(ds: xr.Dataset) -> tuple[int, int]:
    """``(diverged runs, all runs)`` of a sweep result (its ``diverged`` variable)."""
    if "diverged" not in ds:
        return 0, 0
    flags = np.asarray(ds["diverged"].values, dtype=bool)
    return int(flags.sum()), int(flags.size)


def diverged_message(ds: xr.Dataset) -> str | None:
    """``"3 of 16 runs diverged; ..."``, or None when none did."""
    bad, total = diverged_count(ds)
    if not bad:
        return None
    return (
        f"{bad} of {total} runs diverged (metrics NaN from the epoch in diverged_epoch on); "
        "aggregates over seeds leave them out and say 'n finite / N'"
    )


def warn_diverged(ds: xr.Dataset, stacklevel: int = 2) -> str | None:
    """Warn (:class:`DivergedWarning`) when ``ds`` has diverged runs; returns the message."""
    message = diverged_message(ds)
    if message is not None:
        warnings.warn(message, DivergedWarning, stacklevel=stacklevel + 1)
    return message


def over_seeds(
    da: xr.DataArray, dim: str = "seed", level: float = LEVEL, warn: bool = True
) -> xr.Dataset:
    """Aggregate ``da`` over ``dim`` counting only finite values, with the count attached.

    Args:
      da: e.g. ``res.test_acc.isel(epoch=-1)`` (dims seed, sigma, lr, ...).
      dim: the dimension to aggregate (seeds).
      level: confidence level of the interval.
      warn: emit a :class:`DivergedWarning` when some cell has non-finite values.

    Returns:
      ``xarray.Dataset`` over the other dims: ``mean``, ``std`` (ddof 1), ``ci_low``,
      ``ci_high`` (mean ± t_{(1+level)/2, n-1}·std/√n; NaN with fewer than 2 finite values),
      ``n_finite`` (int) and ``n_diverged`` (= N − n_finite); ``attrs["n_seeds"]`` = N.
    """
    if dim not in da.dims:
        raise ValueError(f"cannot aggregate over {dim!r}: {da.name} has dims {da.dims}")
    n_seeds = da.sizes[dim]
    values = da.astype(np.float64)
    finite = xr.apply_ufunc(np.isfinite, values)
    n = finite.sum(dim)
    clean = values.where(finite)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells give NaN, as intended
        mean = clean.mean(dim)
        std = clean.std(dim, ddof=1).where(n >= 2)
    t = xr.apply_ufunc(
        lambda k: scipy.stats.t.ppf(0.5 + level / 2, np.maximum(k - 1, 1)), n.astype(np.float64)
    )
    half = t * std / np.sqrt(n.where(n > 0))
    attrs = {k: v for k, v in da.attrs.items() if k in ("long_name", "units")}
    out = xr.Dataset(
        {
            "mean": mean.assign_attrs(attrs),
            "std": std.assign_attrs(attrs),
            "ci_low": (mean - half).assign_attrs(attrs),
            "ci_high": (mean + half).assign_attrs(attrs),
            "n_finite": n.astype(np.int64).assign_attrs(
                long_name=f"{dim}s with a finite value", units="1"
            ),
            "n_diverged": (n_seeds - n)
            .astype(np.int64)
            .assign_attrs(long_name=f"{dim}s with a non-finite value (diverged)", units="1"),
        },
        attrs={"n_seeds": n_seeds, "level": level, "variable": str(da.name)},
    )
    short = int((out["n_diverged"] > 0).sum())
    if warn and short:
        warnings.warn(
            f"{da.name}: {short} of {int(np.prod(out['n_finite'].shape))} cells have non-finite "
            f"values in some of their {n_seeds} {dim}s (diverged); means are over the finite "
            "ones, see n_finite",
            DivergedWarning,
            stacklevel=2,
        )
    return out


def cell_text(agg: xr.Dataset, digits: int = 4) -> str:
    """One aggregated cell as ``"0.8123 ± 0.0040 (8/8)"``: mean ± CI half-width, n finite / N.

    ``agg`` is :func:`over_seeds` selected down to one cell.
    """
    n, total = int(agg["n_finite"]), int(agg.attrs["n_seeds"])
    if n == 0:
        return f"— (0/{total})"
    mean = float(agg["mean"])
    half = float(agg["ci_high"]) - mean
    spread = f" ± {half:.{digits}f}" if np.isfinite(half) else ""
    return f"{mean:.{digits}f}{spread} ({n}/{total})"


def scalar(agg: xr.Dataset, name: str) -> Any:
    return agg[name].values.item()


def seed_ci(values: Any, digits: int = 4) -> str:
    """Per-seed values as ``"0.8512 ± 0.0031 (5/5)"``: the mean ± its 95% t-interval half-width
    over the finite values, and how many of all seeds were finite (:func:`cell_text`).

    >>> seed_ci([0.5, 0.6, 0.7], 2)
    '0.60 ± 0.25 (3/3)'
    """
    da = xr.DataArray(np.asarray(values, dtype=np.float64), dims="seed", name="value")
    return cell_text(over_seeds(da, warn=False), digits)
