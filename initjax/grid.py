"""The engine of a sweep: one (seed, σ, lr) grid as one compiled program, ``train``'s run vmapped.

(:mod:`initjax.sweep` is the public face: it loops outer axes over this and saves to folders.)

The grid is flattened to M = seeds × sigmas × lrs cells; :func:`initjax.train.init_state` is
``jax.vmap``-ed over the cell axis (op by op: :func:`init_grid`) and :func:`initjax.train.train_epochs_grid` trains all cells
with the step vmapped inside the scan over batches (the data is not vmapped:
every cell reads the same device arrays, so memory grows with parameters, not with
M × data). σ and lr are traced arrays, so a second grid of the same shape reuses the compiled
program. The cell axis is sharded over every device (:mod:`initjax.shard`).

Training advances in chunks of epochs; after each chunk an ``on_chunk`` callback sees the
whole :class:`SweepState`, which is what a checkpointer saves and what ``start=`` resumes from.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import xarray as xr

from initjax import cell_layout, cpu_conv, grid_values, logs, models, shard, train, variables
from initjax import data as datasets
from initjax.config import for_training
from initjax.init_scale import SIGMA_MEANING as SIGMA_MEANING
from initjax.init_scale import init_std as init_std
from initjax.init_scale import sigma_attrs as sigma_attrs
from initjax.train import Config, DataArrays, TrainState


@dataclass(frozen=True)
class Grid:
    """The values a sweep varies; cells are ordered seed-major (C order over seed, σ, lr)."""

    seeds: np.ndarray
    sigmas: np.ndarray
    lrs: np.ndarray

    @classmethod
    def make(
        cls, seeds: Iterable[int] | int, sigmas: Iterable[float], lrs: Iterable[float]
    ) -> Grid:
        """The grid of these values, checked as the engine will see them
        (:mod:`initjax.grid_values`: int32 seeds, float32 σ and lr, offending values named)."""
        if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
            seeds = range(int(seeds))
        grid = cls(
            seeds=grid_values.seeds(seeds),  # type: ignore[arg-type]  # refuses a bool
            sigmas=grid_values.reals("sigmas", sigmas),
            lrs=grid_values.reals("lrs", lrs),
        )
        if not np.all(np.isfinite(grid.sigmas)) or np.any(grid.sigmas < 0):
            raise ValueError(f"sigmas must be finite and >= 0, got {grid.sigmas.tolist()}")
        if not np.all(np.isfinite(grid.lrs)) or np.any(grid.lrs <= 0):
            raise ValueError(f"lrs must be finite and > 0, got {grid.lrs.tolist()}")
        return grid

    @classmethod
    def of(
        cls,
        cfg: Config,
        seeds: Iterable[int] | int,
        sigmas: Iterable[float] | None = None,
        lrs: Iterable[float] | None = None,
    ) -> Grid:
        """:meth:`make`, with ``[cfg.default_sigma()]`` and ``[cfg.lr]`` for values not given."""
        return cls.make(
            seeds,
            [cfg.default_sigma()] if sigmas is None else sigmas,
            [cfg.lr] if lrs is None else lrs,
        )

    def with_seeds(self, seeds: np.ndarray) -> Grid:
        """This grid's σ and lr values with other ``seeds`` (a chunk of a sweep's seeds)."""
        return Grid.make(np.asarray(seeds).tolist(), self.sigmas.tolist(), self.lrs.tolist())

    def values(self) -> tuple[list[int], list[float], list[float]]:
        """(seeds, σ, lr) as the lists :func:`run` takes: ``run(cfg, data, *grid.values())``."""
        return self.seeds.tolist(), self.sigmas.tolist(), self.lrs.tolist()

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.seeds.size, self.sigmas.size, self.lrs.size)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat per-cell (seed int32, σ float32, lr float32) arrays of length ``size``."""
        s, g, lr = np.meshgrid(self.seeds, self.sigmas, self.lrs, indexing="ij")
        return (
            s.ravel().astype(np.int32),
            g.ravel().astype(np.float32),
            lr.ravel().astype(np.float32),
        )


@dataclass
class SweepState:
    """A sweep between chunks: epochs done, the (padded) per-cell train state, metrics so far.

    ``metrics[name]`` has shape (padded cells, epochs_done + 1, ...).
    """

    epochs_done: int
    state: TrainState
    metrics: dict[str, np.ndarray]


def init_grid(
    cfg: Config, data: DataArrays, seeds: jax.Array, sigmas: jax.Array, lrs: jax.Array
) -> tuple[TrainState, dict[str, jax.Array]]:
    """``train.init_run`` over cells: the state drawn op by op, the epoch-0 metrics compiled.

    The draws run vmapped but not jitted: each initializer's program is compiled once per
    kernel shape and reused by every layer, scheme and later grid, where one jitted program of
    a deep net's whole init took longer to compile than its training step (2.7 s for a 6-cell
    32-layer CNN, against 0.4 s for its evaluation). The random bits are the same either way.
    The metrics come from :func:`initial_metrics_grid`, one program per training config.
    """
    state = jax.vmap(lambda s, g, lr: train.init_state(cfg, data, s, g, lr))(seeds, sigmas, lrs)
    if isinstance(seeds, jax.Array) and not isinstance(seeds, jax.core.Tracer):
        # every leaf split over cells as the seeds are
        state = jax.device_put(state, seeds.sharding)  # (op by op, they came back mixed)
    return state, initial_metrics_grid(for_training(cfg), data, state)


@functools.partial(jax.jit, static_argnames=("cfg",))
def initial_metrics_grid(cfg: Config, data: DataArrays, state: TrainState) -> dict[str, jax.Array]:
    """``train.initial_metrics`` of every cell of ``state``: vmapped, or one cell after another
    where the grid trains in the "map" layout (conv nets on a CPU, :mod:`initjax.cell_layout`);
    convolutions in the form XLA:CPU runs fast (:mod:`initjax.cpu_conv`)."""
    one = cpu_conv.for_backend(lambda s: train.initial_metrics(cfg, s, data))
    if cell_layout.layout_for(cfg.model, state.epoch.shape[0], state.params) == "map":
        return jax.lax.map(one, state)
    return jax.vmap(one)(state)


@functools.partial(
    jax.jit, static_argnames=("cfg", "n_epochs", "layout"), donate_argnames=("state",)
)
def advance_grid(
    cfg: Config, data: DataArrays, state: TrainState, n_epochs: int, layout: str | None = None
) -> tuple[TrainState, dict[str, jax.Array]]:
    """``train.train_epochs_grid``: every cell ``n_epochs`` further (``layout``: the cells'
    layout during the epochs, :mod:`initjax.cell_layout`; None: the model's default)."""
    return train.train_epochs_grid(cfg, data, state, n_epochs, layout)


def start(cfg: Config, arrays: DataArrays, grid: Grid, mesh: Any) -> SweepState:
    """Initialize every cell (padded to the mesh) and measure epoch 0."""
    padded = shard.padded_size(grid.size, mesh)
    cells = tuple(shard.pad_cells(c, padded) for c in grid.cells())
    seeds, sigmas, lrs = shard.place_cells(cells, mesh)
    state, first = init_grid(cfg, arrays, seeds, sigmas, lrs)
    return SweepState(0, state, {k: v[:, None] for k, v in shard.to_host(first).items()})


def _progress(total: int, initial: int, enabled: bool, desc: str) -> Any:
    if enabled and not logs.is_terminal():  # a log file: one line per chunk, not a bar
        return logs.LineProgress(total, initial, desc)
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, disable=not enabled, desc=desc, unit="epoch", leave=False
    )


@dataclass(frozen=True)
class Position:
    """Where an inner grid stands in an outer loop (for the progress bar's position and ETA)."""

    index: int = 0
    count: int = 1
    label: str = ""


def run(
    cfg: Config,
    data: datasets.Dataset,
    seeds: Iterable[int] | int,
    sigmas: Iterable[float] | None = None,
    lrs: Iterable[float] | None = None,
    *,
    progress: bool = True,
    chunk_epochs: int = 1,
    resume: SweepState | None = None,
    on_chunk: Callable[[SweepState], None] | None = None,
    devices: list[Any] | None = None,
    position: Position = Position(),
) -> xr.Dataset:
    """Train every (seed, σ, lr) cell and return the labelled result.

    Args:
      cfg: the run's configuration (``cfg.epochs`` epochs each).
      data: the dataset (``cfg.dataset`` must name it).
      seeds: an int (``range(seeds)``) or the seeds themselves.
      sigmas: the scheme's scale values (default: ``[cfg.default_sigma()]``).
      lrs: learning rates (default: ``[cfg.lr]``).
      progress: show a progress bar with ETA and model-steps/s (when stderr is not a
        terminal: one line per chunk, see :mod:`initjax.logs`).
      chunk_epochs: epochs per compiled call between progress updates / callbacks.
      resume: a :class:`SweepState` to continue from (e.g. a loaded checkpoint).
      on_chunk: called with the :class:`SweepState` after every chunk (checkpointing).
      devices: devices to shard the grid over (default: all; one per process when an SVD
        diagnostic is recorded on CPU, see :func:`initjax.shard.grid_devices`).
      position: this grid's place in an outer loop (progress shows it; ETA covers the loop).

    Returns:
      ``xarray.Dataset`` with dims ``(seed, sigma, lr, epoch)``: metrics per epoch (epoch 0 is
      before training), ``diverged`` and ``diverged_step`` per cell, the config in attrs.
    """
    train._check_data(cfg, data)
    grid = Grid.of(cfg, seeds, sigmas, lrs)
    if chunk_epochs < 1:
        raise ValueError(f"chunk_epochs must be >= 1, got {chunk_epochs}")
    mesh = shard.grid_mesh(shard.grid_devices(cfg.record, devices))
    arrays = shard.place_replicated(DataArrays.from_dataset(data), mesh)
    if resume is None:
        sweep = start(cfg, arrays, grid, mesh)
    else:
        padded = shard.padded_size(grid.size, mesh)
        cells = jax.tree_util.tree_leaves(resume.state)[0].shape[0]
        if cells != padded or resume.epochs_done > cfg.epochs:
            raise ValueError(
                f"resume state has {cells} cells after {resume.epochs_done} epochs; this sweep "
                f"needs {padded} cells (grid {grid.shape} on {mesh.size} devices) and at most "
                f"{cfg.epochs} epochs"
            )
        sweep = SweepState(
            resume.epochs_done, shard.place_cells(resume.state, mesh), dict(resume.metrics)
        )
    steps_per_epoch = data.num_train // cfg.batch_size
    where = f"[{position.index + 1}/{position.count} {position.label}] " if position.label else ""
    bar = _progress(
        cfg.epochs * position.count,
        cfg.epochs * position.index + sweep.epochs_done,
        progress,
        f"{where}{grid.size} run{'s' if grid.size != 1 else ''}",
    )
    try:
        while sweep.epochs_done < cfg.epochs:
            n = min(chunk_epochs, cfg.epochs - sweep.epochs_done)
            t0 = time.perf_counter()
            state, rest = advance_grid(for_training(cfg), arrays, sweep.state, n)
            # Back on the cells' sharding: a grid trained cell after cell (lax.map, conv nets on
            # a CPU) comes back replicated, and the next chunk would compile the program again.
            state = shard.place_cells(state, mesh)
            rest_np = shard.to_host(rest)
            dt = time.perf_counter() - t0
            sweep = SweepState(
                sweep.epochs_done + n,
                state,
                {k: np.concatenate([sweep.metrics[k], rest_np[k]], axis=1) for k in rest_np},
            )
            bar.set_postfix_str(f"{grid.size * steps_per_epoch * n / dt:,.0f} model-steps/s")
            bar.update(n)
            if on_chunk is not None:
                on_chunk(sweep)
    finally:
        bar.close()
    ds = to_dataset(cfg, grid, sweep)
    ds.attrs["num_devices"] = int(mesh.size)  # those it was sharded over, not all JAX sees
    ds["init_std"] = init_std(cfg, data, grid.sigmas)
    ds["sigma"].attrs.update(sigma_attrs(cfg))  # assigning init_std dropped σ's attrs
    return variables.describe(ds, steps_per_epoch)


def to_dataset(cfg: Config, grid: Grid, sweep: SweepState) -> xr.Dataset:
    """Label a finished (or partial) sweep: drop padded cells, unflatten the grid."""
    m = grid.size
    shape = grid.shape
    epochs = np.arange(sweep.epochs_done + 1)
    dims = ("seed", "sigma", "lr", "epoch")
    layer_coord = models.layer_names(train.build_model(cfg))
    variables: dict[str, Any] = {}
    for name, values in sweep.metrics.items():
        v = values[:m].reshape(*shape, *values.shape[1:])
        extra = v.shape[4:]
        extra_dims: tuple[str, ...] = ()
        if len(extra) == 1:
            extra_dims = ("layer",) if extra[0] == len(layer_coord) else ("hidden_layer",)
        elif extra:
            extra_dims = tuple(f"{name}_dim{i}" for i in range(len(extra)))
        variables[name] = (dims + extra_dims, v)
    diverged_step = shard.to_host(sweep.state.diverged_step)[:m].reshape(shape).astype(np.int64)
    variables["diverged"] = (("seed", "sigma", "lr"), diverged_step >= 0)
    variables["diverged_step"] = (("seed", "sigma", "lr"), diverged_step)
    coords: dict[str, Any] = {
        "seed": grid.seeds,
        "sigma": grid.sigmas,
        "lr": grid.lrs,
        "epoch": epochs,
    }
    if any("layer" in v[0] for v in variables.values()):
        coords["layer"] = list(layer_coord)
    if any("hidden_layer" in v[0] for v in variables.values()):
        coords["hidden_layer"] = [n for n in layer_coord if n != "output"]
    ds = xr.Dataset(variables, coords=coords)
    ds["sigma"].attrs.update(sigma_attrs(cfg))
    ds.attrs.update(attrs(cfg))
    return ds


def attrs(cfg: Config) -> dict[str, str | int]:
    """Provenance stored with every result: config, scale meaning, package versions, plugins."""
    from initjax import plugins

    out: dict[str, str | int] = {
        "config": cfg.to_json(),
        "scale_param": cfg.scale_param(),
        "epochs_planned": cfg.epochs,
        "jax_backend": jax.default_backend(),
        "num_devices": jax.device_count(),
    }
    for pkg in ("initjax", "jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            out[f"version_{pkg}"] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[f"version_{pkg}"] = "unknown"
    if plugins.loaded():
        out["plugins"] = json.dumps(plugins.loaded())
    user = {}  # where user code came from (a callable's name is already in the config)
    from initjax import init as schemes

    for field, value in (("scheme", cfg.scheme), ("bias_scheme", cfg.bias_scheme)):
        if isinstance(value, str) and not schemes.is_builtin(value):
            user[field] = train.label(schemes.builder(value))
    if isinstance(cfg.model, str) and cfg.model not in ("softmax", "mlp"):
        user["model"] = train.label(models.factory(cfg.model))
    if user:
        out["user_code"] = json.dumps(user, sort_keys=True)
    return out


def compile_count() -> int:
    """Programs compiled so far by the grid functions (a test checks σ grids reuse them)."""
    return int(initial_metrics_grid._cache_size() + advance_grid._cache_size())  # type: ignore[attr-defined]
