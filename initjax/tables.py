"""Results as tables: the long ("tidy") table of every value, and the one-screen summary.

:func:`to_dataframe` / :func:`export` turn a result into one row per value (CSV or parquet);
:func:`summary` prints final-epoch metrics per (σ, lr) with 95% confidence intervals over
seeds, counting diverged runs and those that blew up without being flagged (:func:`blown_up`).
Re-exported by :mod:`initjax.results`.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from initjax import aggregate, variables
from initjax.atomic import atomic_path

__all__ = [
    "BLOWUP",
    "INNER_DIMS",
    "SUMMARY_METRICS",
    "TABLE_SUFFIXES",
    "blown_up",
    "export",
    "summary",
    "to_dataframe",
    "with_blowups",
]

TABLE_SUFFIXES = (".csv", ".parquet")
INNER_DIMS = ("seed", "sigma", "lr")


def to_dataframe(ds: xr.Dataset) -> pd.DataFrame:
    """The result as a long ("tidy") table: one row per value.

    Columns: the config fields of :data:`initjax.variables.CONFIG_COLUMNS` that are not outer
    axes (scheme, model, dataset, activation, hidden, optimizer: so that the tables of several
    sweeps concatenate), every dimension of ``ds`` (``seed, sigma, lr, epoch`` and e.g.
    ``layer``, outer axes such as ``scheme``), then ``variable`` (the data variable's name)
    and ``value`` (float64; booleans as 0/1). A variable without some dimension (``diverged``
    has no ``epoch``) leaves that column empty (NaN, or ``<NA>`` for integer labels) in its
    rows. Pivot back with e.g.
    ``df[df.variable == "test_acc"].pivot_table("value", "epoch", "sigma")``.
    """
    dims = list(ds.dims)
    frames = []
    for name in ds.data_vars:
        var = ds[name]
        if var.dtype == bool:
            var = var.astype(np.float64)
        elif not np.issubdtype(var.dtype, np.number):
            continue  # per-slice provenance (config JSON), not a value
        frame = var.to_dataframe(name="value").reset_index()
        frame = frame[[*var.dims, "value"]]  # drop non-dimension coordinates
        frame.insert(len(var.dims), "variable", str(name))
        frames.append(frame.astype({"value": np.float64}))
    if not frames:
        return pd.DataFrame(columns=[*dims, "variable", "value"])
    table = pd.concat(frames, ignore_index=True).reindex(columns=[*dims, "variable", "value"])
    for dim in dims:  # integer labels (seed, epoch) stay integers where a variable lacks them
        if dim in ds.coords and np.issubdtype(ds[dim].dtype, np.integer):
            table[dim] = table[dim].astype("Int64")
    for i, (field, value) in enumerate(variables.config_columns(ds).items()):
        table.insert(i, field, value)  # so that tables of several sweeps stack
    return table


def export(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write :func:`to_dataframe` of ``ds`` as CSV or parquet (by suffix), atomically.

    Parquet needs ``pyarrow`` (``pip install pyarrow``); without it this raises ImportError
    before writing anything.
    """
    dest = Path(path)
    suffix = dest.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"cannot export to {dest.name!r}: unknown table format {suffix or '(no suffix)'!r}; "
            f"valid suffixes: {', '.join(TABLE_SUFFIXES)}"
        )
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError(
            f"writing {dest.name} needs pyarrow, which is not installed "
            "(pip install pyarrow), or export to .csv instead"
        )
    table = to_dataframe(ds)
    with atomic_path(dest) as tmp:
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False, engine="pyarrow")
    return dest


SUMMARY_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
BLOWUP = 10.0
"""A cell whose final loss exceeds this multiple of its loss at init has blown up."""


def blown_up(ds: xr.Dataset) -> xr.DataArray:
    """Cells that blew up but are not flagged ``diverged``: final loss > BLOWUP × initial.

    Whatever rule training used to flag divergence, such a cell must not read as healthy:
    :func:`summary` counts it with the diverged cells and leaves it out of the means, and
    sweeps saved by :mod:`initjax.checkpoint` carry it as the variable ``blown_up``.
    """
    cells = ds["diverged"] if "diverged" in ds else None
    out = xr.zeros_like(cells, dtype=bool) if cells is not None else xr.DataArray(False)
    if "epoch" not in ds.dims:
        return out
    for name in ("train_loss", "batch_loss"):
        if name not in ds:
            continue
        first, last = ds[name].isel(epoch=0), ds[name].isel(epoch=-1)
        grew = np.isfinite(first) & (~np.isfinite(last) | (last > BLOWUP * np.abs(first)))
        out = out | grew
    if cells is not None:
        out = out & ~cells.astype(bool)
    return out.rename("blown_up")


def with_blowups(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the per-cell variable ``blown_up`` (see :func:`blown_up`)."""
    flag = blown_up(ds)
    return variables.describe(ds.assign(blown_up=flag)) if flag.ndim else ds


def summary(ds: xr.Dataset, max_rows: int = 40) -> str:
    """One screen: final-epoch metrics per (σ, lr): mean ± 95% CI over seeds, n finite / N.

    Diverged runs (NaN metrics) and runs that blew up without being flagged (:func:`blown_up`,
    marked ``*``) are left out of the means and counted: each cell says how many seeds it
    averages, and a last line says how many runs diverged in all
    (:func:`initjax.aggregate.over_seeds`).
    """
    blown = ds["blown_up"].astype(bool) if "blown_up" in ds else blown_up(ds)
    bad = blown | ds["diverged"].astype(bool) if "diverged" in ds else blown
    final = ds.isel(epoch=-1) if "epoch" in ds.dims else ds
    names = [m for m in SUMMARY_METRICS if m in ds]
    n_seeds = ds.sizes.get("seed", 1)
    outer = [str(d) for d in ds.dims if d not in (*INNER_DIMS, "epoch", "layer", "hidden_layer")]
    header = [*outer, "sigma", "lr", *names, "diverged"]
    aggs = {
        n: aggregate.over_seeds(final[n].where(~bad), warn=False) if "seed" in ds.dims else None
        for n in names
    }
    rows = []
    sigmas = ds["sigma"].values if "sigma" in ds.dims else [None]
    lrs = ds["lr"].values if "lr" in ds.dims else [None]
    outer_values = itertools.product(*(ds[d].values for d in outer))
    for where, sigma, lr in itertools.product(outer_values, sigmas, lrs):
        at = {**dict(zip(outer, where, strict=True)), "sigma": sigma, "lr": lr}
        row = [*(str(w) for w in where), _num(sigma), _num(lr)]
        for name in names:
            agg = aggs[name]
            row.append(aggregate.cell_text(_at(agg, at)) if agg is not None else "-")
        mark = "*" if bool(_at(blown, at).any()) else ""
        row.append(f"{int(np.asarray(_at(bad, at).values).sum())}/{n_seeds}{mark}")
        rows.append(row)
    shown, hidden = rows[:max_rows], len(rows) - max_rows
    widths = [max(len(r[i]) for r in [header, *shown]) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *shown]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    epochs = int(ds["epoch"].values[-1]) if "epoch" in ds.dims else 0
    lines.insert(
        0,
        f"after epoch {epochs}: mean ± {aggregate.LEVEL:.0%} CI over seeds "
        f"(n finite / N = {n_seeds} seeds):",
    )
    if hidden > 0:
        lines.append(f"... {hidden} more rows (see the saved table)")
    if n_blown := int(blown.sum()):
        lines.append(
            f"* {n_blown} run(s) counted as diverged: their final loss exceeds {BLOWUP:g}× "
            "the loss at init (training did not flag them); left out of the means"
        )
    message = aggregate.diverged_message(ds)
    if message is not None:
        lines.append(f"warning: {message}")
    return "\n".join(lines)


def _at(x: Any, at: dict[str, Any]) -> Any:
    """``x`` at the coordinates of ``at`` that it has (None: not an axis of the result)."""
    return x.sel({k: v for k, v in at.items() if v is not None and k in x.dims})


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}"
