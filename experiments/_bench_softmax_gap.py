"""Where the softmax grid's step goes beyond its GEMMs (issue 18): a ladder of epochs.

The throughput benchmark compares the softmax grid with a "GEMM-only ceiling": an epoch of
``z = x·W``, ``W -= lr·xᵀ(z − t)/B`` with the M models side by side as one (D, M·K) matrix.
This script climbs from that ceiling to initjax's grid one piece at a time, each rung a
``lax.scan`` over the same batches of Fashion-MNIST (batch 256, the throughput workload),
timed alone and interleaved, so that the gap splits into its parts::

    python experiments/_bench_softmax_gap.py                  # M = 64 and 256
    python experiments/_bench_softmax_gap.py --ms 16 --steps 40 --repeats 5

Rungs: ``gemm`` (the ceiling); ``+softmax`` (t replaced by the per-model softmax of z);
``+bias`` (and a bias per model, with its gradient); ``+lr per cell`` (each model its own
traced lr, as a grid has); ``+loss`` (each model's mean cross-entropy of the batch returned
per step, as the grid's batch_loss); ``+gather`` (each step gathers its batch from the
examples by index, as the grid's step does, instead of scanning over batches gathered once);
``initjax`` (``sweep.advance_grid``, the grid itself, in
its default cell layout). Each line: ms per step, GFLOP/s counted like the throughput rows
(4·B·P per model and step) and the share of the ceiling.

Measured on 2 idle cores of an Intel Xeon (family 6 model 167), jax 0.10.2, 2026-12-01
(``--ms 16,64,256 --steps 80 --repeats 7``; two runs before it, without the gather rung,
agreed within 3 points), share of the GEMM-only ceiling per rung:

====================  =======  =======  =======
rung                  M = 16   M = 64   M = 256
====================  =======  =======  =======
gemm (the ceiling)    100%     100%     100%
+softmax              85%      90%      93%
+bias                 83%      82%      82%
+lr per cell          85%      83%      81%
+loss                 83%      78%      76%
+gather               80%      77%      75%
initjax               62%      70%      73%
====================  =======  =======  =======

(ceiling 186 / 248 / 262 GFLOP/s; initjax in its default layout: "front" at 16, "gemm" from
32). The softmax and the bias gradient (a column sum of the (B, M·K) error) each cost up to a
tenth of the ceiling, the loss 2–5 points and the gather 1–3, so a step that computes softmax
regression's whole update cannot come within 90% of GEMMs that skip them. initjax is within
2 points of the hand-written full step at M = 256 and 7 at 64; at 16 it is 18 points under
it, which is what the grid's own machinery (vmapped optimizer and metrics, divergence checks,
the cell axis in front) costs where the GEMMs are small.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B

from initjax import cell_layout, shard
from initjax import data as datasets

RUNGS = ("gemm", "+softmax", "+bias", "+lr per cell", "+loss", "+gather", "initjax")


def _epoch(rung: str, m: int, k: int) -> Callable:
    """One jitted epoch of ``rung`` over batches (x: N×B×D, y: N×B; for "+gather" the
    examples x: n×D, y: n and the batch order N×B), weights (D, M·K)."""
    soft = rung != "gemm"
    bias = rung in RUNGS[2:]
    per_cell = rung in RUNGS[3:]
    loss = rung in RUNGS[4:]
    gather = rung == "+gather"
    scale = B.LR / B.BATCH

    def step_(carry: tuple, x: jax.Array, y: jax.Array) -> tuple:
        w, b, lr = carry
        t = jax.nn.one_hot(y, k, dtype=jnp.float32)  # (B, K)
        z = x @ w  # (B, M·K)
        if bias:
            z = z + b[None, :]
        if soft:
            z3 = z.reshape(len(x), m, k)
            p3 = jax.nn.softmax(z3, axis=-1)
            err = (p3 - t[:, None, :]).reshape(len(x), m * k)
        else:
            err = z - jnp.tile(t, (1, m))
        g = x.T @ err
        step = jnp.repeat(lr, k) * scale if per_cell else jnp.full(m * k, scale)
        w = w - step[None, :] * g
        if bias:
            b = b - step * err.sum(0)
        out = None
        if loss:
            logp = jax.nn.log_softmax(z.reshape(len(x), m, k), axis=-1)
            idx = jnp.broadcast_to(y[:, None, None], (len(x), m, 1))
            out = -jnp.mean(jnp.take_along_axis(logp, idx, axis=-1), axis=(0, 2))
        return (w, b, lr), out

    @jax.jit
    def epoch(
        w: jax.Array, b: jax.Array, lr: jax.Array, x: jax.Array, y: jax.Array, order: jax.Array
    ) -> tuple:
        if gather:  # each step gathers its batch, as the grid's step does
            return jax.lax.scan(lambda c, i: step_(c, x[i], y[i]), (w, b, lr), order)
        return jax.lax.scan(lambda c, xy: step_(c, *xy), (w, b, lr), (x, y))

    return epoch


def setup(
    m: int, steps: int
) -> tuple[B.Workload, dict[str, tuple[Callable, tuple]], Any, Callable]:
    """At M models on ``steps`` batches: the workload; per hand-written rung, its jitted epoch
    and arguments; initjax's placed grid state; and a thunk that runs the grid's epoch
    (blocking, from a fresh copy of the state, which ``advance_grid`` donates)."""
    w_ = B.workload("softmax", datasets.load("fashion_mnist"), steps, jax.devices()[0], 1)
    k, d = w_.cfg.num_classes, w_.arrays.x_train.shape[1]
    order = jnp.asarray(w_.order_NxB)
    state = (jnp.zeros((d, m * k)), jnp.zeros(m * k), jnp.full(m, B.LR, jnp.float32))
    batched = (w_.arrays.x_train[order], w_.arrays.y_train[order], order)  # gathered once
    examples = (w_.arrays.x_train, w_.arrays.y_train, order)
    rungs = {
        r: (_epoch(r, m, k), (*state, *(examples if r == "+gather" else batched)))
        for r in RUNGS[:-1]
    }
    grid_state = B.place(B.initial_states(w_, m), m, shard.grid_mesh([jax.devices()[0]]))
    bench = B.initjax(w_, grid_state, m)

    def grid() -> None:
        bench.reset()  # untimed in the throughput benchmark; a copy of the state, small here
        bench.run()

    return w_, rungs, grid_state, grid


def ladder(m: int, steps: int, repeats: int) -> list[dict]:
    """Median seconds per step of every rung at M models (interleaved repeats)."""
    w_, rungs, _, grid = setup(m, steps)
    runs: dict[str, Callable[[], None]] = {
        r: lambda fn=fn, args=args: jax.block_until_ready(fn(*args))
        for r, (fn, args) in rungs.items()
    }
    runs["initjax"] = grid
    times: dict[str, list[float]] = {r: [] for r in runs}
    for fn in runs.values():
        fn()  # compile and warm up
    for i in range(repeats):
        for r in list(runs)[i % len(runs) :] + list(runs)[: i % len(runs)]:
            times[r].append(B.timed(runs[r])[0])
    flops = B.flops_per_step(w_.cfg) * m
    ceiling = statistics.median(times["gemm"])
    return [
        {"M": m, "rung": r, "ms_per_step": 1e3 * statistics.median(t) / w_.steps,
         "gflops": flops * w_.steps / statistics.median(t) / 1e9,
         "of_ceiling": ceiling / statistics.median(t)}
        for r, t in times.items()
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    B.size_args(p, "64,256", 80, "rung")
    a = p.parse_args(argv)
    ms = B.sizes(p, a)
    for m in ms:
        layout = cell_layout.layout_for("softmax", m)
        for r in ladder(m, a.steps, a.repeats):
            name = f"{r['rung']} ({layout})" if r["rung"] == "initjax" else r["rung"]
            print(f"M = {m:4d} {name:16s} {r['ms_per_step']:7.3f} ms/step "
                  f"{r['gflops']:6.1f} GFLOP/s {100 * r['of_ceiling']:4.0f}% of the ceiling",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
