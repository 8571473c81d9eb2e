"""Figures drawn from saved results only (never from inside training).

Uses matplotlib's object interface (``matplotlib.figure.Figure``), so no GUI backend or global
pyplot state is involved; every figure is written as PNG and SVG, atomically.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from initjax import results, variables


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (4.2, 3.2)) -> Any:
    """A new figure with an ``nrows × ncols`` grid of axes (returned flat, row by row).

    The arguments are in ``plt.subplots``'s order; ``size`` is one panel's (width, height)
    in inches.
    """
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    return fig, list(axes)


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.svg``; returns both paths."""
    out = []
    for ext in ("png", "svg"):
        path = Path(f"{stem}.{ext}")
        with results.atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        out.append(path)
    return out


def band(
    ax: Any,
    x: Sequence[float] | np.ndarray,
    runs: np.ndarray,
    label: str | None = None,
    color: Any = None,
    **kwargs: Any,
) -> None:
    """Mean over the first axis of ``runs`` (seeds) as a line, min–max as a shaded band."""
    runs = np.asarray(runs, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN epoch (diverged) is NaN
        mean = np.nanmean(runs, axis=0) if runs.ndim > 1 else runs
    (line,) = ax.plot(x, mean, label=label, color=color, **kwargs)
    if runs.ndim > 1 and runs.shape[0] > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(runs, axis=0), np.nanmax(runs, axis=0)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)


def curves_by(
    ax: Any,
    var: xr.DataArray,
    by: str,
    fmt: str = "{}",
    legend: bool = True,
    **kwargs: Any,
) -> None:
    """Per-epoch curves of ``var`` (dims seed, ``by``, epoch), one line per ``by`` value,
    each with a seed band; axis labels from the attrs (``long_name``, ``units``) and a legend
    titled by ``by`` unless ``legend=False``."""
    for value in var[by].values:
        runs = var.sel({by: value}).transpose("seed", "epoch").values
        band(ax, var.epoch.values, runs, label=fmt.format(value), **kwargs)
    ax.set_xlabel(variables.label(var["epoch"], "epoch"))
    ax.set_ylabel(variables.label(var, str(var.name)))
    if legend:
        ax.legend(title=variables.label(var[by], by), fontsize=7, title_fontsize=7)


def symlog_sigma(ax: Any, sigmas: np.ndarray) -> None:
    """An x axis for σ grids that include 0: symmetric log with a linear part below the
    smallest positive σ."""
    positive = sigmas[sigmas > 0]
    if (sigmas == 0).any() and positive.size:
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    elif positive.size:
        ax.set_xscale("log")


def label(ax: Any, xlabel: str, ylabel: str, title: str, fontsize: float = 7) -> None:
    """Axis labels, a small title and the legend: the finishing of every panel."""
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=fontsize)


def log2_axis(ax: Any, values: np.ndarray) -> None:
    """A base-2 log x axis ticked at the powers of two among ``values`` (depths, widths)."""
    ax.set_xscale("log", base=2)
    ticks = [int(d) for d in values if int(d) & (int(d) - 1) == 0]
    ax.set_xticks(ticks, [str(d) for d in ticks])


DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "mnist1d": "MNIST-1D", "synthetic": "synthetic"}


def dataset_name(dataset: str) -> str:
    """How a figure's title names a dataset (``"mnist1d"`` → ``"MNIST-1D"``); others as given."""
    return DATASET_NAMES.get(dataset, dataset)


def anchor_line(
    ax: Any,
    value: float,
    label: str | None = None,
    vertical: bool = False,
    color: Any = "k",
    ls: str = ":",
) -> None:
    """A thin reference line at an anchor's value (a published number, a prediction): horizontal
    at y = ``value``, or vertical at x = ``value``; ``label`` goes to the legend."""
    line = ax.axvline if vertical else ax.axhline
    line(float(value), color=color, ls=ls, lw=1, label=label)


def cell_edges(v: Any, log: bool = False) -> np.ndarray:
    """Edges of the cells centred on grid values ``v`` (for ``pcolormesh``): halfway between
    neighbours, geometrically on a log axis; the outer edges mirror the inner ones.

    >>> cell_edges(np.array([1.0, 2.0, 4.0])).tolist()
    [0.5, 1.5, 3.0, 5.0]
    """
    t = np.log(np.asarray(v, float)) if log else np.asarray(v, float)
    if t.size == 1:
        e = np.array([t[0] - 0.5, t[0] + 0.5])
    else:
        mid = (t[1:] + t[:-1]) / 2
        e = np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])
    return np.exp(e) if log else e
