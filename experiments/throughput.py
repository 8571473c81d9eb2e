"""Throughput: the vmapped grid against sequential loops and against the machine's GEMM peak.

Question: does a grid of M runs cost little more than its FLOPs? Two workloads — d2l's softmax
regression (784→10) and an MLP 784-256-10 (ReLU) — train one epoch of Fashion-MNIST (batch 256,
SGD, fp32) as M runs, with each variant of ``_bench.py`` (beside it) (jax-loop,
jax-seq, initjax, initjax-sharded, torch-loop, torch-vmap), on the same data, batch order and
initial weights.

Method: each variant's program is compiled ahead of time (``lower().compile()``, reported as
compile seconds) and run once untimed (warm-up); then ``repeats`` rounds time every variant
once, the variants interleaved (the order rotates each round); a row reports the median. The
sharded variant runs in its own process (N virtual CPU devices must be set before JAX starts),
so it is not interleaved (``_bench_worker.py``). The fp32 GEMM peak (2048³ matmul, jnp and numpy, median) is measured
in the same process before (and at full scale after) the variants; the highest is the peak. FLOPs per step and model are
4·B·P for softmax regression and 6·B·P for the MLP, P = weight-matrix entries (no biases):
see ``_bench.flops_per_step``.

Command: ``initjax run throughput --quick`` (M ∈ {1, 4}, 10 steps, 2 repeats, each compile
timed once; about 2 min on 2 CPU cores: numbers only show the machinery works) or ``--full`` (M ∈ {1, 4, 16, 64, 256}, whole
epochs, 5 repeats, compiles timed 3 times, M = 1024 memory check, large grids up to 4096 /
1024 cells; 51 min measured on 2 idle CPU cores on 2026-12-02 05:52 (53 min earlier that day,
74 min on 2026-11-30), 62% of it the MLP workload; its results are in ``docs/throughput/``). In full mode the loop variants run up to M = 16 and are extrapolated linearly beyond
(they are M independent runs by construction); torch-vmap runs up to M = 64.
Writes ``results.json`` and ``results.md`` (tables) and ``throughput.png``/``.svg``.
"""

from __future__ import annotations

import functools
import itertools
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import _bench as B
import _bench_scaling as BS
import _bench_torch as BT
import _bench_worker as W
import jax
import numpy as np
from _throughput_figures import figures  # noqa: F401  (the experiment's API)
from _throughput_report import (  # noqa: F401  (the experiment's API)
    MEMORY_LIMIT_MB,
    PARAM_ATOL,
    SANITY_RTOL,
    VARIANTS,
    load,
    markdown,
    readme_table,
)
from _throughput_verdict import measure, verdict  # noqa: F401  (the experiment's API)

from initjax import cell_layout, results, shard, study
from initjax import data as datasets
from initjax.study import check_scale

NAME = "throughput"
ORDER = 100
EXTRA = True  # measures the machine, not a claim: `reproduce` skips it
QUESTION = "Does a vmapped grid of M runs cost little more than its FLOPs on this machine?"
CLAIMS = ()
RUNTIME = {
    "quick": "~2 min (2 CPU cores)",
    "full": "51 min (2 idle CPU cores, measured 2026-12-02)",
}

IN_PROCESS = {
    "jax-loop": B.jax_loop,
    "jax-seq": B.jax_seq,
    "initjax": B.initjax,
    # the grid in each cell layout (issue 18); the model's default layout is the initjax row
    "initjax-front": functools.partial(B.initjax, layout="front"),
    "initjax-gemm": functools.partial(B.initjax, layout="gemm"),
    "torch-loop": BT.torch_loop,
    "torch-vmap": BT.torch_vmap,
}
LOOPS = ("jax-loop", "jax-seq", "torch-loop")
"""Variants that train the M runs one after another: their cost is linear in M."""
ROW_KEYS = (
    "workload", "variant", "M", "status", "note", "process", "devices", "steps_measured",
    "s_per_epoch", "ms_per_model_epoch", "model_epochs_per_s", "gflops", "pct_peak",
    "speedup_vs_torch_loop", "speedup_vs_jax_seq", "pct_ceiling", "compile_s", "first_call_s", "times_s",
    "rss_peak_mb", "rss_source",
)  # fmt: skip


@dataclass(frozen=True)
class BenchGrid:
    """What the benchmark varies and how often it times it (the workloads themselves are
    ``train.Config`` values: ``_bench.WORKLOADS``)."""

    ms: tuple[int, ...]
    """Grid sizes M (runs trained together)."""
    steps: int | None
    """Batches timed per epoch (None: the whole epoch, 234); times are scaled to an epoch."""
    repeats: int
    """Timed rounds after the warm-up; rows report the median."""
    loop_max_m: int | None
    """Largest M run by the loop variants (None: all); larger M are extrapolated linearly."""
    torch_vmap_max_m: int | None
    """Largest M run by torch-vmap (None: all); larger M are not run."""
    memory_m: int | None
    """Grid size of the peak-memory check (softmax, its own process); None: skipped."""
    peak_repeats: int
    """Repeats of the 2048³ GEMM, each time the peak is measured."""
    peak_twice: bool
    """Measure the peak before and after the variants (the higher counts), not only before."""
    sharded_devices: int | None = None
    """Virtual CPU devices of initjax-sharded (None: ``os.cpu_count()``)."""
    workloads: tuple[str, ...] = ("softmax", "mlp")
    eval_share_m: int | None = None
    """M of the evaluation-share measurement (whole epochs, full data); None: skipped."""
    scaling_ms: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """(workload, Ms) of the large-grid scaling runs (time and memory per M); () skips them."""
    scaling_steps: int = 20
    """Batches timed per scaling point (scaled to an epoch)."""
    scaling_devices: tuple[int, ...] = (1, 2)
    """Device counts of the scaling runs (virtual CPU devices on a CPU)."""
    compile_repeats: int = 3
    """Cold compiles timed per variant and M (median); each also costs its compile time."""


CONFIGS = {
    "quick": BenchGrid(
        ms=(1, 4), steps=10, repeats=2, loop_max_m=None, torch_vmap_max_m=None, memory_m=None,
        peak_repeats=3, peak_twice=False, eval_share_m=4, compile_repeats=1,
        scaling_ms=(("softmax", (8, 16)),), scaling_steps=4, scaling_devices=(1,),
    ),
    "full": BenchGrid(
        ms=(1, 4, 16, 64, 256), steps=None, repeats=5, loop_max_m=16, torch_vmap_max_m=64,
        memory_m=1024, peak_repeats=5, peak_twice=True, eval_share_m=64,
        scaling_ms=(("softmax", (256, 1024, 4096)), ("mlp", (64, 256, 1024))),
    ),
}  # fmt: skip
SUBPROCESS_RSS = "VmHWM of its own process (whole process, all its M)"


def _row(workload: str, variant: str, m: int, status: str, note: str = "", **values: Any) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(workload=workload, variant=variant, M=m, status=status, note=note, **values)
    return row


def _sanity(name: str, out: dict[str, B.Outcome], sharded_loss: float | None) -> dict[str, Any]:
    """M = 1: the JAX variants train the same run; torch's first loss equals JAX's."""
    ref = out["jax-loop"]
    assert ref.params0 is not None and ref.first_loss is not None
    losses = {v: float(o.mean_loss[0]) for v, o in out.items()}
    if sharded_loss is not None:
        losses["initjax-sharded"] = sharded_loss
    diffs = {
        v: max(float(np.max(np.abs(o.params0[k] - ref.params0[k]))) for k in ref.params0)
        for v, o in out.items()
        if o.params0 is not None
    }
    jax_ok = all(
        np.isclose(loss, losses["jax-loop"], rtol=SANITY_RTOL) and diffs.get(v, 0.0) <= PARAM_ATOL
        for v, loss in losses.items()
        if not v.startswith("torch")
    )
    torch_first = {v: o.first_loss for v, o in out.items() if v.startswith("torch")}
    torch_ok = all(
        t is not None and np.isclose(t, ref.first_loss, rtol=SANITY_RTOL)
        for t in torch_first.values()
    )
    return {
        "workload": name,
        "mean_loss": losses,
        "max_abs_param_diff_vs_jax_loop": diffs,
        "jax_first_loss": ref.first_loss,
        "torch_first_loss": torch_first,
        "ok_jax": bool(jax_ok),
        "ok_torch": bool(torch_ok) if torch_first else None,
    }


def make_benches(w: B.Workload, s: BenchGrid, state: Any, m: int, rows: list) -> dict[str, B.Bench]:
    """The in-process variants that run at this M; rows for those that do not."""
    out = {}
    default = f"initjax-{cell_layout.layout_for(w.cfg.model, m)}"
    for v, make in IN_PROCESS.items():
        if v == default:
            rows.append(
                _row(w.name, v, m, "not run", "the model's default layout: the initjax row")
            )
            continue
        cap = {**dict.fromkeys(LOOPS, s.loop_max_m), "torch-vmap": s.torch_vmap_max_m}.get(v)
        if cap is not None and m > cap:
            if v not in LOOPS:  # loops are extrapolated instead
                rows.append(_row(w.name, v, m, "not run", f"M > {cap} (settings)"))
            continue
        bench = make(w, state, m)
        if bench is None:
            rows.append(_row(w.name, v, m, "not run", "torch not installed (initjax[bench])"))
        else:
            out[v] = bench
    return out


def _measure(w: B.Workload, s: BenchGrid, monitor: BS.RssMonitor, progress: bool) -> dict[str, Any]:
    """Time the in-process variants of one workload at every M (interleaved repeats)."""
    mesh = shard.grid_mesh([jax.devices()[0]])
    rows: list[dict] = []
    programs: dict[str, list[str]] = {}
    outcomes: dict[str, B.Outcome] = {}
    compiled: dict[str, tuple[int, float | None]] = {}
    evaluated = None
    states = B.initial_states(w, max(s.ms))
    for m in s.ms:
        state = B.place(states, m, mesh)
        benches = make_benches(w, s, state, m, rows)
        first: dict[str, float] = {}
        rss: dict[str, float] = {}
        times: dict[str, list[float]] = {v: [] for v in benches}
        for v, bench in benches.items():  # warm-up; its outcome feeds the sanity check
            bench.reset()
            monitor.reset()
            first[v], read = B.timed(bench.run)
            rss[v] = monitor.peak_mb
            outcome = read()
            outcomes.update({v: outcome} if m == 1 else {})
            evaluated = outcome.evaluated if v == "jax-seq" else evaluated
        order = list(benches)
        for r in range(s.repeats):  # a rotating order: no variant always runs first
            for v in order[r % len(order) :] + order[: r % len(order)]:
                benches[v].reset()
                monitor.reset()
                times[v].append(B.timed(benches[v].run)[0])
                rss[v] = max(rss[v], monitor.peak_mb)
        for v, bench in benches.items():
            note = ""
            if v in ("jax-loop", "jax-seq"):  # one program for every M: compiled once
                note = "" if v not in compiled else f"same program as M = {compiled[v][0]}"
                compiled.setdefault(v, (m, bench.compile_s))
                bench.compile_s = compiled[v][1]
            if bench.dots is not None and v != "jax-loop" and not note:
                programs[f"{v} M={m}"] = bench.dots
            rows.append(_row(w.name, v, m, "measured", note, process="main", devices=1,
                             compile_s=bench.compile_s, first_call_s=first[v], times_s=times[v],
                             rss_peak_mb=rss[v], rss_source=monitor.source))  # fmt: skip
        if progress:
            done = ", ".join(f"{v} {statistics.median(t):.3g}s" for v, t in times.items())
            print(f"[throughput] {w.name} M={m}: {done}", file=sys.stderr, flush=True)
        del state, benches
    return {"rows": rows, "programs": programs, "outcomes": outcomes, "evaluated": evaluated}


def _extrapolate(rows: list[dict], s: BenchGrid) -> None:
    """Loop variants past ``loop_max_m``: M × the per-run time at the largest measured M."""
    for name, v in itertools.product(s.workloads, LOOPS):
        measured = [
            r for r in rows if (r["workload"], r["variant"], r["status"]) == (name, v, "measured")
        ]
        if s.loop_max_m is None or not measured:
            continue
        base = max(measured, key=lambda r: r["M"])
        per_run = statistics.median(base["times_s"]) / base["M"]
        for m in (m for m in s.ms if m > base["M"]):
            note = f"{m} × the per-run time at M = {base['M']} (the runs are sequential)"
            rows.append(_row(name, v, m, "extrapolated", note, process="main", devices=1,
                             compile_s=base["compile_s"], times_s=[per_run * m]))  # fmt: skip


def _sharded(s: BenchGrid, on_cpu: bool, progress: bool) -> tuple[list[dict], dict | None]:
    """initjax-sharded rows, from a worker process with N devices (N virtual CPU devices)."""
    n = (s.sharded_devices or os.cpu_count() or 1) if on_cpu else jax.device_count()

    def not_run(why: str) -> list[dict]:
        return [_row(w, "initjax-sharded", m, "not run", why) for w in s.workloads for m in s.ms]

    if n < 2:
        return not_run("one CPU core" if on_cpu else "one accelerator device"), None
    if progress:
        print(f"[throughput] initjax-sharded on {n} devices (subprocess)", file=sys.stderr)
    spec = {"cpu_devices": n if on_cpu else None, "workloads": list(s.workloads),
            "ms": list(s.ms), "steps": s.steps, "repeats": s.repeats,
            "compile_repeats": s.compile_repeats}  # fmt: skip
    answer = W.launch_worker(spec, timeout=4 * 3600)
    if "error" in answer:
        return not_run(f"worker failed: {answer['error'][-300:]}"), None
    rows = []
    for r in answer["rows"]:
        pad = r["cells"] - r["M"]
        rows.append(_row(r["workload"], "initjax-sharded", r["M"], "measured",
                         f"{r['cells']} cells ({pad} padding)" if pad else "",
                         process="subprocess", devices=answer["devices"], compile_s=r["compile_s"],
                         first_call_s=r["first_call_s"], times_s=r["times_s"],
                         rss_peak_mb=answer["rss_mb"], rss_source=SUBPROCESS_RSS))  # fmt: skip
    return rows, answer


def _finish(rows: list[dict], works: dict[str, dict], peak: float, steps_per_epoch: int) -> None:
    """Fill the derived columns (per epoch, per model, GFLOP/s, % of peak, speedups)."""
    for r in (r for r in rows if r["status"] != "not run"):
        w = works[r["workload"]]
        seconds = statistics.median(r["times_s"])
        r["steps_measured"] = w["steps_measured"]
        r["s_per_epoch"] = seconds * steps_per_epoch / w["steps_measured"]
        r["ms_per_model_epoch"] = 1e3 * r["s_per_epoch"] / r["M"]
        r["model_epochs_per_s"] = r["M"] / r["s_per_epoch"]
        r["gflops"] = r["M"] * w["steps_measured"] * w["flops_per_step"] / seconds / 1e9
        r["pct_peak"] = 100 * r["gflops"] / peak
    by = {(r["workload"], r["variant"], r["M"]): r for r in rows}
    for r in (r for r in rows if r["s_per_epoch"] is not None):
        for ref in ("torch-loop", "jax-seq"):
            other = by.get((r["workload"], ref, r["M"]))
            if other is not None and other["s_per_epoch"] is not None:
                r[f"speedup_vs_{ref.replace('-', '_')}"] = other["s_per_epoch"] / r["s_per_epoch"]


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    s = CONFIGS[check_scale(scale)]
    data = datasets.load("fashion_mnist")
    info = BS.machine()
    wall: dict[str, float] = {}
    t0 = time.perf_counter()
    peaks = [BS.gemm_peak(repeats=s.peak_repeats)]
    wall["peak"] = time.perf_counter() - t0
    monitor = BS.RssMonitor()
    rows: list[dict] = []
    programs, outcomes, works = {}, {}, {}
    evaluated = False
    softmax: B.Workload | None = None
    for name in s.workloads:
        t0 = time.perf_counter()
        w = B.workload(name, data, s.steps, jax.devices()[0], s.compile_repeats)
        softmax = w if name == "softmax" else softmax
        works[name] = {
            "config": asdict(w.cfg),
            "weights_P": B.weight_count(w.cfg),
            "flops_per_step": B.flops_per_step(w.cfg),
            "flops_formula": ("4" if w.cfg.model == "softmax" else "6") + "·B·P",
            "batch": w.cfg.batch_size,
            "steps_measured": w.steps,
        }
        works[name]["torch_threads"] = BT.tune_torch_threads(w)
        got = _measure(w, s, monitor, progress)
        rows += got["rows"]
        programs[name], outcomes[name] = got["programs"], got["outcomes"]
        evaluated = evaluated or bool(got["evaluated"])
        wall[name] = time.perf_counter() - t0
    monitor.close()
    _extrapolate(rows, s)
    t0 = time.perf_counter()
    sharded_rows, answer = _sharded(s, info["platform"] == "cpu", progress)
    rows += sharded_rows
    wall["sharded"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    memory = W.memory_peak(s.memory_m, s.steps)
    wall["memory"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ceiling = [BS.gemm_ceiling(softmax, m, s.repeats) for m in s.ms] if softmax else []
    wall["ceiling"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluation = BS.evaluation_share(data, s.eval_share_m, s.repeats) if s.eval_share_m else None
    wall["evaluation_share"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scaling = BS.scaling(dict(s.scaling_ms), s.scaling_steps, s.scaling_devices)
    wall["scaling"] = time.perf_counter() - t0
    if s.peak_twice:
        peaks.append(BS.gemm_peak(repeats=s.peak_repeats))
    peak = max(peaks, key=lambda p: p["gflops"])
    steps_per_epoch = data.num_train // B.BATCH
    _finish(rows, works, peak["gflops"], steps_per_epoch)
    for c in ceiling:
        c["pct_peak"] = 100 * c["gflops"] / peak["gflops"]
    by_m = {c["M"]: c for c in ceiling}
    for r in rows:  # the softmax grid against the same-shape GEMM-only ceiling
        if r["workload"] == "softmax" and r["gflops"] and r["M"] in by_m:
            r["pct_ceiling"] = 100 * r["gflops"] / by_m[r["M"]]["gflops"]
    sharded_m1 = {
        r["workload"]: r["mean_loss"][0] for r in (answer or {}).get("rows", []) if r["M"] == 1
    }
    sanity = {n: _sanity(n, o, sharded_m1.get(n)) for n, o in outcomes.items() if "jax-loop" in o}
    info["loadavg_end"] = list(os.getloadavg())
    rank = {v: i for i, v in enumerate(VARIANTS)}
    rows.sort(key=lambda r: (s.workloads.index(r["workload"]), r["M"], rank[r["variant"]]))
    report = {
        "scale": scale, "settings": asdict(s), "steps_per_epoch": steps_per_epoch,
        "machine": info, "peak": peak | {"all": peaks}, "workloads": works, "rows": rows,
        "sanity": sanity, "memory": memory, "evaluation_in_epoch": evaluated,
        "softmax_gemm_ceiling": ceiling, "evaluation_share": evaluation, "scaling": scaling,
        "default_layouts": {n: {m: cell_layout.layout_for(B.WORKLOADS[n].model, m) for m in s.ms}
                            for n in s.workloads},
        "cell_groups": {n: B.cell_groups(B.WORKLOADS[n], s.ms) for n in s.workloads},
        "programs": programs, "wall_s": wall,
    }  # fmt: skip
    results.write_json(Path(out_dir) / "results.json", report)
    results.write_text(Path(out_dir) / "results.md", markdown(report))
    bad = {n: c for n, c in sanity.items() if not c["ok_jax"] or c["ok_torch"] is False}
    if bad:
        raise AssertionError(f"throughput: variants disagree at M = 1 (see results.json): {bad}")


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
