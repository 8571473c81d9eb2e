"""Flax linen models built from initjax schemes, and the registry that opens the engine to yours.

A model enters the engine through a **factory** ``factory(kernel_init, bias_init, num_classes,
cfg) -> flax.linen.Module``: the built-ins ``softmax`` (d2l's softmax regression) and ``mlp``
are registered factories, and :func:`register` adds the researcher's own under a name (or a
factory is passed as ``Config(model=factory)``). ``kernel_init``/``bias_init`` are the run's
schemes with σ already bound (σ may be traced: use them as they are); ``cfg`` is the run's
:class:`initjax.train.Config` (read ``cfg.hidden``, ``cfg.activation`` … as you like).
The module is called as ``module.apply(variables, x, train=bool)`` and returns logits.

**Per-layer diagnostics** (``Config.record``, :mod:`initjax.diagnostics`, LSUV) need the
documented form: the module has a field ``hidden`` (one entry per hidden layer), its
parameter-carrying layers are named ``hidden_0 … hidden_{L-1}`` and ``output`` (each with a
``kernel``), and every hidden layer sows its pre-activation and activation as
``intermediates/hidden_i/{preact,act}`` (call :func:`forward` to collect them). A model
without that form trains, sweeps and resumes like any other; :func:`check_layers` says which
diagnostics it cannot record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax

from initjax import activations as acts
from initjax import cell_layout, nets, parametrization
from initjax import init as schemes
from initjax.errors import check_new_name, unknown

Array = jax.Array


def activation_names() -> tuple[str, ...]:
    """Names accepted by ``MLP(activation=...)`` (:mod:`initjax.activations`)."""
    return acts.names()


def activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name``; ValueError lists the valid names."""
    return acts.get(name).fn


class SoftmaxRegression(nn.Module):
    """d2l's ``SoftmaxRegressionScratch``: logits = x W + b, W ~ kernel_init, b ~ bias_init.

    The softmax itself lives in the loss (``optax.softmax_cross_entropy_with_integer_labels``),
    as in d2l's numerically stable version.
    """

    num_classes: int = 10
    kernel_init: Callable[..., Array] = schemes.normal(0.01)
    bias_init: Callable[..., Array] = schemes.zeros()

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        del train  # no layer behaves differently in training
        return nn.Dense(
            self.num_classes,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            dot_general=cell_layout.dense_dot_general,
            name="output",
        )(x)


class MLP(nn.Module):
    """Fully connected net: ``hidden`` widths, one activation, optional BatchNorm, linear head.

    With ``batch_norm=True`` each hidden layer is Dense → BatchNorm → activation (Ioffe &
    Szegedy 2015); BatchNorm uses batch statistics in training and running averages
    (momentum 0.9) in evaluation. Pre-activations (the Dense outputs, before BatchNorm) and
    activations are sown as ``intermediates/hidden_i/{preact,act}``.
    """

    hidden: Sequence[int] = (256,)
    num_classes: int = 10
    activation: str = "relu"
    kernel_init: Callable[..., Array] = schemes.normal(0.01)
    bias_init: Callable[..., Array] = schemes.zeros()
    batch_norm: bool = False
    output_init: Callable[..., Array] | None = None
    """The output layer's kernel init (None: ``kernel_init``; set by µP)."""

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        phi = activation(self.activation)
        for i, width in enumerate(self.hidden):
            dense = nn.Dense(
                width,
                kernel_init=self.kernel_init,
                bias_init=self.bias_init,
                dot_general=cell_layout.dense_dot_general,
                name=f"hidden_{i}",
            )
            z = dense(x)
            dense.sow("intermediates", "preact", z)
            if self.batch_norm:
                z = nn.BatchNorm(
                    use_running_average=not train, momentum=0.9, epsilon=1e-5, name=f"bn_{i}"
                )(z)
            x = phi(z)
            dense.sow("intermediates", "act", x)
        return nn.Dense(
            self.num_classes,
            kernel_init=self.output_init or self.kernel_init,
            bias_init=self.bias_init,
            dot_general=cell_layout.dense_dot_general,
            name="output",
        )(x)


ModelFactory = Callable[[Callable[..., Array], Callable[..., Array], int, Any], nn.Module]
"""``factory(kernel_init, bias_init, num_classes, cfg) -> nn.Module``."""


def _softmax(kernel_init: Callable, bias_init: Callable, num_classes: int, cfg: Any) -> nn.Module:
    return SoftmaxRegression(num_classes, kernel_init, bias_init)


def _mlp(kernel_init: Callable, bias_init: Callable, num_classes: int, cfg: Any) -> nn.Module:
    out_init = None
    if getattr(cfg, "parametrization", "sp") != "sp":
        out_init = parametrization.output_init(cfg, kernel_init, fan_in=cfg.hidden[-1])
    return MLP(
        hidden=cfg.hidden,
        num_classes=num_classes,
        activation=cfg.activation,
        kernel_init=kernel_init,
        bias_init=bias_init,
        batch_norm=cfg.batch_norm,
        output_init=out_init,
    )


def _cnn(kernel_init: Callable, bias_init: Callable, num_classes: int, cfg: Any) -> nn.Module:
    return nets.CNN(cfg.hidden, num_classes, activation(cfg.activation), kernel_init, bias_init)


def _resmlp(kernel_init: Callable, bias_init: Callable, num_classes: int, cfg: Any) -> nn.Module:
    return nets.ResMLP(
        cfg.hidden, num_classes, activation(cfg.activation), kernel_init, bias_init,
        residual_init=cfg.residual_init,
    )  # fmt: skip


_REGISTRY: dict[str, ModelFactory] = {
    "softmax": _softmax,
    "mlp": _mlp,
    "cnn": _cnn,
    "resmlp": _resmlp,
}
_BUILTIN = frozenset(_REGISTRY)


def names() -> tuple[str, ...]:
    """Model names ``Config(model=...)`` accepts: the built-ins and every registered one."""
    return tuple(sorted(_REGISTRY))


def register(name: str, factory: ModelFactory, *, overwrite: bool = False) -> None:
    """Add a model factory under ``name`` (usable in Config, the CLI, sweeps and checkpoints).

    Raises ValueError when ``name`` is taken (built-ins can never be replaced; a registered
    one only with ``overwrite=True``) and TypeError when ``factory`` is not callable.
    """
    check_new_name("model", name, _REGISTRY, _BUILTIN, overwrite=overwrite)
    if not callable(factory):
        raise TypeError(
            f"a model factory must be callable (kernel_init, bias_init, num_classes, cfg) -> "
            f"nn.Module, got {factory!r}"
        )
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Remove a model added with :func:`register`."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in model and cannot be removed")
    factory(name)
    del _REGISTRY[name]


def factory(model: str | ModelFactory) -> ModelFactory:
    """The factory of ``model`` (a registered name, or a factory, returned as is)."""
    if callable(model):
        return model
    if model not in _REGISTRY:
        raise unknown("model", model, names())
    return _REGISTRY[model]


def build(
    model: str | ModelFactory,
    kernel_init: Callable[..., Array],
    bias_init: Callable[..., Array],
    num_classes: int,
    cfg: Any,
) -> nn.Module:
    """Call the factory of ``model``; TypeError when it returns no Flax module."""
    module = factory(model)(kernel_init, bias_init, num_classes, cfg)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"model factory {model!r} returned {type(module).__name__}, not a flax.linen.Module"
        )
    return module


def check_layers(model: nn.Module, params: Any, intermediates: Any) -> None:
    """Raise ValueError unless ``model`` has the documented per-layer form (module docstring).

    ``params`` and ``intermediates`` may be abstract (from ``jax.eval_shape``).
    """
    problems = []
    for name in layer_names(model):
        if "kernel" not in params.get(name, {}):
            problems.append(f"no parameter {name}/kernel")
        elif name != "output" and not {"preact", "act"} <= set(intermediates.get(name, {})):
            problems.append(f"{name} does not sow intermediates {name}/{{preact,act}}")
    if problems:
        raise ValueError(
            f"{type(model).__name__} lacks the per-layer form diagnostics need ("
            + "; ".join(problems)
            + "); see initjax.models' docstring"
        )


def layer_names(model: nn.Module) -> tuple[str, ...]:
    """Dense layers in forward order: ``hidden_0, …, output``."""
    hidden = getattr(model, "hidden", ())
    return (*(f"hidden_{i}" for i in range(len(hidden))), "output")


def forward(
    model: nn.Module, variables: dict[str, Any], x: Array, train: bool = False
) -> tuple[Array, list[Array], list[Array]]:
    """Logits plus per-hidden-layer pre-activations and activations, in layer order.

    Runs with BatchNorm in evaluation mode unless ``train`` (then batch statistics are used
    and the updated running averages are discarded).
    """
    mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
    logits, state = model.apply(variables, x, train=train, mutable=mutable)
    inter = state.get("intermediates", {})  # empty for SoftmaxRegression (nothing is sown)
    names = [n for n in layer_names(model) if n != "output"]
    preacts = [inter[n]["preact"][0] for n in names]
    acts = [inter[n]["act"][0] for n in names]
    return logits, preacts, acts


def param_count(params: Any) -> int:
    """Number of scalar parameters in a pytree."""
    return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))
