"""The pure pieces of one run below the epoch loop: its state, the step, and its metrics.

:class:`TrainState` is everything that changes during a run (a pytree, vmapped over a grid's
cells), drawn by :func:`init_state` (:func:`init_run`: with its epoch-0 metrics); :func:`train_step` is one minibatch step ``(state, batch) -> (state, loss)``;
:func:`evaluate` and :func:`epoch_metrics` measure a run (loss and accuracy on both splits,
plus the diagnostics a Config records). :mod:`initjax.train` composes them into epochs and
runs, and re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from initjax import data as datasets
from initjax import lsuv
from initjax.config import Config, build_model
from initjax.optim import optimizer

__all__ = [
    "DataArrays",
    "TrainState",
    "epoch_metrics",
    "evaluate",
    "finite",
    "loss_and_accuracy",
    "mask_diverged",
    "recorded",
    "train_step",
]

Array = jax.Array


class DataArrays(NamedTuple):
    """The dataset as device arrays; placed once and shared (never copied) by every run."""

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array

    @classmethod
    def from_dataset(cls, data: datasets.Dataset) -> DataArrays:
        return cls(
            *(jnp.asarray(a) for a in (data.x_train, data.y_train, data.x_test, data.y_test))
        )


class TrainState(NamedTuple):
    """Everything that changes during a run; a pytree (vmapped over a grid's cells)."""

    params: Any
    batch_stats: Any
    opt_state: Any
    lr: Array  # step size (float32 scalar)
    data_key: Array  # raw uint32 key data; fold_in(key, epoch) orders that epoch's batches
    epoch: Array  # epochs completed (int32)
    step: Array  # steps taken (int32): the schedule's t
    diverged_step: Array  # first step whose loss/params were non-finite; -1 if none (int32)


def loss_and_accuracy(logits: Array, labels: Array) -> tuple[Array, Array]:
    """Mean cross-entropy of softmax(logits) and accuracy (d2l's loss and metric)."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    acc = (jnp.argmax(logits, axis=-1) == labels).mean(dtype=jnp.float32)
    return loss, acc


def train_step(
    state: TrainState,
    batch: tuple[Array, Array],
    *,
    model: nn.Module,
    tx: optax.GradientTransformation,
    factor: Callable[[Array], Array] | None = None,
) -> tuple[TrainState, Array]:
    """One minibatch step ``(state, batch) -> (state, loss)``; pure.

    θ ← θ − lr · factor(t) · direction(∇L, θ), with ``factor`` the lr schedule (None: 1).
    """
    x_BxD, y_B = batch

    def loss_fn(params: Any) -> tuple[Array, Any]:
        variables = {"params": params}
        if state.batch_stats is not None:
            variables["batch_stats"] = state.batch_stats
            logits, updates = model.apply(variables, x_BxD, train=True, mutable=["batch_stats"])
            new_stats = updates["batch_stats"]
        else:
            logits, new_stats = model.apply(variables, x_BxD, train=True), None
        loss, _ = loss_and_accuracy(logits, y_B)
        return loss, new_stats

    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    # optax's Adam computes decay ** count (float ** int32): allow standard promotion there
    # even when a user (or the test suite) runs with strict promotion.
    with jax.numpy_dtype_promotion("standard"):
        direction, opt_state = tx.update(grads, state.opt_state, state.params)
    eta = state.lr if factor is None else state.lr * factor(state.step)
    params = jax.tree_util.tree_map(lambda p, u: p - eta * u, state.params, direction)
    new = state._replace(
        params=params, batch_stats=new_stats, opt_state=opt_state, step=state.step + 1
    )
    return new, loss


def evaluate(
    model: nn.Module, params: Any, batch_stats: Any, x: Array, y: Array, chunk: int
) -> tuple[Array, Array]:
    """Mean loss and accuracy over all of ``(x, y)``, in chunks of ``chunk`` examples."""
    variables = {"params": params}
    if batch_stats is not None:
        variables["batch_stats"] = batch_stats

    def sums(xc: Array, yc: Array) -> tuple[Array, Array]:
        logits: Array = model.apply(variables, xc, train=False)  # type: ignore[assignment]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, yc)
        return losses.sum(), (jnp.argmax(logits, axis=-1) == yc).sum(dtype=jnp.float32)

    n = x.shape[0]
    chunk = min(chunk, n)
    full = (n // chunk) * chunk
    x_CxBxD = x[:full].reshape(n // chunk, chunk, x.shape[1])
    y_CxB = y[:full].reshape(n // chunk, chunk)
    loss_sums, correct = jax.lax.map(lambda c: sums(*c), (x_CxBxD, y_CxB))
    loss_sum, n_correct = loss_sums.sum(), correct.sum()
    if full < n:
        tail_loss, tail_correct = sums(x[full:], y[full:])
        loss_sum, n_correct = loss_sum + tail_loss, n_correct + tail_correct
    return loss_sum / n, n_correct / n


def finite(tree: Any) -> Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.stack(leaves).all()


def epoch_metrics(
    cfg: Config, model: nn.Module, state: TrainState, data: DataArrays, examples: int = 0
) -> dict[str, Array]:
    """Train/test loss and accuracy (on the first ``examples`` of each split; 0: all) and the
    recorded diagnostics of one run."""
    if not cfg.evaluate:
        nan = jnp.full((), jnp.nan, jnp.float32)
        out = {"train_loss": nan, "train_acc": nan, "test_loss": nan, "test_acc": nan}
        return out | recorded(cfg, model, state, data)
    n = examples or None
    tr_loss, tr_acc = evaluate(
        model, state.params, state.batch_stats, data.x_train[:n], data.y_train[:n],
        cfg.eval_batch_size,
    )  # fmt: skip
    te_loss, te_acc = evaluate(
        model, state.params, state.batch_stats, data.x_test[:n], data.y_test[:n],
        cfg.eval_batch_size,
    )  # fmt: skip
    out = {"train_loss": tr_loss, "train_acc": tr_acc, "test_loss": te_loss, "test_acc": te_acc}
    return out | recorded(cfg, model, state, data)


def recorded(
    cfg: Config, model: nn.Module, state: TrainState, data: DataArrays
) -> dict[str, Array]:
    """Diagnostics named in ``cfg.record``, measured on the first ``probe_size`` examples."""
    if not cfg.record:
        return {}
    from initjax import diagnostics

    probe = (data.x_train[: cfg.probe_size], data.y_train[: cfg.probe_size])
    return dict(diagnostics.record(cfg.record, model, state.params, state.batch_stats, probe))


def mask_diverged(state: TrainState, metrics: dict[str, Array]) -> dict[str, Array]:
    bad = state.diverged_step >= 0
    return {k: jnp.where(bad, jnp.full_like(v, jnp.nan), v) for k, v in metrics.items()}


def init_params(cfg: Config, seed: Array, sigma: Array, x: Array) -> Any:
    """The parameters :func:`init_run` draws for the run ``(seed, σ)``, from the init half of the
    seed's key: to measure a sweep's cells at init outside the sweep (vmap over seed and σ).

    ``x``: inputs of the model's shape (only ``x[:1]`` is used), or with ``cfg.lsuv_examples``
    the training inputs (their first ``lsuv_examples`` rows are LSUV's batch, as in a sweep).
    """
    init_key, _ = jax.random.split(jax.random.key(seed))
    model = build_model(cfg, sigma)
    return _lsuv(cfg, model, model.init(init_key, x[:1], train=False)["params"], x)


def _lsuv(cfg: Config, model: nn.Module, params: Any, x_train: Array) -> Any:
    """``params`` after LSUV on the first ``cfg.lsuv_examples`` inputs (unchanged when 0)."""
    if not cfg.lsuv_examples:
        return params
    if x_train.shape[0] < cfg.lsuv_examples:
        raise ValueError(
            f"lsuv_examples={cfg.lsuv_examples} but only {x_train.shape[0]} inputs were given"
        )
    return lsuv.lsuv_traced(model, params, x_train[: cfg.lsuv_examples])


def init_state(cfg: Config, data: DataArrays, seed: Array, sigma: Array, lr: Array) -> TrainState:
    """Initial state of one run (the first half of :func:`init_run`). Pure."""
    init_key, seed_data_key = jax.random.split(jax.random.key(seed))
    data_key = seed_data_key if cfg.order == "per_seed" else jax.random.key(cfg.data_seed)
    model = build_model(cfg, sigma)
    variables = model.init(init_key, data.x_train[:1], train=False)
    params = _lsuv(cfg, model, variables["params"], data.x_train)
    return TrainState(
        params=params,
        batch_stats=variables.get("batch_stats"),
        opt_state=optimizer(cfg).init(params),
        lr=jnp.asarray(lr, jnp.float32),
        data_key=jax.random.key_data(data_key),
        epoch=jnp.zeros((), jnp.int32),
        step=jnp.zeros((), jnp.int32),
        diverged_step=jnp.full((), -1, jnp.int32),
    )


def initial_metrics(cfg: Config, state: TrainState, data: DataArrays) -> dict[str, Array]:
    """Metrics at epoch 0 (before any step) of a run in ``state`` (the second half of
    :func:`init_run`; the init fields of ``cfg`` are not read). Pure."""
    metrics = epoch_metrics(cfg, build_model(cfg), state, data)
    metrics["batch_loss"] = metrics["train_loss"]  # no step yet: the loss at init
    return mask_diverged(state, metrics)


def init_run(
    cfg: Config, data: DataArrays, seed: Array, sigma: Array, lr: Array
) -> tuple[TrainState, dict[str, Array]]:
    """Initial state of one run and its metrics at epoch 0 (before any step). Pure."""
    state = init_state(cfg, data, seed, sigma, lr)
    return state, initial_metrics(cfg, state, data)
