"""Gains: the factor a scheme's std is multiplied by for an activation (torch's convention).

:func:`gain` gives torch's ``calculate_gain`` value where one is conventional (read from
:mod:`initjax.activations`) and otherwise :func:`forward_gain`, 1/√E[φ(z)²].
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from initjax import activations as acts

__all__ = ["forward_gain", "gain"]


def _activation(activation: str | Callable, param: float | None) -> acts.Activation:
    if callable(activation):
        if param is not None:
            raise ValueError("param is only used with activation='leaky_relu'")
        return acts.Activation(activation)
    found = acts.get(activation)
    if param is None:
        return found
    if activation != "leaky_relu":
        raise ValueError(f"param is only used with activation='leaky_relu', not {activation!r}")
    return acts.leaky_relu(float(param))


# Gauss–Hermite (200 nodes) is off by 1e-5 for selu: quadrature of a smooth rule across a
# kink converges slowly. So integrate the N(0, 1) density piecewise with Gauss–Legendre,
# breaking at every kink of the built-in activations (0, ±1, ±3, ±6); |z| > 12 has mass 1e-33.
_BREAKPOINTS = (-12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 12.0)


@functools.cache
def _gaussian_quadrature(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with E[f(z)] ≈ Σ w f(z) for z ~ N(0, 1)."""
    x, w = np.polynomial.legendre.leggauss(n)
    lo, hi = np.array(_BREAKPOINTS[:-1])[:, None], np.array(_BREAKPOINTS[1:])[:, None]
    z = (hi - lo) / 2 * x + (hi + lo) / 2
    pdf = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    return z.ravel(), ((hi - lo) / 2 * w * pdf).ravel()


def forward_gain(activation: str | Callable, param: float | None = None) -> float:
    """g = 1/√E[φ(z)²], z ~ N(0, 1): the gain that keeps the forward second moment fixed.

    With Var[W] = g²/n_in and unit-variance inputs, pre-activations keep unit variance
    through φ. E is computed in float64 by Gauss–Legendre quadrature of the N(0, 1) density,
    piecewise between the kinks of the built-in activations: exact to ~1e-15 for them (and
    ~1e-15 for smooth callables; a callable with a kink elsewhere converges more slowly).

    Args:
      activation: a name (see :func:`gain`) or an elementwise jax-compatible callable.
      param: leaky_relu's negative slope (default 0.01); only for ``"leaky_relu"``.

    Returns:
      g as a Python float.

    >>> round(forward_gain("relu") ** 2, 12)
    2.0
    """
    phi = _activation(activation, param)
    x, w = _gaussian_quadrature()
    # Evaluate eagerly in float64 even when called while some jit is tracing.
    with jax.ensure_compile_time_eval(), jax.enable_x64(True):
        y = np.asarray(phi(jnp.asarray(x)), dtype=np.float64)
    second_moment = float(np.sum(w * y**2))
    if not (math.isfinite(second_moment) and second_moment > 0):
        raise ValueError(f"E[φ(z)²] = {second_moment} for {activation!r}; no finite gain")
    return 1.0 / math.sqrt(second_moment)


def gain(activation: str | Callable, param: float | None = None) -> float:
    """The gain for an activation: the conventional value where one exists, else numeric.

    Conventional (torch's ``calculate_gain``): linear, identity, conv, conv1d/2d/3d and
    sigmoid 1; tanh 5/3; relu √2; leaky_relu √(2/(1 + a²)) with a = param (default 0.01);
    selu 3/4. Every other name (gelu — the exact erf form —, elu, celu, silu/swish, softsign,
    softplus, mish, ...; ``jax.nn`` functions with their defaults) and any callable gets
    :func:`forward_gain`, 1/√E[φ(z)²]. The two differ: e.g. the numeric gain of sigmoid is
    1.85, not 1, and of tanh 1.59, not 5/3.

    Args:
      activation: a name or an elementwise jax-compatible callable.
      param: leaky_relu's negative slope; only for ``"leaky_relu"``.

    Returns:
      The gain, a Python float, to pass as ``gain=`` to xavier/he/lecun/orthogonal.

    >>> gain("tanh")
    1.6666666666666667
    """
    act = _activation(activation, param)
    return act.gain if act.gain is not None else forward_gain(activation, param)
