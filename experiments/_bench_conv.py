"""Conv nets on XLA:CPU: what initjax.cpu_conv and the "map" cell layout buy, measured here.

Run: ``python experiments/_bench_conv.py`` (``--small`` for a seconds-long smoke run). It times
SGD steps of a vanilla tanh CNN (3×3 convs, SAME, 28×28 → 14×14 by a stride-2 first layer,
batch 32) under ``lax.scan`` — how initjax trains — as one run and as a grid of cells, with
and without :func:`initjax.cpu_conv.canonical`, the grid vmapped ("front") or a cell at a
time ("map"), and prints ms per step and per cell-step, compile seconds, and the ratios.
Every variant's parameters after the steps are checked equal to the plain single-cell ones.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from initjax import cpu_conv


class TanhCNN(nn.Module):
    channels: int
    layers: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.tanh(nn.Conv(self.channels, (3, 3), strides=2)(x.reshape(-1, 28, 28, 1)))
        for _ in range(self.layers - 1):
            x = nn.tanh(nn.Conv(self.channels, (3, 3))(x))
        return nn.Dense(10)(x.mean((1, 2)))


def _timed(fn: Callable[..., Any], args: tuple, repeats: int) -> tuple[float, float, Any]:
    """(compile s, run s per call (median of ``repeats``), the result)."""
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t
    out = jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - t)
    return compile_s, float(np.median(runs)), out


def measure(channels: int = 16, layers: int = 8, cells: int = 8, steps: int = 4,
            repeats: int = 3) -> list[dict[str, Any]]:  # fmt: skip
    model = TanhCNN(channels, layers)
    kx, ky, kp = jax.random.split(jax.random.key(0), 3)
    x = jax.random.uniform(kx, (steps, 32, 784))
    y = jax.random.randint(ky, (steps, 32), 0, 10)
    grid = jax.vmap(lambda k: model.init(k, x[0]))(jax.random.split(kp, cells))
    one = jax.tree.map(lambda a: a[0], grid)  # cell 0

    def loss(p: Any, xb: jax.Array, yb: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(model.apply(p, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], 1))

    def sgd(p: Any, xb: jax.Array, yb: jax.Array) -> Any:
        return jax.tree.map(lambda a, g: a - 0.05 * g, p, jax.grad(loss)(p, xb, yb))

    def scanned(step: Callable[..., Any]) -> Callable[..., Any]:
        def train(p: Any, x: jax.Array, y: jax.Array) -> Any:
            return jax.lax.scan(lambda p, b: (step(p, *b), None), p, (x, y))[0]

        return train

    front = jax.vmap(sgd, in_axes=(0, None, None))

    def cellwise(p: Any, xb: jax.Array, yb: jax.Array) -> Any:
        return jax.lax.map(lambda q: sgd(q, xb, yb), p)

    variants = [
        ("one step, jitted alone", 1, lambda p, x, y: sgd(p, x[0], y[0]), one, 1),
        ("1 cell under scan", 1, scanned(sgd), one, steps),
        ("1 cell under scan, cpu_conv", 1, scanned(cpu_conv.canonical(sgd)), one, steps),
        (f"{cells} cells vmapped (front)", cells, scanned(front), grid, steps),
        (f"{cells} cells vmapped, cpu_conv", cells, scanned(cpu_conv.canonical(front)), grid, steps),
        (f"{cells} cells lax.map (map)", cells, scanned(cellwise), grid, steps),
        (f"{cells} cells lax.map, cpu_conv", cells, scanned(cpu_conv.canonical(cellwise)), grid, steps),
    ]  # fmt: skip
    rows, reference = [], {}
    for name, m, fn, params, n_steps in variants:
        compile_s, run_s, out = _timed(fn, (params, x, y), repeats)
        first = jax.tree.map(lambda a, m=m: a[0] if m > 1 else a, out)
        key = n_steps
        if key in reference:  # every variant trains cell 0 the same way
            for a, b in zip(jax.tree.leaves(reference[key]), jax.tree.leaves(first), strict=True):
                np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
        reference.setdefault(key, first)
        ms_step = 1e3 * run_s / n_steps
        rows.append({"variant": name, "cells": m, "ms_per_step": ms_step,
                     "ms_per_cell_step": ms_step / m, "compile_s": compile_s})  # fmt: skip
    return rows


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="4 channels, 3 layers, 2 cells")
    args = ap.parse_args(argv)
    kw = {"channels": 4, "layers": 3, "cells": 2, "repeats": 1} if args.small else {}
    rows = measure(**kw)
    base = rows[0]["ms_per_cell_step"]
    print(f"{_cpu_name()}, {jax.device_count()} device(s), "
          f"jax {jax.__version__}")  # fmt: skip
    print(
        f"{'variant':34s} {'ms/step':>9s} {'ms/cell-step':>13s} {'× alone':>8s} {'compile s':>10s}"
    )
    for r in rows:
        print(f"{r['variant']:34s} {r['ms_per_step']:9.1f} {r['ms_per_cell_step']:13.1f} "
              f"{r['ms_per_cell_step'] / base:8.2f} {r['compile_s']:10.2f}")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
