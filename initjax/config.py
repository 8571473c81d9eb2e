"""The run's configuration: :class:`Config`, and the registries its open fields name.

A :class:`Config` is everything one training run needs except the data, the seed, σ and
lr; frozen and hashable, so jitted code sees it as a static argument. Its fields that take a
name or a callable — ``model``, ``scheme``, ``optimizer``, ``schedule`` — open the engine to
user code (:func:`initjax.models.register`, :func:`initjax.init.register`,
:func:`initjax.optim.register_optimizer`, or the callable itself). ``initjax.train`` re-exports all of it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax

from initjax import coerce, docfields, models
from initjax import data as datasets
from initjax import init as schemes
from initjax.errors import unknown
from initjax.initializer import qualname
from initjax.optim import SCHEDULES, optimizer_names

Array = jax.Array

ORDERS = ("shared", "per_seed")
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss")


def label(value: Any) -> str:
    """A name for a Config value: the string itself, or ``module.qualname`` of a callable."""
    return value if isinstance(value, str) else qualname(value)


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
        raise unknown(what, value, valid, extra)


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
    parametrization: str = "sp"
    """Width parametrization of the MLP: ``sp`` (standard), ``ntk`` or ``mup`` (per-layer init
    and lr multipliers relative to base_width; table in initjax.parametrization)."""
    base_width: int = 64
    """Width n₀ at which NTK and µP equal SP (units)."""
    readout_zero: bool = False
    """µP only: draw the output layer as zeros (TP-V's recommended readout init)."""
    residual_init: str = "standard"
    """How ``resmlp``'s blocks start: ``standard``, ``zero`` (SkipInit/ReZero α = 0) or
    ``fixup`` (Zhang et al. 2019); see initjax.nets."""
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
    eval_every: int = 1
    """Evaluate train/test metrics every this many epochs (and always after the last one and
    at init); other epochs record NaN. Saves the forward passes over all data (~60% of a
    softmax epoch's FLOPs), in grids of either ``order``."""
    eval_epochs: tuple[int, ...] = ()
    """Further epochs to evaluate, besides init, every ``eval_every``-th and the last: e.g.
    ``eval_every=epochs, eval_epochs=(1,)`` evaluates at 0, 1 and the end only."""
    eval_examples: int = 0
    """Evaluate intermediate epochs on the first N train and N test examples only (0: all);
    init and the last epoch are always evaluated on everything."""
    eval_batch_size: int = 2000
    """Examples per evaluation chunk (bounds memory of a vmapped grid; no effect on values)."""
    diverge_above: float = 1000.0
    """A run is diverged when a step's loss exceeds this multiple of ln(num_classes) (the loss
    of a uniform guess) or is non-finite; ``inf`` keeps only the non-finite rule."""
    record: tuple[str, ...] = ()
    """Diagnostics recorded per epoch by sweeps, see :mod:`initjax.diagnostics`."""
    probe_size: int = 256
    """Training examples (the first ones) on which recorded diagnostics are measured."""
    lsuv_examples: int = 0
    """0: off. N: after the scheme draws the kernels, LSUV (Mishkin & Matas 2015) rescales
    each Dense kernel in forward order to unit output std on the first N training examples,
    inside the compiled init (``model="mlp"`` without BatchNorm; see initjax.lsuv)."""

    def __post_init__(self) -> None:
        # Numbers and tuples as the engine needs them, frozen so the config stays hashable.
        coerce.coerce_fields(self)
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
            "eval_every",
            "eval_examples",
            "base_width",
            "lsuv_examples",
        ):
            value = getattr(self, name)
            lowest = 0 if name in ("epochs", "eval_examples", "lsuv_examples") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                kind = "non-negative" if lowest == 0 else "positive"
                raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
        if any(not 1 <= e <= self.epochs for e in self.eval_epochs):
            raise ValueError(
                f"eval_epochs must name epochs in 1..epochs = 1..{self.epochs}, got "
                f"{self.eval_epochs!r}"
            )
        if self.model in ("mlp", "cnn", "resmlp") and (not self.hidden or min(self.hidden) < 1):
            raise ValueError(
                f"model {self.model!r} needs positive hidden widths, got hidden={self.hidden!r}"
            )
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
        if self.lsuv_examples and (self.model != "mlp" or self.batch_norm):
            raise ValueError(
                f"lsuv_examples={self.lsuv_examples} needs model='mlp' without batch_norm "
                f"(got model={self.model!r}, batch_norm={self.batch_norm})"
            )
        if self.batch_norm and self.model in ("softmax", "cnn", "resmlp"):
            raise ValueError(
                f"batch_norm=True needs model='mlp' ({self.model} has no BatchNorm option)"
            )
        from initjax import nets
        from initjax import parametrization as par

        _choice("residual_init", self.residual_init, nets.RESIDUAL_INITS)
        _choice("parametrization", self.parametrization, par.PARAMETRIZATIONS)
        if self.parametrization != "sp" and self.model != "mlp":
            raise ValueError(
                f"parametrization={self.parametrization!r} is defined for model='mlp' "
                f"(its input/hidden/output layers), got model={label(self.model)!r}"
            )
        if self.readout_zero and self.parametrization != "mup":
            raise ValueError("readout_zero=True is µP's option: set parametrization='mup'")
        if self.model == "resmlp" and len(set(self.hidden)) != 1:
            raise ValueError(f"resmlp blocks share one width; got hidden={self.hidden!r}")
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
        """The config as JSON; a callable field is written as ``callable:module.qualname``; a
        :data:`LATE_FIELDS` field at its default is left out (fingerprints stay as they were)."""
        raw = dataclasses.asdict(self)
        for name in LATE_FIELDS:
            if raw[name] == LATE_FIELDS[name]:
                del raw[name]
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
        if "eval_epochs" in raw:
            raw["eval_epochs"] = tuple(raw["eval_epochs"])
        return cls(**raw)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


Config.__doc__ = docfields.with_fields(Config)  # the fields' descriptions, for help(Config)

CALLABLE_FIELDS = ("model", "scheme", "optimizer", "schedule")
"""Config fields that take a name or a callable."""

LATE_FIELDS: dict[str, Any] = {"lsuv_examples": 0, "eval_epochs": ()}
"""Fields added after sweep folders existed, with their defaults: at the default they are left
out of :meth:`Config.to_json`, so a folder made before the field resumes and its results are
reused (its fingerprint is unchanged). Add every new field here."""


INIT_ONLY = ("scheme", "scheme_kwargs", "sigma", "bias_scheme", "bias_scale")
"""Config fields that only decide how parameters are drawn, never how they are trained."""


def for_training(cfg: Config) -> Config:
    """``cfg`` with its :data:`INIT_ONLY` fields at their defaults: the key of the compiled
    training program, so that grids differing only in their init (an outer ``scheme`` axis,
    bias inits) train with one program instead of compiling it again per scheme. The model is
    rebuilt from it for ``apply`` only, which never calls the kernel or bias initializers (a
    user model factory must not read the init fields to decide its architecture)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config) if f.name in INIT_ONLY}
    return cfg.replace(**defaults)


def build_model(cfg: Config, sigma: Any = None) -> nn.Module:
    """The Flax model of ``cfg`` whose kernels are drawn with scale ``sigma``."""
    kernel_init = cfg.kernel_init(cfg.default_sigma() if sigma is None else sigma)
    return models.build(cfg.model, kernel_init, cfg.bias_init(), cfg.num_classes, cfg)
