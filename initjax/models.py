"""Flax linen models built from initjax schemes: d2l's softmax regression and an MLP.

Layers are named ``hidden_0 … hidden_{L-1}`` and ``output`` so diagnostics can walk them in
order. Every model can report its per-layer pre-activations and activations: call
:func:`forward` (it collects what the layers ``sow`` into the ``intermediates`` collection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from initjax import init as schemes

Array = jax.Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": nn.relu,
    "leaky_relu": partial(nn.leaky_relu, negative_slope=0.01),
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "softsign": nn.soft_sign,
    "gelu": partial(nn.gelu, approximate=False),
    "selu": nn.selu,
    "linear": lambda x: x,
}


def activation_names() -> tuple[str, ...]:
    """Names accepted by ``MLP(activation=...)``."""
    return tuple(sorted(ACTIVATIONS))


def activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name``; ValueError lists the valid names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid choices: {', '.join(activation_names())}"
        ) from None


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

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        phi = activation(self.activation)
        for i, width in enumerate(self.hidden):
            dense = nn.Dense(
                width, kernel_init=self.kernel_init, bias_init=self.bias_init, name=f"hidden_{i}"
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
            self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init, name="output"
        )(x)


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
