"""Which cell layout trains a grid faster, per model and M: ``initjax.cell_layout.GEMM_FROM``.

The throughput benchmark (``initjax run throughput --full``, ~75 min) times both layouts inside
a long run with many other variants; this one times only them, interleaved, on ``steps``
batches of Fashion-MNIST (batch 256, SGD, the throughput workloads), so that the table can be
checked in a few minutes on an otherwise idle machine::

    python experiments/_bench_layouts.py                       # softmax and mlp, M = 4 … 256
    python experiments/_bench_layouts.py mlp --ms 4,8,16 --steps 20 --repeats 7

Each line: seconds per step in each layout (median of ``repeats`` runs, alternating which goes
first) and gemm / front (below 1: "gemm" is faster), with each layout's spread (max − min
over the median) as the noise to read it against.

Measured on 2 idle cores of an Intel Xeon (family 6 model 167), jax 0.10.2, 2026-12-01,
``--repeats 7``, 80 steps for softmax and 20 for the MLP, gemm / front:
softmax 0.98 / 1.06 / 1.00 / 1.00 / 0.99 / 1.00 at M = 8 / 16 / 32 / 64 / 128 / 256 (spreads
2–18%), MLP 784-256-10 0.89 / 0.89 / 0.92 / 0.89 / 0.89 at M = 8 / 16 / 32 / 64 / 128
(spreads 2–11%).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B

from initjax import data as datasets
from initjax import shard

LAYOUTS = ("front", "gemm")


def compare(name: str, ms: list[int], steps: int, repeats: int) -> list[dict]:
    """Per M: median seconds per step of each layout, their ratio and spreads."""
    w = B.workload(name, datasets.load("fashion_mnist"), steps, jax.devices()[0], 1)
    states = B.initial_states(w, max(ms))
    mesh = shard.grid_mesh([jax.devices()[0]])
    rows = []
    for m in ms:
        placed = B.place(states, m, mesh)
        benches = {v: B.initjax(w, placed, m, layout=v) for v in LAYOUTS}
        for bench in benches.values():  # warm-up
            bench.reset()
            B.timed(bench.run)
        times: dict[str, list[float]] = {v: [] for v in LAYOUTS}
        for r in range(repeats):
            for v in LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]:
                benches[v].reset()
                times[v].append(B.timed(benches[v].run)[0])
        med = {v: float(np.median(t)) for v, t in times.items()}
        rows.append({
            "workload": name, "M": m, "steps": w.steps,
            **{f"{v}_s_per_step": med[v] / w.steps for v in LAYOUTS},
            "gemm_over_front": med["gemm"] / med["front"],
            **{f"{v}_spread": float(np.ptp(times[v])) / med[v] for v in LAYOUTS},
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", default=["softmax", "mlp"], choices=sorted(B.WORKLOADS))
    B.size_args(p, "4,8,16,32,64,128,256", 40, "layout")
    a = p.parse_args(argv)
    ms = B.sizes(p, a)
    for name in a.models:
        for r in compare(name, ms, a.steps, a.repeats):
            print(
                f"{name:8s} M = {r['M']:4d}: front {r['front_s_per_step'] * 1e3:8.2f} ms/step, "
                f"gemm {r['gemm_s_per_step'] * 1e3:8.2f} ms/step, gemm / front "
                f"{r['gemm_over_front']:.3f} (spreads {r['front_spread']:.0%}, "
                f"{r['gemm_spread']:.0%})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
