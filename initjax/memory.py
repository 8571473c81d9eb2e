"""How much memory a sweep needs, estimated before anything is allocated.

The estimate counts what a grid holds at its peak: the dataset (placed once), the train state
of every cell, what one training step (activations, gradients, updated state) or one
evaluation chunk holds on top of that, per cell that runs at once, and the metrics kept on
the host. Good to a small factor: enough to refuse ``--seeds 100000`` or ``--hidden
100000,100000`` at once instead of swapping or hanging, and to split a grid into seed chunks
that fit (:mod:`initjax.plan`).

**Steps, for any model.** One cell's training step (forward, backward and optimizer update
on one batch) and one evaluation chunk are traced to jaxprs (``jax.make_jaxpr``: nothing is
compiled or allocated) and walked in program order, each intermediate held from the equation
that makes it to its last use (:func:`peak_bytes`). A grid needs that peak once per cell
that runs at the same time: every cell, or one in the "map" layout that conv nets use on a
CPU (:mod:`initjax.cell_layout`). So a user's model, a conv net or a BatchNorm net is counted
from its own graph, not from a formula for the built-in MLP. XLA fuses elementwise chains
away and adds scratch of its own: the whole estimate was 0.8–2.7× the argument, output and
scratch bytes of the compiled grid (``memory_analysis()``) for the MLP, a user's BatchNorm
MLP, the residual MLP and the conv net at M = 4 and 16 (``tests/test_memory.py``); the
formula it replaced gave 0.12–0.49× for the first two.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Any

import jax
import numpy as np
from jax.extend import core as jcore

from initjax import cell_layout
from initjax import data as datasets
from initjax import grid as engine
from initjax.train import (
    Config,
    DataArrays,
    build_model,
    evaluate,
    init_state,
    optimizer,
    train_step,
)

ENV = "INITJAX_MEMORY_LIMIT"
"""Environment variable overriding the limit, in bytes or with a unit (``8GB``, ``512MB``)."""


class TooBig(ValueError):
    """The grid's estimated memory exceeds the limit."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    total: int
    parts: dict[str, int]

    def describe(self) -> str:
        return ", ".join(f"{k} {size_text(v)}" for k, v in self.parts.items())


def size_text(n: float) -> str:
    """Bytes as ``"1.23 GB"``, ``"4.56 MB"`` or, below 10 kB, ``"1024 bytes"``."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    return f"{n / 1e6:.2f} MB" if n >= 1e4 else f"{n:.0f} bytes"


def _aval_bytes(aval: Any) -> int:
    try:
        return int(np.prod(aval.shape)) * int(aval.dtype.itemsize)
    except (AttributeError, TypeError):  # tokens and other non-array values
        return 0


def peak_bytes(jaxpr: Any) -> int:
    """Peak bytes of the intermediates ``jaxpr`` (a Jaxpr or ClosedJaxpr) holds at once.

    Equations run in program order; each output is held from its equation to its last use
    (the jaxpr's outputs to the end), and an equation with inner jaxprs (jit, scan, cond,
    custom derivatives) holds its largest inner peak (which includes its outputs) while it runs. Inputs and constants are
    not counted: they are the caller's.
    """
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    eqns = jaxpr.eqns
    last: dict[Any, int] = {}
    for i, eqn in enumerate(eqns):
        for v in eqn.invars:
            if isinstance(v, jcore.Var):
                last[v] = i
    for v in jaxpr.outvars:
        if isinstance(v, jcore.Var):
            last[v] = len(eqns)
    outside = {*jaxpr.invars, *jaxpr.constvars}
    live = peak = 0
    for i, eqn in enumerate(eqns):
        inner = max((peak_bytes(j) for j in jcore.jaxprs_in_params(eqn.params)), default=0)
        made = [v for v in eqn.outvars if not isinstance(v, jcore.DropVar)]
        peak = max(peak, live + max(inner, sum(_aval_bytes(v.aval) for v in made)))
        live += sum(_aval_bytes(v.aval) for v in made if v in last)
        for v in {v for v in eqn.invars if isinstance(v, jcore.Var)}:
            if last.get(v) == i and v not in outside:
                live -= _aval_bytes(v.aval)
    return peak


@functools.lru_cache(maxsize=64)
def _cell_activations(cfg: Config, x: Any, y: Any, eval_rows: int) -> tuple[int, int]:
    """Traced peak bytes of one cell's training step and of one evaluation chunk."""
    arrays = DataArrays(x, y, x, y)
    scalar = jax.ShapeDtypeStruct((), np.float32)
    state = jax.eval_shape(
        lambda a, s, g, lr: init_state(cfg, a, s, g, lr),
        arrays, jax.ShapeDtypeStruct((), np.int32), scalar, scalar,
    )  # fmt: skip
    model = build_model(cfg)
    batch = (
        jax.ShapeDtypeStruct((cfg.batch_size, *x.shape[1:]), x.dtype),
        jax.ShapeDtypeStruct((cfg.batch_size,), y.dtype),
    )
    step = functools.partial(train_step, model=model, tx=optimizer(cfg))
    chunk = (
        jax.ShapeDtypeStruct((eval_rows, *x.shape[1:]), x.dtype),
        jax.ShapeDtypeStruct((eval_rows,), y.dtype),
    )
    score = lambda p, b, xc, yc: evaluate(model, p, b, xc, yc, eval_rows)  # noqa: E731
    return (
        peak_bytes(jax.make_jaxpr(step)(state, batch)),
        peak_bytes(jax.make_jaxpr(score)(state.params, state.batch_stats, *chunk)),
    )


def estimate(cfg: Config, grid: engine.Grid, data: datasets.Dataset) -> Estimate:
    """The estimated peak memory of ``sweep.run(cfg, data, grid...)`` in bytes.

    Traces the grid's init and one cell's step abstractly (``jax.eval_shape``,
    ``jax.make_jaxpr``: nothing is computed or allocated), so a scheme argument that fails
    inside the model fails here too, before any write.
    """
    m = grid.size
    arrays = DataArrays._make(
        jax.ShapeDtypeStruct(a.shape, a.dtype)
        for a in (data.x_train, data.y_train, data.x_test, data.y_test)
    )
    cells = (
        jax.ShapeDtypeStruct((m,), np.int32),
        jax.ShapeDtypeStruct((m,), np.float32),
        jax.ShapeDtypeStruct((m,), np.float32),
    )
    state, first = jax.eval_shape(
        lambda a, s, g, lr: engine.init_grid(cfg, a, s, g, lr), arrays, *cells
    )
    nbytes = lambda tree: sum(  # noqa: E731
        int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree_util.tree_leaves(tree)
    )
    eval_rows = min(cfg.eval_batch_size, max(data.num_train, data.num_test))
    train_peak, eval_peak = _cell_activations(cfg, arrays.x_train, arrays.y_train, eval_rows)
    # Cells that run one after another (the "map" layout of conv nets on a CPU) need one step.
    at_once = 1 if cell_layout.layout_for(cfg.model, m, state.params) == "map" else m
    parts = {
        "data": sum(a.nbytes for a in (data.x_train, data.y_train, data.x_test, data.y_test)),
        "train state": nbytes(state),
        "steps": at_once * max(train_peak, eval_peak),
        "metrics": nbytes(first) * (cfg.epochs + 1),
    }
    return Estimate(int(sum(parts.values())), parts)


def limit() -> tuple[int, str]:
    """The memory a sweep may use, and where that number comes from."""
    if text := os.environ.get(ENV):
        return parse_size(text), f"${ENV}"
    device = jax.local_devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            n = jax.local_device_count()
            return int(stats["bytes_limit"]) * n, f"{n} {device.platform} device(s)"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available host memory"
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "host memory"


def parse_size(text: str) -> int:
    """``"8GB"`` → 8e9, ``"512MB"`` → 5.12e8, ``"1000"`` → 1000 (bytes)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgGtT]?)[bB]?\s*", text)
    if not match:
        raise ValueError(f"cannot read memory size {text!r}; expected e.g. 8GB, 512MB or bytes")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def check(cfg: Config, grid: engine.Grid, data: datasets.Dataset) -> Estimate:
    """Raise :class:`TooBig` (estimate, limit, what to change) when the grid cannot fit."""
    est = estimate(cfg, grid, data)
    cap, source = limit()
    if est.total > cap:
        raise TooBig(
            f"this sweep needs about {size_text(est.total)} of memory ({grid.size} cells; "
            f"{est.describe()}), more than the {size_text(cap)} of {source} (set ${ENV} to change "
            "the limit); use fewer cells (seeds × σ × lr) or a smaller model"
        )
    return est
