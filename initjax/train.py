"""One training run as a pure, jit-compiled function.

A run is two pure functions, composed by :func:`run` into one compiled program and vmapped by
:mod:`initjax.sweep` over a grid (the sweep never re-implements them):

* ``init_run(cfg, data, seed, sigma, lr) -> (state, metrics at epoch 0)``
* ``train_epochs(cfg, data, state, n) -> (state, metrics for the next n epochs)``

and :func:`train_epochs_grid`, the same for a grid of runs with the step vmapped inside the
scan over batches (one GEMM per layer for all cells when the batch order is shared).

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

import dataclasses
import functools
import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from initjax import data as datasets
from initjax import init as schemes
from initjax import models

Array = jax.Array

ORDERS = ("shared", "per_seed")
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "step")
"""Learning-rate schedules: the step size at step t is ``lr × factor(t)`` (see :func:`lr_factor`)."""

OptimizerFactory = Callable[["Config"], optax.GradientTransformation]
"""``factory(cfg) -> optax.GradientTransformation``: the update *direction*, without the step
size (the engine applies ``params -= lr × factor(t) × direction``, lr being a traced grid
value). It reads what it needs from ``cfg`` (``momentum``, ``weight_decay`` …)."""


def _direction(cfg: Config) -> optax.GradientTransformation:
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


def label(value: Any) -> str:
    """A name for a Config value: the string itself, or ``module.qualname`` of a callable."""
    if isinstance(value, str):
        return value
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"


def _choice(what: str, value: Any, valid: tuple[str, ...], *, allow_callable: bool = False) -> None:
    if allow_callable and callable(value) and not isinstance(value, str):
        try:
            hash(value)
        except TypeError:
            raise ValueError(
                f"a callable {what} must be hashable (a function, not e.g. a list-holding "
                f"object), got {value!r}"
            ) from None
        return
    if value not in valid:
        extra = " or a callable" if allow_callable else ""
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(valid)}{extra}")


@dataclass(frozen=True)
class Config:
    """Everything one training run needs except the data, the seed, σ and lr.

    Frozen and hashable: jitted code sees it as a static argument, never as a dict. Invalid
    values raise ``ValueError`` on construction, naming the valid choices.
    """

    model: str | Callable[..., Any] = "softmax"
    """``softmax`` (d2l's softmax regression), ``mlp``, a registered model name, or a factory
    ``(kernel_init, bias_init, num_classes, cfg) -> flax module`` (see initjax.models)."""
    hidden: tuple[int, ...] = (256,)
    """MLP hidden widths, input to output (units). Ignored by ``softmax``."""
    activation: str = "relu"
    """MLP activation name, see :func:`initjax.models.activation_names`."""
    scheme: str | Callable[..., Any] = "normal"
    """Weight init scheme for every kernel: a name (:func:`initjax.init.names`, incl. registered
    ones) or a builder ``scale -> init(key, shape, dtype)``."""
    scheme_kwargs: tuple[tuple[str, Any], ...] = ()
    """Other keyword arguments of the scheme (a dict is accepted and frozen), e.g. mode."""
    sigma: float | None = None
    """Default scale when ``run`` gets none (None: the scheme's default, e.g. σ = 0.01)."""
    bias_scheme: str = "zeros"
    """Bias init scheme (d2l: zeros)."""
    bias_scale: float | None = None
    """Scale argument of the bias scheme (None: its default)."""
    batch_norm: bool = False
    """BatchNorm after every hidden Dense (MLP only)."""
    optimizer: str | Callable[..., Any] = "sgd"
    """``sgd`` (plain minibatch SGD, d2l), ``momentum`` (heavy ball), ``nesterov``, ``adam``,
    ``adamw`` (decoupled weight decay), ``rmsprop`` (decay 0.9, eps 1e-8), a registered name,
    or a direction factory ``cfg -> optax transform`` (see register_optimizer)."""
    lr: float = 0.1
    """Learning rate (step size), used when ``run`` gets none."""
    momentum: float = 0.9
    """Momentum coefficient for ``momentum`` and ``nesterov``."""
    weight_decay: float = 0.0
    """Weight decay λ ≥ 0 (1/step, times lr): decoupled (λθ added after Adam's scaling) for
    ``adamw``, an L2 term λθ added to the gradient for the others."""
    schedule: str | Callable[..., Any] = "constant"
    """lr schedule, the step size being lr × factor(step): ``constant``, ``cosine`` (to 0 at
    the last step), ``warmup_cosine`` (linear 0 → 1 over warmup_epochs, then cosine to 0),
    ``step`` (× step_gamma every step_epochs epochs), or a callable step -> factor."""
    warmup_epochs: float = 0.0
    """Length of the linear warm-up of ``warmup_cosine`` (epochs; may be fractional)."""
    step_epochs: int = 3
    """Epochs between the lr drops of the ``step`` schedule."""
    step_gamma: float = 0.1
    """Factor applied to lr at each drop of the ``step`` schedule."""
    batch_size: int = 256
    """Examples per SGD step; the last partial batch of an epoch is dropped."""
    epochs: int = 10
    """Passes over the training set."""
    dataset: str = "fashion_mnist"
    """Name of the dataset the run is for (checked against the data given to ``run``)."""
    num_classes: int = 10
    """Width of the output layer; must equal the dataset's number of classes."""
    normalize: str = "unit"
    """How the CLI loads the dataset (``unit`` = pixels / 255, as d2l)."""
    data_seed: int = 0
    """Seed of the minibatch order shared by all runs (``order="shared"``)."""
    order: str = "shared"
    """``shared``: every run sees the same batches; ``per_seed``: each seed its own order."""
    evaluate: bool = True
    """Measure train/test loss and accuracy after every epoch (False: only ``batch_loss`` is
    recorded, the other metrics are NaN; for throughput measurements)."""
    eval_batch_size: int = 2000
    """Examples per evaluation chunk (bounds memory of a vmapped grid; no effect on values)."""
    diverge_above: float = 1000.0
    """A run is diverged when a step's loss exceeds this multiple of ln(num_classes) (the loss
    of a uniform guess) or is non-finite; ``inf`` keeps only the non-finite rule."""
    record: tuple[str, ...] = ()
    """Diagnostics recorded per epoch by sweeps, see :mod:`initjax.diagnostics`."""
    probe_size: int = 256
    """Training examples (the first ones) on which recorded diagnostics are measured."""

    def __post_init__(self) -> None:
        # Freeze mutable inputs so the config stays hashable (jit static argument).
        if isinstance(self.scheme_kwargs, Mapping):
            object.__setattr__(self, "scheme_kwargs", tuple(sorted(self.scheme_kwargs.items())))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "record", tuple(self.record))
        _choice("model", self.model, models.names(), allow_callable=True)
        _choice("optimizer", self.optimizer, optimizer_names(), allow_callable=True)
        _choice("schedule", self.schedule, SCHEDULES, allow_callable=True)
        _choice("order", self.order, ORDERS)
        _choice("scheme", self.scheme, schemes.names(), allow_callable=True)
        _choice("bias scheme", self.bias_scheme, schemes.names())
        _choice("activation", self.activation, models.activation_names())
        _choice("dataset", self.dataset, datasets.names())
        _choice("normalize", self.normalize, ("unit", "standard", "none"))
        for name in (
            "batch_size",
            "epochs",
            "eval_batch_size",
            "probe_size",
            "num_classes",
            "step_epochs",
        ):
            value = getattr(self, name)
            lowest = 0 if name == "epochs" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                kind = "non-negative" if lowest == 0 else "positive"
                raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
        if self.model == "mlp" and (not self.hidden or min(self.hidden) < 1):
            raise ValueError(f"an MLP needs positive hidden widths, got hidden={self.hidden!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        for name in ("weight_decay", "warmup_epochs"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (math.isfinite(self.step_gamma) and self.step_gamma > 0):
            raise ValueError(f"step_gamma must be a positive finite number, got {self.step_gamma}")
        if not self.diverge_above > 0:
            raise ValueError(f"diverge_above must be > 0 (inf: off), got {self.diverge_above!r}")
        if self.batch_norm and self.model == "softmax":
            raise ValueError("batch_norm=True needs model='mlp' (softmax regression has none)")
        if self.record:
            from initjax import diagnostics

            for name in self.record:
                _choice("diagnostic to record", name, diagnostics.recordable())
        # Building the scheme once here makes unknown keyword arguments fail now, not in jit.
        self.kernel_init(self.default_sigma())
        self.bias_init()

    # ---- derived pieces -------------------------------------------------------------------

    def default_sigma(self) -> float:
        """The scale used when none is given: ``cfg.sigma`` or the scheme's default."""
        if self.sigma is not None:
            return float(self.sigma)
        if callable(self.scheme):
            params = list(inspect.signature(self.scheme).parameters)
            return schemes.default_scale_of(self.scheme, params[0] if params else None, None)
        default = schemes.default_scale(self.scheme)
        return 0.0 if default is None else float(default)

    def scale_param(self) -> str:
        """What σ means for this scheme: the name of its scale argument (``none``: unused)."""
        if callable(self.scheme):
            params = list(inspect.signature(self.scheme).parameters)
            return params[0] if params else "none"
        return schemes.scale_param(self.scheme) or "none"

    def kernel_init(self, sigma: Any) -> Callable[..., Array]:
        """The weight initializer with scale ``sigma`` (may be traced)."""
        kwargs = dict(self.scheme_kwargs)
        if callable(self.scheme):
            init = self.scheme(sigma, **kwargs)
            schemes.check_initializer(init, label(self.scheme))
            return init
        param = schemes.scale_param(self.scheme)
        if param is not None:
            kwargs[param] = sigma
        return schemes.get(self.scheme, **kwargs)

    def bias_init(self) -> Callable[..., Array]:
        kwargs = {}
        param = schemes.scale_param(self.bias_scheme)
        if param is not None and self.bias_scale is not None:
            kwargs[param] = self.bias_scale
        return schemes.get(self.bias_scheme, **kwargs)

    def to_json(self) -> str:
        """The config as JSON; a callable field is written as ``callable:module.qualname``."""
        raw = dataclasses.asdict(self)
        for name in CALLABLE_FIELDS:
            if callable(raw[name]):
                raw[name] = "callable:" + label(raw[name])
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Config:
        raw = json.loads(text)
        for name in CALLABLE_FIELDS:
            if str(raw.get(name, "")).startswith("callable:"):
                raise ValueError(
                    f"this config's {name} is a Python callable ({raw[name][9:]}); register it "
                    f"under a name, or rebuild the Config with {name}=<the callable>"
                )
        raw["hidden"] = tuple(raw["hidden"])
        raw["scheme_kwargs"] = tuple((k, v) for k, v in raw["scheme_kwargs"])
        raw["record"] = tuple(raw["record"])
        return cls(**raw)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


CALLABLE_FIELDS = ("model", "scheme", "optimizer", "schedule")
"""Config fields that take a name or a callable."""


def build_model(cfg: Config, sigma: Any = None) -> nn.Module:
    """The Flax model of ``cfg`` whose kernels are drawn with scale ``sigma``."""
    kernel_init = cfg.kernel_init(cfg.default_sigma() if sigma is None else sigma)
    return models.build(cfg.model, kernel_init, cfg.bias_init(), cfg.num_classes, cfg)


def optimizer(cfg: Config) -> optax.GradientTransformation:
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
            f"optimizer {label(cfg.optimizer)} returned {type(tx).__name__}, "
            "not an optax.GradientTransformation"
        )
    return tx


def lr_factor(cfg: Config, steps_per_epoch: int) -> Callable[[Array], Array]:
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
    if cfg.record:
        _check_layers(cfg, data)


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


def _finite(tree: Any) -> Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.stack(leaves).all()


def _metrics(
    cfg: Config, model: nn.Module, state: TrainState, data: DataArrays
) -> dict[str, Array]:
    if not cfg.evaluate:
        nan = jnp.full((), jnp.nan, jnp.float32)
        out = {"train_loss": nan, "train_acc": nan, "test_loss": nan, "test_acc": nan}
        return out | _recorded(cfg, model, state, data)
    tr_loss, tr_acc = evaluate(
        model, state.params, state.batch_stats, data.x_train, data.y_train, cfg.eval_batch_size
    )
    te_loss, te_acc = evaluate(
        model, state.params, state.batch_stats, data.x_test, data.y_test, cfg.eval_batch_size
    )
    out = {"train_loss": tr_loss, "train_acc": tr_acc, "test_loss": te_loss, "test_acc": te_acc}
    return out | _recorded(cfg, model, state, data)


def _recorded(
    cfg: Config, model: nn.Module, state: TrainState, data: DataArrays
) -> dict[str, Array]:
    """Diagnostics named in ``cfg.record``, measured on the first ``probe_size`` examples."""
    if not cfg.record:
        return {}
    from initjax import diagnostics

    probe = (data.x_train[: cfg.probe_size], data.y_train[: cfg.probe_size])
    return dict(diagnostics.record(cfg.record, model, state.params, state.batch_stats, probe))


def init_run(
    cfg: Config, data: DataArrays, seed: Array, sigma: Array, lr: Array
) -> tuple[TrainState, dict[str, Array]]:
    """Initial state of one run and its metrics at epoch 0 (before any step). Pure."""
    init_key, seed_data_key = jax.random.split(jax.random.key(seed))
    data_key = seed_data_key if cfg.order == "per_seed" else jax.random.key(cfg.data_seed)
    model = build_model(cfg, sigma)
    variables = model.init(init_key, data.x_train[:1], train=False)
    params = variables["params"]
    state = TrainState(
        params=params,
        batch_stats=variables.get("batch_stats"),
        opt_state=optimizer(cfg).init(params),
        lr=jnp.asarray(lr, jnp.float32),
        data_key=jax.random.key_data(data_key),
        epoch=jnp.zeros((), jnp.int32),
        step=jnp.zeros((), jnp.int32),
        diverged_step=jnp.full((), -1, jnp.int32),
    )
    metrics = _metrics(cfg, model, state, data)
    metrics["batch_loss"] = metrics["train_loss"]  # no step yet: the loss at init
    return state, _mask_diverged(state, metrics)


def _mask_diverged(state: TrainState, metrics: dict[str, Array]) -> dict[str, Array]:
    bad = state.diverged_step >= 0
    return {k: jnp.where(bad, jnp.full_like(v, jnp.nan), v) for k, v in metrics.items()}


def _epoch_order(cfg: Config, data_key: Array, epoch: Array, n: int) -> Array:
    """The (steps, batch) example indices of epoch ``epoch``: ``fold_in(data_key, epoch)``."""
    key = jax.random.fold_in(jax.random.wrap_key_data(data_key), epoch)
    return datasets.epoch_batches(key, n, cfg.batch_size)


def _close_epoch(
    cfg: Config,
    model: nn.Module,
    data: DataArrays,
    state: TrainState,
    trained: TrainState,
    losses_N: Array,
) -> tuple[TrainState, dict[str, Array]]:
    """After an epoch's steps took ``state`` to ``trained``: the divergence check, the epoch
    counter and the epoch's metrics, for one run.

    Divergence is checked once per epoch (cheap); the first bad step (loss non-finite or
    above :func:`loss_limit`) is recovered from the per-step losses. A diverged run keeps the
    state it had before the epoch.
    """
    steps_per_epoch = losses_N.shape[0]
    bad_N = ~jnp.isfinite(losses_N) | (losses_N > loss_limit(cfg))
    ok = _finite(trained.params) & ~jnp.any(bad_N) & (state.diverged_step < 0)
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
    metrics = _metrics(cfg, model, new, data)
    metrics["batch_loss"] = losses_N.mean()
    return new, _mask_diverged(new, metrics)


def loss_limit(cfg: Config) -> float:
    """The loss above which a step counts as diverged: ``diverge_above × ln(num_classes)``."""
    return float(cfg.diverge_above * math.log(max(cfg.num_classes, 2)))


def _step_fn(cfg: Config, model: nn.Module, data: DataArrays) -> Callable[..., Any]:
    steps_per_epoch = data.x_train.shape[0] // cfg.batch_size
    factor = None if cfg.schedule == "constant" else lr_factor(cfg, steps_per_epoch)
    return functools.partial(train_step, model=model, tx=optimizer(cfg), factor=factor)


def train_epochs(
    cfg: Config, data: DataArrays, state: TrainState, n_epochs: int
) -> tuple[TrainState, dict[str, Array]]:
    """Train ``n_epochs`` more epochs; metrics stacked along a leading epoch axis. Pure."""
    model = build_model(cfg)
    step = _step_fn(cfg, model, data)

    def one_epoch(state: TrainState, _: None) -> tuple[TrainState, dict[str, Array]]:
        order_NxB = _epoch_order(cfg, state.data_key, state.epoch, data.x_train.shape[0])

        def body(s: TrainState, idx_B: Array) -> tuple[TrainState, Array]:
            return step(s, (data.x_train[idx_B], data.y_train[idx_B]))

        trained, losses_N = jax.lax.scan(body, state, order_NxB)
        return _close_epoch(cfg, model, data, state, trained, losses_N)

    return jax.lax.scan(one_epoch, state, None, length=n_epochs)


def train_epochs_grid(
    cfg: Config, data: DataArrays, states: TrainState, n_epochs: int
) -> tuple[TrainState, dict[str, Array]]:
    """:func:`train_epochs` for a grid: ``states`` has a leading cell axis (every cell at the
    same epoch, as in a sweep); metrics come back as (cells, epochs, ...). Pure.

    With ``order="shared"`` every cell reads the same batch at every step, so the batch is
    gathered once and the step is vmapped over cells *inside* the scan over batches, the batch
    unbatched: each layer's matmul is then one (B×D)·(D×M·K) GEMM over all M cells (its
    gradient likewise), not M small matmuls on M gathered copies of the batch — what
    ``vmap(train_epochs)`` would compile to, since vmap cannot know that the cells' data keys
    are equal. The result is the same computation: equal to ``vmap(train_epochs)`` up to the
    float32 rounding of a different summation order. ``order="per_seed"`` is
    ``vmap(train_epochs)``.
    """
    if cfg.order == "per_seed":
        return jax.vmap(lambda s: train_epochs(cfg, data, s, n_epochs))(states)
    model = build_model(cfg)
    step = _step_fn(cfg, model, data)
    step_cells = jax.vmap(step, in_axes=(0, None))  # the batch is shared by all cells
    close_cells = jax.vmap(
        functools.partial(_close_epoch, cfg, model, data), in_axes=(0, 0, 1)
    )  # losses are (steps, cells)

    def one_epoch(states: TrainState, _: None) -> tuple[TrainState, dict[str, Array]]:
        # order="shared": every cell's data key is key(cfg.data_seed) and its epoch the same
        order_NxB = _epoch_order(cfg, states.data_key[0], states.epoch[0], data.x_train.shape[0])

        def body(s: TrainState, idx_B: Array) -> tuple[TrainState, Array]:
            return step_cells(s, (data.x_train[idx_B], data.y_train[idx_B]))

        trained, losses_NxM = jax.lax.scan(body, states, order_NxB)
        return close_cells(states, trained, losses_NxM)

    new, metrics = jax.lax.scan(one_epoch, states, None, length=n_epochs)
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
