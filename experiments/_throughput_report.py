"""The throughput benchmark's report: its markdown tables (the README's among them).

Reads only ``results.json`` (what ``throughput.run`` wrote), so ``initjax report`` redraws it
without measuring again. The verdict rows are judged in ``_throughput_verdict.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VARIANTS = (
    "jax-loop", "jax-seq", "initjax", "initjax-front", "initjax-gemm", "initjax-sharded",
    "torch-loop", "torch-vmap",
)  # fmt: skip
MEMORY_LIMIT_MB = 4096
SANITY_RTOL = 1e-5  # losses: the same fp32 computation in another program order
PARAM_ATOL = 1e-4
"""Weights after an epoch of SGD (|W| ~ 0.01–0.1). The variants multiply in different orders;
one ReLU pre-activation that rounds to the other side of 0 changes that step's update of its
unit by ~lr·|x|·|δ|/B ~ 1e-5 (measured: 1.3e-5 for the MLP over the 60,000-example epoch,
1.2e-7 over 59,904 examples, where no such flip happens)."""


def load(out_dir: Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "results.json").read_text())


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if spec == ".3g" and abs(value) >= 100 else format(value, spec)


TABLE = (  # (column, row key, format)
    ("variant", "variant", "s"), ("M", "M", "d"), ("s/epoch", "s_per_epoch", ".3g"),
    ("ms/model-epoch", "ms_per_model_epoch", ".3g"), ("GFLOP/s", "gflops", ".1f"),
    ("% peak", "pct_peak", ".1f"), ("× torch-loop", "speedup_vs_torch_loop", ".2f"),
    ("× jax-seq", "speedup_vs_jax_seq", ".2f"), ("% ceiling", "pct_ceiling", ".0f"),
    ("compile s", "compile_s", ".2f"),
    ("peak RSS MB", "rss_peak_mb", ".0f"),
)  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    """The results as markdown: the machine, the peak, one table per workload, caveats."""
    m, p, st = report["machine"], report["peak"], report["settings"]
    threads = ", ".join(
        f"{n} {w['torch_threads']['threads']}"
        for n, w in report["workloads"].items()
        if w.get("torch_threads")
    )
    threads = threads or f"default {m['torch_threads']}"
    lines = [
        f"# Throughput ({report['scale']})\n",
        f"Device: {m['platform']} / {m['device_kind']} ({m['device_count']} device(s)); CPU "
        f"{m['cpu_model']} × {m['cpu_count']}; jax {m['jax']}, torch {m['torch']} "
        f"({m['torch_device']}; threads per workload: {threads}). Load average (1 min) "
        f"{m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end.\n",
        f"fp32 GEMM peak (2048³, median): **{p['gflops']:.1f} GFLOP/s** from {p['source']} "
        f"(jnp {p['jnp_gflops']:.1f}, numpy {p['numpy_gflops']:.1f}).\n",
    ]
    if report["evaluation_in_epoch"]:
        lines.append(
            "**Warning:** `Config(evaluate=False)` did not skip the per-epoch evaluation: the "
            "times of jax-seq, initjax and initjax-sharded include evaluating the train and "
            "test sets once per epoch; their FLOP counts do not.\n"
        )
    for name in st["workloads"]:
        w = report["workloads"][name]
        lines += [
            f"## {name}: P = {w['weights_P']:,} weights, {w['flops_formula']} = "
            f"{w['flops_per_step']:,} FLOP per step and model\n",
            "| " + " | ".join(c for c, _, _ in TABLE) + " | note |",
            "|" + "---|" * (len(TABLE) + 1),
        ]
        for r in (r for r in report["rows"] if r["workload"] == name):
            note = "; ".join(x for x in (r["status"], r["note"]) if x and x != "measured")
            cells = [_fmt(r[key], f) for _, key, f in TABLE]
            lines.append("| " + " | ".join([*cells, note]) + " |")
        lines.append("")
    scaled = f", over {st['steps']} steps scaled to a {report['steps_per_epoch']}-step epoch"
    lines.append(
        f"Times: median of {st['repeats']} repeats after a warm-up, the variants interleaved"
        f"{scaled if st['steps'] else ''}. initjax-sharded runs in its own process (not "
        "interleaved; its RSS is that process's high-water mark). In-process RSS is the sampled "
        "peak of the whole process, so it includes the dataset and memory cached by other variants."
    )
    ceiling = report.get("softmax_gemm_ceiling") or []
    if ceiling:
        lines.append(
            "\nSoftmax regression's GEMMs alone (x·W and xᵀ·δ with the M models' weights as one "
            "D × M·K matrix, plus the update; no softmax, bias or per-cell bookkeeping), one "
            "epoch as one scan: "
            + ", ".join(
                f"M = {c['M']}: {c['gflops']:.0f} GFLOP/s ({c['pct_peak']:.0f}%)" for c in ceiling
            )
            + " of the peak: the most the grid step could reach at these shapes."
        )
    mem = report["memory"]
    if mem["status"] == "measured":
        lines.append(f"\nSoftmax grid of M = {mem['M']}: peak RSS {mem['rss_peak_mb']:.0f} MB.")
    layouts = report.get("default_layouts") or {}
    if layouts:
        lines.append(
            "\nCell layouts (`initjax.cell_layout`): the initjax row is each model's default ("
            + "; ".join(
                f"{n}: " + ", ".join(f"M = {m} {v}" for m, v in per_m.items())
                for n, per_m in layouts.items()
            )
            + "); initjax-front / initjax-gemm force the other one"
            + _groups_note(report)
            + "."
        )
    ev = report.get("evaluation_share")
    if ev:
        sec = ev["seconds"]
        lines.append(
            f"\nEvaluation, softmax grid of M = {ev['M']}, one whole epoch: "
            f"{sec['train_only']:.3g} s training only, {sec['full_evaluation']:.3g} s with the "
            f"per-epoch evaluation of all {ev['examples_evaluated']:,} examples "
            f"(**{100 * ev['share_full']:.0f}%** of the epoch), {sec['eval_2000_examples']:.3g} s "
            f"with `eval_examples=2000` ({100 * ev['share_2000']:.0f}%). `eval_every=k` skips "
            "the evaluation on k − 1 of every k epochs (the last epoch is always evaluated)."
        )
    scaling = report.get("scaling") or []
    if scaling:
        lines += ["\n## Large grids: time per epoch and peak memory vs M\n",
                  "| workload | devices | M | s/epoch | ms/model-epoch | peak RSS MB | note |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in scaling:
            per = None if r["s_per_epoch"] is None else 1e3 * r["s_per_epoch"] / r["M"]
            cells = [r["workload"], str(r["devices"]), str(r["M"]), _fmt(r["s_per_epoch"]),
                     _fmt(per), _fmt(r["rss_peak_mb"], ".0f"), r.get("note", "")]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append(
            f"\nEach point is its own process ({scaling[0]['steps']} steps timed after the "
            "compiling call, scaled to an epoch): its RSS is that grid's high-water mark."
        )
    return "\n".join(lines) + "\n"


def readme_table(report: dict[str, Any]) -> str:
    """The README's summary table: seconds per epoch of all M runs per variant, the initjax
    row (each model's default cell layout) with its % of the GEMM peak and, for softmax, of
    the same-shape GEMM-only ceiling, and the other layout's time (its name in brackets).
    tests/test_throughput.py checks that the README quotes exactly this table of
    ``docs/throughput/results.json``."""
    variants = ("initjax-sharded", "jax-seq", "torch-loop", "torch-vmap")
    lines = [
        "| workload, M | initjax (1 device) | % peak | % ceiling | other layout | "
        "initjax, 2 devices | jax-seq | torch-loop | torch-vmap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["workload"], r["variant"], r["M"]): r for r in report["rows"]}

    def secs(r: dict | None) -> str:
        if r is None or r["s_per_epoch"] is None:
            return "—"
        return f"{r['s_per_epoch']:.3g} s" + (" (extrap.)" if r["status"] == "extrapolated" else "")

    for name in report["settings"]["workloads"]:
        for m in report["settings"]["ms"]:
            r = by.get((name, "initjax", m))
            pct = [_fmt(None if r is None else r[k], ".0f") for k in ("pct_peak", "pct_ceiling")]
            other = [by.get((name, f"initjax-{lay}", m)) for lay in ("front", "gemm")]
            other = [o for o in other if o is not None and o["s_per_epoch"] is not None]
            alt = f"{secs(other[0])} ({other[0]['variant'][8:]})" if other else "—"
            cells = [secs(r), *pct, alt, *(secs(by.get((name, v, m))) for v in variants)]
            lines.append(f"| {name}, {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _grouped(rep: dict[str, Any], workload: str) -> dict[int, int]:
    """M: cells per group, for each M whose initjax grid trained in cell groups."""
    per_m = (rep.get("cell_groups") or {}).get(workload, {})
    return {int(m): int(g) for m, g in per_m.items() if int(g) < int(m)}


def _groups_note(rep: dict[str, Any]) -> str:
    """Where the initjax row trained its cells in groups (``cell_groups``; runs before
    2026-12-02 did not record them and trained all cells at once)."""
    if rep.get("cell_groups") is None:
        return "; every grid trained all its cells at once (no cell groups yet)"
    parts = [f"{n} M = {m} in groups of {g}" for n in rep["cell_groups"]
             for m, g in _grouped(rep, n).items()]  # fmt: skip
    return "; " + ", ".join(parts) if parts else ""


def _groups(rows: list[dict]) -> dict[tuple[str, int], list[dict]]:
    out: dict[tuple[str, int], list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["M"]):
        out.setdefault((r["workload"], r["devices"]), []).append(r)
    return out
