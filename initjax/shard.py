"""Device placement of a sweep's grid: the one place that knows about meshes and shardings.

One process or several: with ``jax.distributed`` initialized (:func:`initialize`), the mesh
spans every device of every process, each process computes the cells on its own devices, and
:func:`to_host` gathers results so that every process holds the whole grid.

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


def to_host(tree: Any) -> Any:
    """Every leaf as a numpy array holding all cells, gathered across processes if needed."""

    def one(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(one, tree)


def set_cpu_devices(n: int) -> None:
    """Split the host CPU into ``n`` virtual devices; must run before JAX starts a backend."""
    if n < 1:
        raise ValueError(f"the number of CPU devices must be >= 1, got {n}")
    jax.config.update("jax_num_cpu_devices", n)


def initialize(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-process run (``jax.distributed.initialize``) before any computation.

    With no arguments JAX reads the standard environment (e.g. SLURM, or
    ``JAX_COORDINATOR_ADDRESS``/``JAX_NUM_PROCESSES``/``JAX_PROCESS_ID``). On CPU the
    cross-process gather needs gloo collectives, so they are switched on here (the setting
    only concerns the CPU backend).
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
