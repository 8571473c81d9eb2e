"""The throughput benchmark's figures, drawn from ``results.json`` alone."""

from __future__ import annotations

from pathlib import Path

from _throughput_report import VARIANTS, _groups, load
from matplotlib import ticker

from initjax import plots


def figures(out_dir: Path) -> list[Path]:
    rep = load(out_dir)
    names = rep["settings"]["workloads"]  # the JSON's dicts come back key-sorted
    fig, axes = plots.figure(ncols=len(names))
    for ax, name in zip(axes, names, strict=True):
        w = rep["workloads"][name]
        for v in VARIANTS:
            pts = [r for r in rep["rows"] if (r["workload"], r["variant"]) == (name, v)]
            pts = [r for r in pts if r["model_epochs_per_s"]]
            meas = [r for r in pts if r["status"] == "measured"]
            if not meas:
                continue
            xy = [(r["M"], r["model_epochs_per_s"]) for r in meas]
            (line,) = ax.plot(*zip(*xy, strict=True), "o-", label=v)
            extra = [(r["M"], r["model_epochs_per_s"]) for r in pts if r["status"] != "measured"]
            if extra:
                ax.plot(*zip(xy[-1], *extra, strict=True), "--", color=line.get_color(), alpha=0.6)
        bound = rep["peak"]["gflops"] * 1e9 / (w["flops_per_step"] * rep["steps_per_epoch"])
        ax.axhline(bound, color="k", ls=":", lw=1, label="at the GEMM peak")
        ax.set(xscale="log", yscale="log", xlabel="M (runs trained together)")
        ax.set_xticks(rep["settings"]["ms"], [str(m) for m in rep["settings"]["ms"]])
        # no minor x ticks (M is labelled); the y axis keeps its minor labels, which are
        # the only labels when a panel spans less than a decade (the MLP's)
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.set_ylabel("model-epochs / s")
        ax.set_title(f"{name}: {w['flops_formula']}, P = {w['weights_P']:,}", fontsize=9)
        ax.legend(fontsize=7)
    m = rep["machine"]
    title = (
        f"One epoch of M runs on {m['device_kind']} ({m['platform']}, {m['cpu_count']} CPU cores)"
    )
    fig.suptitle(f"{title}; dashed: extrapolated", fontsize=9)
    paths = plots.save(fig, Path(out_dir) / "throughput")
    scaling = [r for r in rep.get("scaling") or [] if r["s_per_epoch"] is not None]
    if scaling:
        paths += _scaling_figure(scaling, f"{title}: large grids", Path(out_dir) / "scaling")
    return paths


def _scaling_figure(rows: list[dict], title: str, stem: Path) -> list[Path]:
    """Seconds per epoch and peak RSS against M, per workload and device count."""
    fig, (ax_t, ax_m) = plots.figure(ncols=2)
    for (name, n), pts in _groups(rows).items():
        ms = [r["M"] for r in pts]
        (line,) = ax_t.plot(ms, [r["s_per_epoch"] for r in pts], "o-", label=f"{name}, {n} dev")
        ax_t.plot(ms, [pts[0]["s_per_epoch"] * m / ms[0] for m in ms], ":", color=line.get_color())
        ax_m.plot(ms, [r["rss_peak_mb"] for r in pts], "o-", color=line.get_color(),
                  label=f"{name}, {n} dev")  # fmt: skip
    ax_t.set(xscale="log", yscale="log", xlabel="M", ylabel="s / epoch (dotted: linear in M)")
    ax_m.set(xscale="log", yscale="log", xlabel="M", ylabel="peak RSS (MB)")
    ax_t.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return plots.save(fig, stem)
