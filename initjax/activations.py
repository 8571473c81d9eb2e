"""Activations by name: the function and what initjax knows about it, in one table.

Every module that needs an activation reads it here: :mod:`initjax.models` (the MLP's φ),
:mod:`initjax.init` (``gain``) and :mod:`initjax.theory` (closed forms for piecewise-linear φ,
the σ_b = 0 transition of odd φ). Each entry records

* ``gain``: torch's ``calculate_gain`` value where one is conventional (linear and sigmoid 1,
  tanh 5/3, relu √2, leaky_relu √(2/(1 + a²)), selu 3/4); None where there is none, and
  :func:`initjax.init.gain` then computes 1/√E[φ(z)²];
* ``odd``: φ(−u) = −φ(u);
* ``slope``: φ(u) = max(u, 0) + slope·min(u, 0) (relu 0, leaky_relu a, linear 1), else None.

GELU is the exact (erf) form; leaky_relu's negative slope is :data:`LEAKY_SLOPE` = 0.01
(torch's and jax's default), or any slope through :func:`leaky_relu`.

>>> get("tanh").gain, get("tanh").odd, get("relu").slope
(1.6666666666666667, True, 0.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from initjax.errors import unknown

Array = jax.Array

__all__ = [
    "GAIN_ALIASES",
    "LEAKY_SLOPE",
    "TABLE",
    "Activation",
    "get",
    "leaky_relu",
    "names",
]

LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """An elementwise φ and what the theory and the gains can exploit about it (hashable)."""

    fn: Callable[[Array], Array]
    gain: float | None = None
    """torch's conventional gain; None: none is conventional (use the numeric forward gain)."""
    odd: bool = False
    """φ(−u) = −φ(u): at σ_b = 0 the order–chaos transition is σ_w = 1/|φ′(0)|."""
    slope: float | None = None
    """φ(u) = max(u, 0) + slope·min(u, 0) (positively homogeneous: closed forms), else None."""

    def __call__(self, x: Array) -> Array:
        return self.fn(x)


def _identity(x: Array) -> Array:
    return x


@functools.cache
def leaky_relu(slope: float = LEAKY_SLOPE) -> Activation:
    """Leaky ReLU with negative ``slope`` a: gain √(2/(1 + a²)) (He et al. 2015, eq. 15)."""
    a = float(slope)
    fn = functools.partial(jax.nn.leaky_relu, negative_slope=a)
    return Activation(fn, gain=math.sqrt(2.0 / (1.0 + a**2)), slope=a)


TABLE: dict[str, Activation] = {
    "linear": Activation(_identity, gain=1.0, odd=True, slope=1.0),
    "sigmoid": Activation(jax.nn.sigmoid, gain=1.0),
    "tanh": Activation(jnp.tanh, gain=5.0 / 3.0, odd=True),
    "relu": Activation(jax.nn.relu, gain=math.sqrt(2.0), slope=0.0),
    "leaky_relu": leaky_relu(),
    "selu": Activation(jax.nn.selu, gain=0.75),
    "gelu": Activation(functools.partial(jax.nn.gelu, approximate=False)),
    "softsign": Activation(jax.nn.soft_sign, odd=True),
    "erf": Activation(jax.scipy.special.erf, odd=True),
    "hard_tanh": Activation(jax.nn.hard_tanh, odd=True),
}
# Further elementwise jax.nn activations, with their default arguments.
for _name in (
    "celu elu hard_sigmoid hard_silu hard_swish log_sigmoid mish relu6 silu "
    "soft_sign softplus sparse_plus squareplus swish"
).split():
    if hasattr(jax.nn, _name):  # guard against renames across jax versions
        TABLE[_name] = Activation(getattr(jax.nn, _name))
TABLE["soft_sign"] = TABLE["softsign"]
del _name

# torch's calculate_gain also takes these layer names, all with gain 1 (φ = identity).
GAIN_ALIASES = ("identity", "conv", "conv1d", "conv2d", "conv3d")


def names() -> tuple[str, ...]:
    """Every activation name, sorted."""
    return tuple(sorted(TABLE))


def get(name: str) -> Activation:
    """The activation called ``name``; ValueError lists the valid names."""
    if name in GAIN_ALIASES:
        return TABLE["linear"]
    try:
        return TABLE[name]
    except KeyError:
        raise unknown("activation", name, names()) from None
