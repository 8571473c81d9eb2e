"""Fixed-scale and constant init schemes: ``constant``, ``zeros``, ``ones``, ``normal``,
``uniform``, ``truncated_normal`` (re-exported by :mod:`initjax.init`, which documents the
conventions and errors).

Their scale is the weights' own standard deviation (or value), not a multiple of a fan; it may
be a Python float or a traced scalar, so a sweep can ``jax.vmap`` over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, overload

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from initjax.initializer import Initializer, as_shape, cast, check_scale, dtypes, unit_draws

__all__ = ["constant", "normal", "ones", "truncated_normal", "uniform", "zeros"]


# ---------------------------------------------------------------- constant schemes


def constant(value: ArrayLike) -> Initializer:
    """W = value everywhere (``value`` may be negative, unlike the scales of other schemes).

    Args:
      value: the constant, a Python float or a (possibly traced) scalar array.

    Returns:
      An :class:`Initializer`.

    >>> constant(0.5)(jax.random.key(0), (2, 2))[0, 0].item()
    0.5
    """
    value = check_scale("value", value, allow_negative=True)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, _ = dtypes(dtype)
        return jnp.broadcast_to(cast(value, dt), as_shape(shape))

    return init


class _Fill(Protocol):
    """An initializer that is its own builder: ``f(key, shape, dtype)`` fills, ``f() is f``."""

    @overload
    def __call__(self) -> Initializer: ...
    @overload
    def __call__(
        self, key: jax.Array, shape: Sequence[int], dtype: DTypeLike = ...
    ) -> jax.Array: ...


def _fill(value: float, name: str, doc: str) -> _Fill:
    """The initializer ``name`` that fills with ``value``, as jax's ``zeros``/``ones`` are."""

    def fill(
        key: jax.Array | None = None,
        shape: Sequence[int] | None = None,
        dtype: DTypeLike | None = None,
    ) -> Any:
        if key is None and shape is None:
            return fill
        if shape is None:
            raise TypeError("called as an initializer, (key, shape, dtype): shape is missing")
        dt, _ = dtypes(dtype)
        return jnp.full(as_shape(shape), value, dt)

    fill.__name__ = fill.__qualname__ = name
    fill.__doc__ = doc
    return fill  # type: ignore[return-value]  # overloads of one function, not expressible


zeros = _fill(
    0.0,
    "zeros",
    """W = 0 (d2l's bias init): an initializer itself, like ``jax.nn.initializers.zeros``.

    ``zeros(key, shape, dtype)`` returns the zeros, so ``nn.Dense(bias_init=ij.init.zeros)``
    works; ``zeros()`` returns ``zeros`` (the builder form every other scheme has, which
    :func:`get` and the registry call).

    >>> zeros(jax.random.key(0), (3,)).tolist(), zeros() is zeros
    ([0.0, 0.0, 0.0], True)
    """,
)
ones = _fill(
    1.0,
    "ones",
    """W = 1 (e.g. a normalization scale): an initializer itself, like ``jax``'s ``ones``.

    >>> ones(jax.random.key(0), (2,)).tolist(), ones() is ones
    ([1.0, 1.0], True)
    """,
)


# ---------------------------------------------------------------- fixed-scale schemes


def normal(sigma: ArrayLike = 0.01) -> Initializer:
    """W ~ N(0, σ²), a plain (untruncated) Gaussian: d2l's ``SoftmaxRegressionScratch`` init.

    Var[W] = σ². σ = 0 gives exact zeros.

    Args:
      sigma: the standard deviation σ >= 0, a Python float or a (possibly traced) scalar.

    Returns:
      An :class:`Initializer`.

    >>> w = normal(0.01)(jax.random.key(0), (784, 256))
    >>> w.shape, bool(abs(w.std() - 0.01) < 1e-3)
    ((784, 256), True)
    """
    sigma = check_scale("sigma", sigma)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, cdt = dtypes(dtype)
        return (cast(sigma, cdt) * jax.random.normal(key, as_shape(shape), cdt)).astype(dt)

    return init


def uniform(sigma: ArrayLike = 0.01) -> Initializer:
    """W ~ U(−√3σ, √3σ): the symmetric uniform with standard deviation σ.

    Var[W] = (2√3σ)²/12 = σ². Not ``jax.nn.initializers.uniform(scale)``, which draws
    U[0, scale) (non-negative, std scale/√12): here σ is the std of a zero-mean uniform, so
    ``uniform`` and ``normal`` of the same σ give weights of the same variance.

    Args:
      sigma: the standard deviation σ >= 0 (not the bound), float or (traced) scalar.

    Returns:
      An :class:`Initializer`.

    >>> w = uniform(0.1)(jax.random.key(0), (784, 256))
    >>> bool(abs(w).max() <= 3**0.5 * 0.1)
    True
    """
    sigma = check_scale("sigma", sigma)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, cdt = dtypes(dtype)
        z = unit_draws(key, as_shape(shape), cdt, "uniform")
        return (cast(sigma, cdt) * z).astype(dt)

    return init


def truncated_normal(
    sigma: ArrayLike = 0.01, lower: float = -2.0, upper: float = 2.0
) -> Initializer:
    """W ~ N(0, σ²) truncated to [lower·σ, upper·σ]; the std is NOT corrected.

    So Std[W] = σ·s < σ, with s² = 1 + (a φ(a) − b φ(b))/Z − ((φ(a) − φ(b))/Z)², a = lower,
    b = upper, Z = Φ(b) − Φ(a) (φ, Φ: standard normal pdf, cdf). For ±2, s = 0.8796.
    For the corrected version use ``variance_scaling(..., "truncated_normal")``.

    Args:
      sigma: σ >= 0 of the Gaussian before truncation, float or (traced) scalar.
      lower, upper: the truncation points in units of σ (concrete floats, lower < upper).

    Returns:
      An :class:`Initializer`.

    >>> w = truncated_normal(0.1)(jax.random.key(0), (784, 256))
    >>> bool(abs(w).max() <= 0.2)
    True
    """
    sigma = check_scale("sigma", sigma)
    lower, upper = float(lower), float(upper)
    if not lower < upper:
        raise ValueError(f"need lower < upper, got lower={lower}, upper={upper}")

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, cdt = dtypes(dtype)
        z = jax.random.truncated_normal(key, lower, upper, as_shape(shape), cdt)
        return (cast(sigma, cdt) * z).astype(dt)

    return init
