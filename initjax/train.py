"""One training run as a pure, jit-compiled function.

A run is two pure functions, composed by :func:`run` into one compiled program and vmapped by
:mod:`initjax.sweep` over a grid (the sweep never re-implements them):

* ``init_run(cfg, data, seed, sigma, lr) -> (state, metrics at epoch 0)``: ``init_state``
  then ``initial_metrics``
* ``train_epochs(cfg, data, state, n) -> (state, metrics for the next n epochs)``

and :func:`train_epochs_grid`, the same for a grid of runs with the step vmapped inside the
scan over batches (one GEMM per layer for all cells when the batch order is shared).
Their parts below the epoch loop (:class:`TrainState`, ``init_run`` and its halves,
:func:`train_step`, :func:`evaluate`, the per-epoch metrics) are :mod:`initjax.step`,
re-exported here.

**The scale argument ``sigma``** is the one number of the weight scheme that a grid varies: σ
for ``normal``/``uniform``/``truncated_normal``, the gain for fan-based schemes (``xavier_*``,
``he_*``, ``lecun_*``, ``orthogonal``), ``scale`` for ``variance_scaling`` and the value for
``constant`` (see :func:`initjax.init.scale_param`). Schemes without one (``zeros``, ``ones``)
ignore it. It is a traced array, so a new grid of the same shape never recompiles.

**Randomness.** Each seed gives one root key, split by name into the init key and the
per-seed data key. The order of minibatches comes from ``cfg.data_seed`` and is the same for
every run (``order="shared"``: cells of a grid differ only by their init, a paired design);
``order="per_seed"`` uses each seed's own data key instead. Epoch ``e`` shuffles with
``fold_in(data_key, e)``, so a run resumed at any epoch sees the same batches.

**Divergence.** An epoch in which a step's loss is non-finite or above
``cfg.diverge_above × ln(num_classes)`` (the loss of a uniform prediction; default 1000×), or
whose parameters become non-finite, marks the run ``diverged``; its parameters are frozen at
the values before that epoch and its metrics from that epoch on are NaN. Nothing raises: in a
grid, the other cells are untouched.

**Open to user code.** ``Config.scheme``, ``model`` and ``optimizer`` take a registered name
(:func:`initjax.init.register`, :func:`initjax.models.register`, :func:`register_optimizer`)
or the callable itself; ``schedule`` a name from :data:`SCHEDULES` or ``step -> factor``.
Callables must stay hashable (functions are), since the Config is a static jit argument.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from initjax import cell_layout, cpu_conv, models
from initjax import data as datasets
from initjax.config import (  # re-exported: train.Config & co. are the public names
    CALLABLE_FIELDS as CALLABLE_FIELDS,
)
from initjax.config import METRICS as METRICS
from initjax.config import ORDERS as ORDERS
from initjax.config import Config as Config
from initjax.config import build_model as build_model
from initjax.config import label as label
from initjax.optim import SCHEDULES as SCHEDULES
from initjax.optim import OptimizerFactory as OptimizerFactory
from initjax.optim import lr_factor as lr_factor
from initjax.optim import optimizer as optimizer
from initjax.optim import optimizer_names as optimizer_names
from initjax.optim import register_optimizer as register_optimizer
from initjax.optim import unregister_optimizer as unregister_optimizer
from initjax.step import (  # re-exported: train.TrainState & co. are the public names
    DataArrays as DataArrays,
)
from initjax.step import TrainState as TrainState
from initjax.step import epoch_metrics, finite, mask_diverged
from initjax.step import evaluate as evaluate
from initjax.step import init_params as init_params
from initjax.step import init_run as init_run
from initjax.step import init_state as init_state
from initjax.step import initial_metrics as initial_metrics
from initjax.step import loss_and_accuracy as loss_and_accuracy
from initjax.step import train_step as train_step

Array = jax.Array


def _check_data(cfg: Config, data: datasets.Dataset) -> None:
    if data.name != cfg.dataset:
        raise ValueError(
            f"config is for dataset {cfg.dataset!r} but got {data.name!r}; "
            f"set Config(dataset={data.name!r})"
        )
    if data.num_classes != cfg.num_classes:
        raise ValueError(
            f"config has num_classes={cfg.num_classes} but {data.name!r} has {data.num_classes}"
        )
    if data.num_train < cfg.batch_size:
        raise ValueError(
            f"batch_size {cfg.batch_size} exceeds the {data.num_train} training examples"
        )
    data.validate()
    if cfg.record:
        _check_layers(cfg, data)
    if cfg.record and cfg.probe_size > data.num_train:
        raise ValueError(
            f"probe_size {cfg.probe_size} exceeds the {data.num_train} training examples"
        )


def _check_layers(cfg: Config, data: datasets.Dataset) -> None:
    """Diagnostics need the documented per-layer form (see :mod:`initjax.models`)."""
    model = build_model(cfg)
    x = jax.ShapeDtypeStruct((1, *data.x_train.shape[1:]), jnp.float32)

    def shapes(key: Array, x: Array) -> tuple[Any, Any]:
        variables = model.init(key, x, train=False)
        _, state = model.apply(variables, x, train=False, mutable=["intermediates"])
        return variables["params"], state.get("intermediates", {})

    params, inter = jax.eval_shape(shapes, jax.random.key(0), x)
    try:
        models.check_layers(model, params, inter)
    except ValueError as e:
        raise ValueError(
            f"model {label(cfg.model)} cannot record {', '.join(cfg.record)}: {e}"
        ) from None


def _epoch_order(cfg: Config, data_key: Array, epoch: Array, n: int) -> Array:
    """The (steps, batch) example indices of epoch ``epoch``: ``fold_in(data_key, epoch)``."""
    key = jax.random.fold_in(jax.random.wrap_key_data(data_key), epoch)
    return datasets.epoch_batches(key, n, cfg.batch_size)


def _advance(cfg: Config, state: TrainState, trained: TrainState, losses_N: Array) -> TrainState:
    """After an epoch's steps took ``state`` to ``trained``: the divergence check and the
    epoch counter, for one run.

    Divergence is checked once per epoch (cheap); the first bad step (loss non-finite or
    above :func:`loss_limit`) is recovered from the per-step losses. A diverged run keeps the
    state it had before the epoch.
    """
    steps_per_epoch = losses_N.shape[0]
    bad_N = ~jnp.isfinite(losses_N) | (losses_N > loss_limit(cfg))
    ok = finite(trained.params) & ~jnp.any(bad_N) & (state.diverged_step < 0)
    first_bad = jnp.argmax(bad_N).astype(jnp.int32)
    bad_step = (
        jnp.where(jnp.any(bad_N), first_bad, steps_per_epoch - 1) + state.epoch * steps_per_epoch
    )
    new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), trained, state)
    new = new._replace(
        epoch=state.epoch + 1,
        diverged_step=jnp.where(
            ok | (state.diverged_step >= 0), state.diverged_step, bad_step
        ).astype(jnp.int32),
    )
    return new


def _scheduled_metrics(
    cfg: Config, measure: Callable[[int], dict[str, Array]], epoch: Array
) -> dict[str, Array]:
    """``measure(examples)`` when ``epoch`` (just completed, unbatched) is due for evaluation
    (``eval_every``, ``eval_epochs``; the last epoch always, on all examples), NaN otherwise.

    ``lax.switch`` on an unbatched index really skips the work; inside a vmap over cells
    with per-cell epochs it would become a select that computes every branch.
    """
    if cfg.eval_every == 1 and not cfg.eval_examples:
        return measure(0)

    def skipped() -> dict[str, Array]:
        shapes = jax.eval_shape(lambda: measure(0))
        return jax.tree_util.tree_map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), shapes)

    due = (epoch % cfg.eval_every == 0) | (epoch == cfg.epochs)
    due = functools.reduce(jnp.logical_or, [epoch == e for e in cfg.eval_epochs], due)
    full = (epoch == cfg.epochs) | (cfg.eval_examples == 0)
    index = jnp.where(due, jnp.where(full, 2, 1), 0)
    return jax.lax.switch(index, [skipped, lambda: measure(cfg.eval_examples), lambda: measure(0)])


def _close_epoch(
    cfg: Config,
    model: nn.Module,
    data: DataArrays,
    state: TrainState,
    trained: TrainState,
    losses_N: Array,
) -> tuple[TrainState, dict[str, Array]]:
    """:func:`_advance` and the epoch's metrics, for one run."""
    new = _advance(cfg, state, trained, losses_N)
    measure = functools.partial(epoch_metrics, cfg, model, new, data)
    metrics = _scheduled_metrics(cfg, lambda n: measure(examples=n), new.epoch)
    metrics["batch_loss"] = losses_N.mean()
    return new, mask_diverged(new, metrics)


def loss_limit(cfg: Config) -> float:
    """The loss above which a step counts as diverged: ``diverge_above × ln(num_classes)``."""
    return float(cfg.diverge_above * math.log(max(cfg.num_classes, 2)))


def _step_fn(cfg: Config, model: nn.Module, data: DataArrays) -> Callable[..., Any]:
    steps_per_epoch = data.x_train.shape[0] // cfg.batch_size
    factor = None if cfg.schedule == "constant" else lr_factor(cfg, steps_per_epoch)
    step = functools.partial(train_step, model=model, tx=optimizer(cfg), factor=factor)
    return cpu_conv.for_backend(step)  # conv nets: XLA:CPU's fast kernels inside lax.scan


def _epoch_steps(
    cfg: Config, step: Callable[..., Any], data: DataArrays, state: TrainState
) -> tuple[TrainState, Array]:
    """One run's SGD steps over an epoch in its own minibatch order; the per-step losses."""
    order_NxB = _epoch_order(cfg, state.data_key, state.epoch, data.x_train.shape[0])

    def body(s: TrainState, idx_B: Array) -> tuple[TrainState, Array]:
        return step(s, (data.x_train[idx_B], data.y_train[idx_B]))

    return jax.lax.scan(body, state, order_NxB)


def train_epochs(
    cfg: Config, data: DataArrays, state: TrainState, n_epochs: int
) -> tuple[TrainState, dict[str, Array]]:
    """Train ``n_epochs`` more epochs; metrics stacked along a leading epoch axis. Pure."""
    model = build_model(cfg)
    step = _step_fn(cfg, model, data)

    def one_epoch(state: TrainState, _: None) -> tuple[TrainState, dict[str, Array]]:
        trained, losses_N = _epoch_steps(cfg, step, data, state)
        return _close_epoch(cfg, model, data, state, trained, losses_N)

    return jax.lax.scan(one_epoch, state, None, length=n_epochs)


def train_epochs_grid(
    cfg: Config, data: DataArrays, states: TrainState, n_epochs: int, layout: str | None = None
) -> tuple[TrainState, dict[str, Array]]:
    """:func:`train_epochs` for a grid: ``states`` has a leading cell axis (every cell at the
    same epoch, as in a sweep); metrics come back as (cells, epochs, ...). Pure.

    With ``order="shared"`` every cell reads the same batch at every step, so the batch is
    gathered once and the step is vmapped over cells *inside* the scan over batches, the batch
    unbatched: each layer's matmul is then one (B×D)·(D×M·K) GEMM over all M cells (over a
    group's cells where the grid trains in groups; its gradient likewise), not M small
    matmuls on M gathered copies of the batch — what ``vmap(train_epochs)`` would compile to,
    since vmap cannot know that the cells' data keys are equal. The result is the same computation: equal to ``vmap(train_epochs)`` up to the
    float32 rounding of a different summation order. ``order="per_seed"`` is
    ``vmap(train_epochs)`` (with the epoch loop outside the vmap, so that the evaluation
    schedule's ``lax.switch`` stays a switch; "map": ``lax.map(train_epochs)``).

    ``layout`` (default: :func:`initjax.cell_layout.layout_for` the model, cell count and
    parameters) is where the cells' kernels keep their cell axis during an epoch, or "map": the
    cells one after another (conv nets on a CPU; :mod:`initjax.cell_layout`); the state comes
    back with the cell axis in front either way. With the default layout and
    ``order="shared"``, a CPU grid of the built-in MLP past the cache runs each epoch's SGD
    steps in groups of cells (:func:`initjax.cell_layout.group_size`), one group after another;
    the epoch's evaluation and divergence check take all cells at once.
    """
    n_cells = states.epoch.shape[0]
    size = n_cells  # cells per group of SGD steps (all of them but for a CPU MLP past the cache)
    if layout is None and cfg.order == "shared":
        size = cell_layout.group_size(cfg.model, n_cells, states.params)
    layout = layout or cell_layout.layout_for(cfg.model, size, states.params)

    def over_cells(f: Any, cells: Any) -> Any:  # "map": conv nets on a CPU, a cell at a time
        return jax.lax.map(f, cells) if layout == "map" else jax.vmap(f)(cells)

    if cfg.order == "per_seed" and layout == "map":
        return over_cells(lambda s: train_epochs(cfg, data, s, n_epochs), states)
    model = build_model(cfg)
    step = _step_fn(cfg, model, data)
    cell_axes, gemm = cell_layout.axes(states, layout), layout == "gemm"
    # the batch is shared by all cells; each leaf's cell axis where cell_axes puts it
    if layout == "map":  # one cell after another ("map": conv nets on a CPU)

        def step_cells(s: TrainState, batch: Any) -> tuple[TrainState, Array]:
            return jax.lax.map(lambda c: step(c, batch), s)

    else:
        step_cells = jax.vmap(step, in_axes=(cell_axes, None), out_axes=(cell_axes, 0))
    advance_cells = jax.vmap(functools.partial(_advance, cfg))

    def close_cells(
        states: TrainState, trained: TrainState, losses_MxN: Array
    ) -> tuple[TrainState, dict[str, Array]]:
        new = advance_cells(states, trained, losses_MxN)  # losses are (cells, steps)

        def measure(examples: int) -> dict[str, Array]:
            one = functools.partial(epoch_metrics, cfg, model, data=data, examples=examples)
            return over_cells(lambda s: one(state=s), new)

        metrics = _scheduled_metrics(cfg, measure, states.epoch[0] + 1)
        metrics["batch_loss"] = losses_MxN.mean(axis=1)
        return new, jax.vmap(mask_diverged)(new, metrics)

    def per_seed_epoch(states: TrainState, _: None) -> tuple[TrainState, dict[str, Array]]:
        # vmap(train_epochs) per cell, but the epoch loop outside the vmap: the evaluation
        # schedule then reads one epoch for all cells, where a per-cell epoch would turn its
        # lax.switch into a select that broadcasts the whole dataset to every cell
        trained, losses_MxN = jax.vmap(lambda s: _epoch_steps(cfg, step, data, s))(states)
        return close_cells(states, trained, losses_MxN)

    def one_epoch(states: TrainState, _: None) -> tuple[TrainState, dict[str, Array]]:
        # order="shared": every cell's data key is key(cfg.data_seed) and its epoch the same
        order_NxB = _epoch_order(cfg, states.data_key[0], states.epoch[0], data.x_train.shape[0])

        def body(s: TrainState, idx_B: Array) -> tuple[TrainState, Array]:
            return step_cells(s, (data.x_train[idx_B], data.y_train[idx_B]))

        def steps(cells: TrainState) -> tuple[TrainState, Array]:  # losses: (cells, steps)
            with cell_layout.kernel_order_gradients() if gemm else contextlib.nullcontext():
                laid, losses = jax.lax.scan(
                    body, cell_layout.to_layout(cells, cell_axes), order_NxB
                )
            return cell_layout.from_layout(laid, cell_axes), losses.T

        trained, losses_MxN = (
            cell_layout.grouped(steps, states, size) if size < n_cells else steps(states)
        )
        return close_cells(states, trained, losses_MxN)

    epoch = per_seed_epoch if cfg.order == "per_seed" else one_epoch
    new, metrics = jax.lax.scan(epoch, states, None, length=n_epochs)
    return new, {k: jnp.moveaxis(v, 0, 1) for k, v in metrics.items()}  # (cells, epochs, ...)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _run_compiled(
    cfg: Config, data: DataArrays, seed: Array, sigma: Array, lr: Array
) -> tuple[TrainState, dict[str, Array], dict[str, Array]]:
    state, first = init_run(cfg, data, seed, sigma, lr)
    state, rest = train_epochs(cfg, data, state, cfg.epochs)
    return state, first, rest


@dataclass(frozen=True)
class History:
    """Per-epoch metrics of one run; index 0 is before training."""

    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    batch_loss: np.ndarray
    diverged: bool
    diverged_step: int | None
    """First SGD step (0-based, counted over the whole run) whose loss or parameters were
    non-finite, or None."""
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    """Recorded diagnostics (``cfg.record``), per epoch."""

    @property
    def epochs(self) -> np.ndarray:
        return np.arange(len(self.train_loss))

    def final(self) -> dict[str, float]:
        return {k: float(getattr(self, k)[-1]) for k in METRICS}


def stack_metrics(
    first: dict[str, Any], rest: dict[str, Any], epoch_axis: int = 0
) -> dict[str, np.ndarray]:
    """Join epoch-0 metrics (no epoch axis) with later epochs' (epoch axis at ``epoch_axis``:
    0 for one run, 1 for a grid whose cell axis comes first)."""
    return {
        k: np.concatenate(
            [np.expand_dims(np.asarray(first[k]), epoch_axis), np.asarray(rest[k])], axis=epoch_axis
        )
        for k in first
    }


def run(
    cfg: Config,
    data: datasets.Dataset,
    seed: int = 0,
    sigma: float | None = None,
    lr: float | None = None,
) -> History:
    """Train one run and return its :class:`History`.

    ``sigma`` is the scheme's scale argument (see the module docstring); ``lr`` defaults to
    ``cfg.lr``. The whole run — init, every epoch, every evaluation — is one compiled program.
    """
    _check_data(cfg, data)
    sigma_ = jnp.float32(cfg.default_sigma() if sigma is None else sigma)
    lr_ = jnp.float32(cfg.lr if lr is None else lr)
    arrays = DataArrays.from_dataset(data)
    state, first, rest = _run_compiled(cfg, arrays, jnp.int32(seed), sigma_, lr_)
    m = stack_metrics(first, rest)
    step = int(state.diverged_step)
    extra = {k: v for k, v in m.items() if k not in METRICS}
    return History(
        **{k: m[k] for k in METRICS},
        diverged=step >= 0,
        diverged_step=step if step >= 0 else None,
        extra=extra,
    )
