"""Optimizers and learning-rate schedules of a run: the registry ``Config(optimizer=...)`` names.

The engine applies ``params -= lr × factor(t) × direction``: :func:`optimizer` gives the
*direction* (an optax transform without the step size, so lr can be a traced per-cell array)
and :func:`lr_factor` the schedule's factor. Functions take the run's ``Config``
(:mod:`initjax.config`, which sits above this module); ``initjax.train`` re-exports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from initjax.initializer import qualname

Array = jax.Array

SCHEDULES = ("constant", "cosine", "warmup_cosine", "step")
"""Learning-rate schedules: the step size at step t is ``lr × factor(t)`` (see :func:`lr_factor`)."""

OptimizerFactory = Callable[[Any], optax.GradientTransformation]
"""``factory(cfg) -> optax.GradientTransformation``: the update *direction*, without the step
size (the engine applies ``params -= lr × factor(t) × direction``, lr being a traced grid
value). It reads what it needs from ``cfg`` (``momentum``, ``weight_decay`` …)."""


def _direction(cfg: Any) -> optax.GradientTransformation:
    base = {
        "sgd": optax.identity,
        "momentum": lambda: optax.trace(decay=cfg.momentum),
        "nesterov": lambda: optax.trace(decay=cfg.momentum, nesterov=True),
        "adam": optax.scale_by_adam,
        "rmsprop": lambda: optax.scale_by_rms(decay=0.9, eps=1e-8),
    }
    if cfg.optimizer == "adamw":  # decoupled decay (Loshchilov & Hutter 2019): after Adam
        return optax.chain(optax.scale_by_adam(), optax.add_decayed_weights(cfg.weight_decay))
    tx = base[str(cfg.optimizer)]()
    if cfg.weight_decay:  # coupled L2, as torch's weight_decay: wd·θ added to the gradient
        return optax.chain(optax.add_decayed_weights(cfg.weight_decay), tx)
    return tx


_BUILTIN_OPTIMIZERS = ("adam", "adamw", "momentum", "nesterov", "rmsprop", "sgd")
_OPTIMIZERS: dict[str, OptimizerFactory] = dict.fromkeys(_BUILTIN_OPTIMIZERS, _direction)


def optimizer_names() -> tuple[str, ...]:
    """Names ``Config(optimizer=...)`` accepts: built-ins and registered ones."""
    return tuple(sorted(_OPTIMIZERS))


def register_optimizer(name: str, factory: OptimizerFactory, *, overwrite: bool = False) -> None:
    """Add an optimizer direction ``factory(cfg) -> GradientTransformation`` under ``name``.

    E.g. ``register_optimizer("lion", lambda cfg: optax.scale_by_lion())``. ValueError when the
    name is a built-in or taken (unless ``overwrite``); TypeError when not callable.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"an optimizer name must be an identifier-like string, got {name!r}")
    if name in _BUILTIN_OPTIMIZERS:
        raise ValueError(f"{name!r} is a built-in optimizer; register yours under another name")
    if name in _OPTIMIZERS and not overwrite:
        raise ValueError(f"optimizer {name!r} is already registered; pass overwrite=True")
    if not callable(factory):
        raise TypeError(f"an optimizer factory must be callable cfg -> transform, got {factory!r}")
    _OPTIMIZERS[name] = factory


def unregister_optimizer(name: str) -> None:
    if name in _BUILTIN_OPTIMIZERS or name not in _OPTIMIZERS:
        raise ValueError(f"{name!r} is not a registered user optimizer")
    del _OPTIMIZERS[name]


def _label(value: Any) -> str:
    return value if isinstance(value, str) else qualname(value)


def optimizer(cfg: Any) -> optax.GradientTransformation:
    """The optimizer *direction* without the step size; the step is ``-lr × factor(t) × update``.

    Keeping lr out of optax lets it be a traced per-run array. With a constant schedule and no
    weight decay, SGD, momentum, Nesterov, Adam and RMSprop equal ``optax.sgd(lr)``,
    ``optax.sgd(lr, momentum)``, ``optax.sgd(lr, momentum, nesterov=True)``, ``optax.adam(lr)``,
    ``optax.rmsprop(lr)``; ``adamw`` equals ``optax.adamw(lr, weight_decay=cfg.weight_decay)``.
    """
    factory = cfg.optimizer if callable(cfg.optimizer) else _OPTIMIZERS[cfg.optimizer]
    tx = factory(cfg)
    if not isinstance(tx, optax.GradientTransformation):
        raise TypeError(
            f"optimizer {_label(cfg.optimizer)} returned {type(tx).__name__}, "
            "not an optax.GradientTransformation"
        )
    if cfg.parametrization != "sp":
        from initjax import parametrization as par

        return optax.chain(tx, par.scale_lr_by_layer(cfg))
    return tx


def lr_factor(cfg: Any, steps_per_epoch: int) -> Callable[[Array], Array]:
    """``factor(step)``: the multiplier of the (traced, per-cell) lr at 0-based step ``step``.

    With T = epochs × steps_per_epoch steps: ``cosine`` is ½(1 + cos(π t/T)); ``warmup_cosine``
    rises linearly from 0 over W = round(warmup_epochs × steps_per_epoch) steps, then follows
    ½(1 + cos(π (t−W)/(T−W))) (``optax.warmup_cosine_decay_schedule(0, 1, W, T, 0)``); ``step``
    is step_gamma ** ⌊t / (step_epochs × steps_per_epoch)⌋.
    """
    total = max(cfg.epochs * steps_per_epoch, 1)
    if callable(cfg.schedule):
        user = cfg.schedule
        return lambda t: jnp.asarray(user(t), jnp.float32)  # t: int32 step
    if cfg.schedule == "cosine":
        sched = optax.cosine_decay_schedule(1.0, total)
    elif cfg.schedule == "warmup_cosine":
        warmup = min(round(cfg.warmup_epochs * steps_per_epoch), total)
        sched = optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup, total, 0.0)
    elif cfg.schedule == "step":
        every = cfg.step_epochs * steps_per_epoch
        sched = optax.exponential_decay(1.0, every, cfg.step_gamma, staircase=True)
    else:
        return lambda t: jnp.ones((), jnp.float32)
    return lambda t: jnp.asarray(sched(t.astype(jnp.float32)), jnp.float32)
