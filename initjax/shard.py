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

import contextlib
import contextvars
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "grid"


_DEVICES: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("devices", default=None)


@contextlib.contextmanager
def on_devices(devices: list[Any]) -> Iterator[None]:
    """Sweeps started inside (research scripts' too) shard over ``devices`` unless they name
    their own; e.g. ``with shard.on_devices(jax.devices()[:1]): study.run_one(...)``."""
    token = _DEVICES.set(list(devices))
    try:
        yield
    finally:
        _DEVICES.reset(token)


def default_devices() -> list[Any] | None:
    """The devices set by the innermost :func:`on_devices`, or None (all devices)."""
    return _DEVICES.get()


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


SVD_DIAGNOSTICS = ("weight_rank", "layer_jacobian_sv")
"""Recorded diagnostics that take an SVD (see :func:`grid_devices`)."""


def grid_devices(record: Sequence[str], devices: list[Any] | None) -> list[Any] | None:
    """The devices a grid that records ``record`` shards over: ``devices``, unless that would hang.

    In jaxlib 0.10.2 a program that runs ``jnp.linalg.svd`` inside a grid sharded over two or
    more XLA:CPU devices *of one process* can deadlock. A sweep that records an SVD diagnostic
    (:data:`SVD_DIAGNOSTICS`) on such a mesh therefore runs on one device per process instead
    (a warning says so; the result is the same, only slower), and an explicit ``devices`` list
    that asks for it is refused with an error.
    """
    svd = [n for n in record if n in SVD_DIAGNOSTICS]
    devs = jax.devices() if devices is None else list(devices)
    here = [d for d in devs if d.process_index == jax.process_index()]
    if not svd or sum(d.platform == "cpu" for d in here) < 2:
        return devices
    if devices is not None:
        raise ValueError(
            f"recording {svd} in a grid sharded over {len(here)} CPU devices of one process can "
            "deadlock (XLA:CPU, jaxlib 0.10.2); pass one device per process, e.g. "
            "devices=jax.devices()[:1], or record no SVD diagnostic"
        )
    first: dict[int, Any] = {}
    for d in devs:
        first.setdefault(d.process_index, d)
    one_each = list(first.values())
    warnings.warn(
        f"recording {svd}: this sweep runs on {len(one_each)} device(s), one per process, not "
        f"{len(devs)} (SVDs in a grid sharded over several XLA:CPU devices of one process can "
        "deadlock)",
        stacklevel=3,
    )
    return one_each
