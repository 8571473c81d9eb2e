"""How much memory a sweep needs, estimated before anything is allocated.

The estimate counts what a grid holds at its peak: the dataset (placed once), the train state
of every cell three times over (the state, its gradients and the updated state), the
activations of one training batch and of one evaluation chunk for every cell, and the
metrics kept on the host. It is an estimate (XLA may fuse buffers away or add scratch), good
to a small factor — enough to refuse ``--seeds 100000`` or ``--hidden 100000,100000`` at
once instead of swapping or hanging.
"""

from __future__ import annotations

import dataclasses
import os
import re

import jax
import numpy as np

from initjax import data as datasets
from initjax import grid as engine
from initjax.train import Config, DataArrays

ENV = "INITJAX_MEMORY_LIMIT"
"""Environment variable overriding the limit, in bytes or with a unit (``8GB``, ``512MB``)."""


class TooBig(ValueError):
    """The grid's estimated memory exceeds the limit."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    total: int
    parts: dict[str, int]

    def describe(self) -> str:
        return ", ".join(f"{k} {_gb(v)}" for k, v in self.parts.items())


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.2f} MB"


def _widths(cfg: Config) -> list[int]:
    return [*(cfg.hidden if cfg.model == "mlp" else ()), cfg.num_classes]


def estimate(cfg: Config, grid: engine.Grid, data: datasets.Dataset) -> Estimate:
    """The estimated peak memory of ``sweep.run(cfg, data, grid...)`` in bytes.

    Traces the grid's init abstractly (``jax.eval_shape``: nothing is computed or allocated),
    so a scheme argument that fails inside the model fails here too, before any write.
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
    widths = _widths(cfg)
    eval_rows = min(cfg.eval_batch_size, max(data.num_train, data.num_test))
    parts = {
        "data": sum(a.nbytes for a in (data.x_train, data.y_train, data.x_test, data.y_test)),
        "train state ×3": 3 * nbytes(state),
        "activations": 4 * m * max(3 * cfg.batch_size * sum(widths), 2 * eval_rows * max(widths)),
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
            f"this sweep needs about {_gb(est.total)} of memory ({grid.size} cells; "
            f"{est.describe()}), more than the {_gb(cap)} of {source} (set ${ENV} to change "
            "the limit); use fewer cells (seeds × σ × lr) or a smaller model"
        )
    return est
