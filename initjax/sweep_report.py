"""Figures and a REPORT.md for any sweep folder, or several side by side (``initjax plot``,
``initjax report``).

A sweep folder is what ``initjax sweep --out DIR`` (or ``ij.sweep.run(..., out=DIR)``) wrote:
``results.nc`` and ``fingerprint.json``. From saved results only (nothing is retrained)::

    paths = ij.sweep_report.figures(["runs/he", "runs/lecun"], "runs/compare")
    ij.sweep_report.write(["runs/he"])            # runs/he/REPORT.md + runs/he/figures/

Figures (PNG + SVG each), for one metric (default ``test_acc``):

* ``final_<metric>``: the final epoch's metric against σ (or ``init_std`` of one layer, the
  axis on which schemes compare), one panel per learning rate, one line per sweep and outer
  value: the mean over the finite seeds with its 95% interval; a cell with diverged seeds is
  marked ✕ at the foot of the panel and the legend counts them.
* ``curves_<metric>``: learning curves, one panel per sweep, outer value and lr, one line per σ
  (seed range shaded).
* ``heatmap_<metric>``: σ × lr of the final mean, one panel per sweep and outer value on one
  colour scale; cells with diverged seeds say "n/N" finite.

Several folders are aligned on their shared coordinates: panels are matched by lr value, and
every series is drawn on the same σ axis.
"""

from __future__ import annotations

import itertools
import json
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.ticker import NullFormatter

from initjax import aggregate, plots, results, variables

RESULTS, FINGERPRINT = "results.nc", "fingerprint.json"  # = checkpoint.RESULTS, FINGERPRINT
REPORT, FIGURES = "REPORT.md", "figures"
INNER = ("seed", "sigma", "lr", "epoch", "layer", "hidden_layer")
TABLE_METRICS = ("test_acc", "test_loss", "train_loss")
MAX_PANELS = 12


class NoSweeps(ValueError):
    """A folder that holds no sweep results."""


def is_sweep(path: str | Path) -> bool:
    """Whether ``path`` is a sweep folder (``results.nc`` and ``fingerprint.json``)."""
    p = Path(path)
    return (p / RESULTS).is_file() and (p / FINGERPRINT).is_file()


def find(path: str | Path) -> list[Path]:
    """``path`` if it is a sweep folder, else its sweep subfolders (sorted); may be empty."""
    p = Path(path)
    if is_sweep(p):
        return [p]
    return sorted(q for q in p.iterdir() if q.is_dir() and is_sweep(q)) if p.is_dir() else []


def load(dirs: Sequence[str | Path]) -> dict[str, xr.Dataset]:
    """``{name: result}`` of sweep folders (name: the folder's name, made unique); NoSweeps
    names a folder that is not one."""
    out: dict[str, xr.Dataset] = {}
    for d in map(Path, dirs):
        if not is_sweep(d):
            raise NoSweeps(
                f"{d} is not a sweep folder: expected {RESULTS} and {FINGERPRINT} in it "
                "(written by `initjax sweep --out DIR`)"
            )
        name = d.resolve().name
        while name in out:
            name = f"{d.resolve().parent.name}/{name}"
        out[name] = variables.describe(results.load(d / RESULTS))
    return out


def outer_dims(ds: xr.Dataset) -> list[str]:
    return [str(d) for d in ds.dims if d not in INNER and "_dim" not in str(d)]


def series(sweeps: dict[str, xr.Dataset]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, sweep name, outer selection)`` for every sweep × outer-axis value."""
    out = []
    for name, ds in sweeps.items():
        dims = outer_dims(ds)
        for combo in itertools.product(*(ds[d].values.tolist() for d in dims)):
            at = dict(zip(dims, combo, strict=True))
            words = [name] if len(sweeps) > 1 else []
            words += [f"{k}={v}" for k, v in at.items()]
            out.append((" ".join(words) or name, name, at))
    return out


def _final(ds: xr.Dataset, metric: str) -> xr.DataArray:
    if metric not in ds:
        numeric = [str(v) for v in ds.data_vars if "epoch" in ds[v].dims]
        raise ValueError(f"no metric {metric!r} in this result; valid choices: {numeric}")
    return ds[metric].isel(epoch=-1)


def _x(ds: xr.Dataset, at: dict[str, Any], x: str, layer: str | None) -> tuple[np.ndarray, str]:
    if x == "sigma":
        return ds["sigma"].values, variables.label(ds["sigma"], "σ")
    if x != "init_std":
        raise ValueError(f"unknown x axis {x!r}; valid choices: sigma, init_std")
    std = ds["init_std"].sel(at)
    layer = layer if layer is not None else str(std["layer"].values[0])
    if layer not in std["layer"].values:
        raise ValueError(f"no layer {layer!r}; valid choices: {std['layer'].values.tolist()}")
    return std.sel(layer=layer).values, f"{variables.label(ds['init_std'])}, layer {layer}"


def final_figure(
    sweeps: dict[str, xr.Dataset], metric: str, x: str = "sigma", layer: str | None = None
) -> Any:
    """The final epoch's ``metric`` against σ (or init_std): one panel per lr."""
    lrs = sorted({float(v) for ds in sweeps.values() for v in ds["lr"].values})
    fig, axes = plots.figure(1, len(lrs), size=(4.6, 3.6))
    first = next(iter(sweeps.values()))
    for ax, lr in zip(axes, lrs, strict=True):
        drawn = []
        for i, (label, name, at) in enumerate(series(sweeps)):
            ds = sweeps[name]
            if lr not in ds["lr"].values:
                continue
            agg = aggregate.over_seeds(_final(ds, metric).sel(at).sel(lr=lr), warn=False)
            xs, xlabel = _x(ds, at, x, layer)
            color = f"C{i % 10}"
            drawn.append(agg["mean"].values)
            bad = agg["n_diverged"].values > 0
            count = (
                f" ({int(agg['n_diverged'].sum())} of {agg.attrs['n_seeds'] * xs.size} diverged)"
            )
            ax.plot(
                xs, agg["mean"], "o-", color=color, ms=3, label=label + (count if bad.any() else "")
            )
            ax.fill_between(xs, agg["ci_low"], agg["ci_high"], color=color, alpha=0.2, lw=0)
            if bad.any():
                ax.plot(
                    xs[bad], np.zeros(bad.sum()), "x", color=color, ms=7, mew=2,
                    transform=ax.get_xaxis_transform(), clip_on=False,
                )  # fmt: skip
            ax.set_xlabel(xlabel)
        if x == "sigma":
            plots.symlog_sigma(ax, np.asarray(first["sigma"].values))
        elif x == "init_std":
            ax.set_xscale("log")
        ticks = np.unique(
            np.concatenate([np.asarray(line.get_xdata()) for line in ax.lines] or [np.array([])])
        )
        if 0 < ticks.size <= 8:
            ax.set_xticks(ticks, [f"{v:.3g}" for v in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(textwrap.fill(ax.get_xlabel(), 48), fontsize=8)
        if not any(np.isfinite(d).any() for d in drawn):
            ax.text(0.5, 0.5, "every run diverged", transform=ax.transAxes, ha="center")
            ax.set_yticks([])
        ax.set_ylabel(f"final {variables.label(first[metric])}")
        ax.set_title(f"lr = {lr:g}", fontsize=9)
        ax.legend(fontsize=7, title="mean, 95% CI; ✕ diverged", title_fontsize=7)
    fig.suptitle(f"{_long(first, metric)} after epoch {int(first['epoch'].values[-1])}")
    return fig


def curves_figure(sweeps: dict[str, xr.Dataset], metric: str) -> Any:
    """Learning curves: one panel per (series, lr), one line per σ."""
    panels = [
        (label, name, at, lr)
        for label, name, at in series(sweeps)
        for lr in sweeps[name]["lr"].values
    ][:MAX_PANELS]
    ncols = min(len(panels), 4)
    nrows = -(-len(panels) // ncols)
    fig, axes = plots.figure(nrows, ncols, size=(4.2, 3.2))
    for ax, (label, name, at, lr) in zip(axes, panels, strict=False):
        var = sweeps[name][metric].sel(at).sel(lr=lr)
        var = var.dropna("epoch", how="all")  # epochs not evaluated (Config.eval_every)
        plots.curves_by(ax, var, "sigma", fmt="{:g}")
        ax.set_title(f"{label} lr={lr:g}".strip(), fontsize=9)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{_long(next(iter(sweeps.values())), metric)} per epoch (seed range shaded)")
    return fig


def heatmap_figure(sweeps: dict[str, xr.Dataset], metric: str) -> Any:
    """σ × lr of the final mean, one panel per series, one colour scale."""
    panels = series(sweeps)[:MAX_PANELS]
    means = []
    for _, name, at in panels:
        agg = aggregate.over_seeds(_final(sweeps[name], metric).sel(at), warn=False)
        means.append(agg.transpose("sigma", "lr"))
    values = np.concatenate([m["mean"].values.ravel() for m in means])
    finite = values[np.isfinite(values)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    ncols = min(len(panels), 3)
    fig, axes = plots.figure(-(-len(panels) // ncols), ncols, size=(4.4, 3.6))
    image = None
    for ax, (label, name, _), agg in zip(axes, panels, means, strict=False):
        ds = sweeps[name]
        image = ax.imshow(
            agg["mean"].values, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="viridis"
        )
        n, total = agg["n_finite"].values, agg.attrs["n_seeds"]
        for (i, j), k in np.ndenumerate(n):
            if k < total:
                ax.text(j, i, f"{k}/{total}", ha="center", va="center", color="red", fontsize=8)
        ax.set_xticks(range(agg.sizes["lr"]), [f"{v:g}" for v in agg["lr"].values])
        ax.set_yticks(range(agg.sizes["sigma"]), [f"{v:g}" for v in agg["sigma"].values])
        ax.set_xlabel(variables.label(ds["lr"], "lr"))
        ax.set_ylabel(variables.label(ds["sigma"], "σ"))
        ax.set_title(label or name, fontsize=9)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    first = next(iter(sweeps.values()))
    if image is not None:
        fig.colorbar(image, ax=axes[: len(panels)], label=f"final {variables.label(first[metric])}")
    fig.suptitle(
        f"final {_long(first, metric)}:\nmean over finite seeds (red: n finite / N)", fontsize=10
    )
    return fig


def _long(ds: xr.Dataset, metric: str) -> str:
    return str(ds[metric].attrs.get("long_name", metric))


def figures(
    dirs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    metric: str = "test_acc",
    x: str = "sigma",
    layer: str | None = None,
    sweeps: dict[str, xr.Dataset] | None = None,
) -> list[Path]:
    """Draw the three figures of the sweeps in ``dirs`` into ``out_dir`` (default:
    ``dirs[0]/figures``); returns the PNG and SVG paths."""
    sweeps = load(dirs) if sweeps is None else sweeps
    out = Path(out_dir) if out_dir is not None else Path(dirs[0]) / FIGURES
    paths = []
    paths += plots.save(final_figure(sweeps, metric, x, layer), out / f"final_{metric}")
    paths += plots.save(curves_figure(sweeps, metric), out / f"curves_{metric}")
    paths += plots.save(heatmap_figure(sweeps, metric), out / f"heatmap_{metric}")
    return paths


def warn(sweeps: dict[str, xr.Dataset]) -> list[str]:
    """One DivergedWarning per sweep with diverged runs; returns the messages (for the CLI)."""
    out = []
    for name, ds in sweeps.items():
        message = aggregate.diverged_message(ds)
        if message is not None:
            warnings.warn(f"{name}: {message}", aggregate.DivergedWarning, stacklevel=2)
            out.append(f"{name}: {message}")
    return out


def table(sweeps: dict[str, xr.Dataset], metrics: Sequence[str] = TABLE_METRICS) -> list[str]:
    """The summary table as Markdown: one row per series × σ × lr, each metric as
    ``mean ± CI (n finite / N)``."""
    present = [m for m in metrics if all(m in ds for ds in sweeps.values())]
    header = ["series", "σ", "lr", *(f"final {m}" for m in present), "diverged"]
    rows = []
    for label, name, at in series(sweeps):
        ds = sweeps[name]
        aggs = {m: aggregate.over_seeds(_final(ds, m).sel(at), warn=False) for m in present}
        for sigma, lr in itertools.product(ds["sigma"].values, ds["lr"].values):
            cells = [aggregate.cell_text(aggs[m].sel(sigma=sigma, lr=lr)) for m in present]
            bad = int(ds["diverged"].sel(at).sel(sigma=sigma, lr=lr).sum())
            rows.append(
                [label or name, f"{sigma:g}", f"{lr:g}", *cells, f"{bad}/{ds.sizes['seed']}"]
            )
    return _markdown(header, rows)


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _settings(name: str, ds: xr.Dataset, folder: Path) -> list[str]:
    config = json.loads(str(ds.attrs.get("config", "{}")))
    dims = outer_dims(ds)
    rows = [["seeds", ", ".join(str(v) for v in ds["seed"].values.tolist())]]
    rows.append([f"σ: {ds['sigma'].attrs.get('long_name', 'σ')}", _values(ds["sigma"])])
    rows.append(["lr", _values(ds["lr"])])
    rows += [[f"{d} (outer axis)", ", ".join(map(str, ds[d].values.tolist()))] for d in dims]
    rows.append(["epochs", str(int(ds["epoch"].values[-1]))])
    bad, total = aggregate.diverged_count(ds)
    rows.append(["runs", f"{total} ({bad} diverged)"])
    rows += [[f"`{k}`", f"`{v}`"] for k, v in config.items() if k not in dims]
    rows.append(["git commit", f"`{ds.attrs.get('git_commit', 'unknown')}`"])
    lines = [f"### {name}: settings", "", f"Folder `{folder}`."]
    if (folder / "sweep.toml").is_file():
        lines[-1] += f" Rerun: `initjax sweep --config {folder / 'sweep.toml'} --out NEW_DIR`."
    return [*lines, "", *_markdown(["setting", "value"], rows), ""]


def _values(var: xr.DataArray) -> str:
    return ", ".join(f"{v:g}" for v in var.values.tolist())


def write(
    dirs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    metric: str = "test_acc",
    x: str = "sigma",
) -> Path:
    """Write ``REPORT.md`` (settings, grid, summary table, figures) for the sweeps in ``dirs``
    into ``out_dir`` (default: the one folder, or the folders' common parent)."""
    import os

    folders = [Path(d) for d in dirs]
    sweeps = load(folders)
    out = Path(out_dir) if out_dir is not None else (
        folders[0] if len(folders) == 1
        else Path(os.path.commonpath([str(d.resolve()) for d in folders]))
    )  # fmt: skip
    paths = figures(folders, out / FIGURES, metric, x, sweeps=sweeps)
    n = aggregate.LEVEL
    lines = [
        f"# Sweep report: {', '.join(sweeps)}",
        "",
        f"Final-epoch metrics: mean over the seeds whose values are finite, ± the half-width of "
        f"its {n:.0%} Student-t interval, and (n finite / N seeds). A diverged run's metrics are "
        "NaN from its `diverged_epoch` on, so it is left out of the mean and counted.",
        "",
    ]
    for message in warn(sweeps):
        lines += [f"**Warning: {message}.**", ""]
    for (name, ds), folder in zip(sweeps.items(), folders, strict=True):
        lines += _settings(name, ds, folder)
    lines += ["## Summary", "", f"Each cell: final mean ± {n:.0%} CI (n finite / N seeds).", ""]
    lines += [*table(sweeps), "", "## Figures", ""]
    for p in paths:
        if p.suffix == ".png":
            rel = p.relative_to(out) if p.is_relative_to(out) else p.resolve()
            lines += [f"![{p.stem}]({rel})", ""]
    return results.write_text(out / REPORT, "\n".join(lines).rstrip() + "\n")
