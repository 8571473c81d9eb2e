"""Why the MLP grid falls from ~90% of the GEMM peak at M = 16 to ~73% at M = 64, and what
training its cells in groups buys (issue 18).

The MLP 784-256-10 grid in its "gemm" layout keeps the first layer of all M runs as one
(784, M·256) matrix. Per step that layer costs a forward GEMM ``x·W``, a weight-gradient GEMM
``xᵀ·δ`` (the same shape of output as W) and the SGD update ``W − lr·G`` (each run its own
lr). This script times the three alone, on the throughput workload's shapes (batch 256), per
M, interleaved, next to the whole grid step (``sweep.advance_grid``) with all M cells at once
("gemm" forced) and in initjax's default, which on a CPU trains a grid past
``cell_layout.GROUP_BYTES`` (16 MiB) in groups of cells, one group after another for an epoch's
SGD steps (:func:`initjax.cell_layout.group_size`), so the per-model cost can be read piece by
piece as W grows past the caches::

    python experiments/_bench_mlp_memory.py                          # M = 8 … 96
    python experiments/_bench_mlp_memory.py --ms 16,64 --repeats 5

Each line: W's size, milliseconds per model and step of each piece (medians of ``repeats``),
the update's effective bandwidth (it reads W and G and writes W: 3 × W's bytes), and the
seconds to compile the grid's program all at once and in initjax's default.

Measured on 2 idle cores of an Intel Xeon (family 6 model 167), jax 0.10.2, 2026-12-02
(``--repeats 7``, 20 grid steps), ms per model and step:

====  ======  =====  =====  ======  ===========  =========
M     W (MB)  x·W    xᵀ·δ   update  update GB/s  grid step
====  ======  =====  =====  ======  ===========  =========
8     6       0.59   0.49   0.14    18           1.20
16    13      0.66   0.57   0.15    16           1.25
32    26      0.60   0.62   0.12    21           1.31
64    51      0.53   0.73   0.24    10           1.31
96    77      0.55   0.84   0.24    10           1.42
====  ======  =====  =====  ======  ===========  =========

Once the first layer's weights pass ~26 MB the update's bandwidth halves (its W and G no longer
stay in the cache between steps) and the weight-gradient GEMM, whose output is as large as W,
slows 1.3–1.5× per model; the forward GEMM does not. The pieces timed alone do not add up to
the grid's step (1.50 against 1.31 ms at M = 64: inside one program XLA overlaps and fuses
them), so read them as trends in M, not as a split of the step. The grid's own step per model
rose 5% from M = 16 to 64 here, 18% in ``_bench_layouts.py`` the same night and 24% in the
throughput run (``docs/throughput/``): the direction holds, its size is within this
machine's run-to-run noise.

In groups of 16 cells (``--ms 16,32,64,128 --repeats 5``, the same machine, 2026-12-02 05:40,
nothing else running), ms per model and step, all cells at once against in groups:

====  ======  =============  =============  =====
M     W (MB)  all at once    groups of 16   ratio
====  ======  =============  =============  =====
16    13      1.158          1.161 (one)    1.00
32    26      1.187          1.155          0.97
64    51      1.292          1.167          0.90
128   103     1.466          1.203          0.82
====  ======  =============  =============  =====

In groups the cost per model stays within 4% of M = 16's up to M = 128, where all at once it
rises 27%. At 1.167 ms per model-step (6·B·P = 313 MFLOP) the grouped grid runs at 268
GFLOP/s; jnp's 2048³ GEMM reached 254 GFLOP/s (best of 10) in a separate process minutes
before. A hand-written version of the same grouping (``jax.lax.map`` over 4 groups of 16 of
``train.train_epochs_grid``, 40 steps, 9 interleaved repeats) gave the same ratio (0.90) and
bit-identical batch losses.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B

from initjax import cell_layout, shard
from initjax import data as datasets

IN, HIDDEN, BATCH = 784, 256, 256
PIECES = ("forward", "weight_grad", "update", "grid", "grouped")


@jax.jit
def forward(x: jax.Array, w: jax.Array) -> jax.Array:
    return x @ w


@jax.jit
def weight_grad(x: jax.Array, delta: jax.Array) -> jax.Array:
    return x.T @ delta


@jax.jit
def update(w: jax.Array, g: jax.Array, lr: jax.Array) -> jax.Array:
    """SGD on the (IN, M·HIDDEN) layer, each run's block of HIDDEN columns with its own lr."""
    return w - jnp.repeat(lr, w.shape[1] // lr.shape[0])[None, :] * g


def _ready(fn: Callable[..., jax.Array], *args: jax.Array) -> jax.Array:
    return jax.block_until_ready(fn(*args))


def _seconds(calls: dict[str, Callable[[], object]], grid: dict[str, B.Bench], piece: str) -> float:
    """Wall seconds of one piece; the grid donates its state, so each of its runs starts
    from a fresh copy."""
    if piece in ("grid", "grouped"):
        grid[piece].reset()
    return B.timed(calls[piece])[0]


def measure(ms: list[int], steps: int, repeats: int) -> list[dict]:
    """Per M: ms per model and step of each piece (medians) and the update's bandwidth."""
    w = B.workload("mlp", datasets.load("fashion_mnist"), steps, jax.devices()[0], 1)
    states = B.initial_states(w, max(ms))
    mesh = shard.grid_mesh([jax.devices()[0]])
    key = jax.random.key(0)
    x = jax.random.normal(key, (BATCH, IN))
    rows = []
    for m in ms:
        kw, kd = jax.random.split(jax.random.fold_in(key, m))
        wm = jax.random.normal(kw, (IN, m * HIDDEN))
        delta = jax.random.normal(kd, (BATCH, m * HIDDEN))
        lr = jnp.full((m,), 0.1)
        grad = weight_grad(x, delta)
        placed = B.place(states, m, mesh)
        grid = {  # all M cells at once in "gemm"; initjax's default (groups past the cache)
            "grid": B.initjax(w, placed, m, layout="gemm"),
            "grouped": B.initjax(w, placed, m),
        }
        calls = {
            "forward": functools.partial(_ready, forward, x, wm),
            "weight_grad": functools.partial(_ready, weight_grad, x, delta),
            "update": functools.partial(_ready, update, wm, grad, lr),
            "grid": grid["grid"].run,
            "grouped": grid["grouped"].run,
        }
        for piece in PIECES:  # warm-up (compiles)
            _seconds(calls, grid, piece)
        times: dict[str, list[float]] = {p: [] for p in PIECES}
        for r in range(repeats):  # rotating order
            for piece in PIECES[r % len(PIECES) :] + PIECES[: r % len(PIECES)]:
                times[piece].append(_seconds(calls, grid, piece))
        med = {p: float(np.median(t)) for p, t in times.items()}
        med["grid"] /= w.steps  # the grids run ``steps`` batches; the others one
        med["grouped"] /= w.steps
        mb = wm.nbytes / 1e6
        rows.append({
            "M": m, "w_mb": mb, "group": cell_layout.group_size("mlp", m, placed.params),
            **{f"{p}_ms_per_model": 1e3 * med[p] / m for p in PIECES},
            **{f"{p}_compile_s": grid[p].compile_s for p in grid},
            "update_gb_per_s": 3 * mb / 1e3 / med["update"],
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    B.size_args(p, "8,16,32,64,96", 20, "piece")
    a = p.parse_args(argv)
    for r in measure(B.sizes(p, a), a.steps, a.repeats):
        print(
            f"M = {r['M']:4d}: W {r['w_mb']:6.1f} MB; ms per model and step: x·W "
            f"{r['forward_ms_per_model']:.3f}, xᵀ·δ {r['weight_grad_ms_per_model']:.3f}, update "
            f"{r['update_ms_per_model']:.3f} ({r['update_gb_per_s']:.1f} GB/s), grid step "
            f"{r['grid_ms_per_model']:.3f}, in groups of {r['group']} "
            f"{r['grouped_ms_per_model']:.3f}; compile s: grid {r['grid_compile_s']:.2f}, "
            f"default {r['grouped_compile_s']:.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
