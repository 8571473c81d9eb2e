"""Device placement of a sweep's grid: the one place that knows about meshes and shardings.

Per-cell arrays (keys, σ, lr and the training state they grow into) are split along the grid
axis over a 1-D mesh of every device JAX sees (``NamedSharding(mesh, P("grid"))``); the data
is replicated. A grid whose size is not a multiple of the device count is padded with copies
of its first cell; the caller drops the padded cells from the result.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "grid"


def grid_mesh(devices: list[Any] | None = None) -> Mesh:
    """A 1-D mesh named ``grid`` over ``devices`` (default: all devices, every process)."""
    devs = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devs), (AXIS,))


def padded_size(n_cells: int, mesh: Mesh) -> int:
    """Smallest multiple of the mesh size that holds ``n_cells``."""
    k = mesh.size
    return -(-n_cells // k) * k


def pad_cells(a: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading (cell) axis to ``size`` with copies of cell 0 (valid, never NaN)."""
    if a.shape[0] == size:
        return a
    fill = np.repeat(a[:1], size - a.shape[0], axis=0)
    return np.concatenate([a, fill], axis=0)


def place_cells(tree: Any, mesh: Mesh) -> Any:
    """Put per-cell host arrays on the mesh, split along their leading axis."""
    return jax.device_put(tree, NamedSharding(mesh, P(AXIS)))


def place_replicated(tree: Any, mesh: Mesh) -> Any:
    """Put arrays every cell reads (the dataset) on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, P()))
