"""Fan-based init schemes: variance scaling (Glorot, He, LeCun) and orthogonal (Saxe).

Each is a builder returning ``init(key, shape, dtype)``; see :mod:`initjax.init` for what
"normal" means here (a plain Gaussian, as torch) and for the registry that names them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from initjax.initializer import (
    DISTRIBUTIONS,
    MODES,
    Axes,
    Initializer,
    as_axes,
    as_shape,
    cast,
    check_choice,
    check_scale,
    dtypes,
    fan_scheme,
)

__all__ = [
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
]


def _fan(mode: str, fan_in: int, fan_out: int) -> float:
    return {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]


def variance_scaling(
    scale: ArrayLike,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    in_axis: Axes = -2,
    out_axis: Axes = -1,
) -> Initializer:
    """Var[W] = scale / n, n = fan_in, fan_out, (fan_in + fan_out)/2 or √(fan_in·fan_out).

    The general form of Glorot & Bengio (2010), He et al. (2015, arXiv:1502.01852) and
    LeCun et al. (1998, Efficient BackProp). ``distribution``:

    - ``"truncated_normal"``: N(0, 1) truncated to ±2, divided by 0.87962566103423978 (its
      std) and scaled by √(scale/n), so the variance is exact — JAX's default;
    - ``"normal"``: a plain Gaussian with std √(scale/n);
    - ``"uniform"``: U(−√(3·scale/n), √(3·scale/n)).

    Args:
      scale: scale >= 0, float or (traced) scalar.
      mode: ``"fan_in"``, ``"fan_out"``, ``"fan_avg"`` or ``"fan_geo_avg"``.
      distribution: ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> w = variance_scaling(2.0, "fan_in", "normal")(jax.random.key(0), (784, 256))
    >>> bool(abs(w.var() * 784 - 2.0) < 0.1)
    True
    """
    scale = check_scale("scale", scale)
    check_choice("mode", mode, MODES)
    check_choice("distribution", distribution, DISTRIBUTIONS)

    def std_rule(s: jax.Array, fan_in: int, fan_out: int) -> jax.Array:
        return jnp.sqrt(s / _fan(mode, fan_in, fan_out))

    return fan_scheme(scale, std_rule, distribution, in_axis, out_axis)


# std / gain as a function of (fan_in, fan_out), per family of the gain-scaled schemes below
_UNIT_STD: dict[str, Callable[[int, int], float]] = {
    "xavier": lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out)),
    "he": lambda n_in, n_out: math.sqrt(2.0 / n_in),
    "lecun": lambda n_in, n_out: math.sqrt(1.0 / n_in),
}


def _gain_scheme(
    gain: ArrayLike, family: str, distribution: str, in_axis: Axes, out_axis: Axes
) -> Initializer:
    """W = gain · unit_std(fan_in, fan_out) · Z, Z of unit variance: Glorot, He or LeCun."""
    gain = check_scale("gain", gain)
    unit_std = _UNIT_STD[family]

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * unit_std(n_in, n_out)

    return fan_scheme(gain, std_rule, distribution, in_axis, out_axis)


def xavier_normal(gain: ArrayLike = 1.0, in_axis: Axes = -2, out_axis: Axes = -1) -> Initializer:
    """Glorot & Bengio (2010): W ~ N(0, gain² · 2/(n_in + n_out)), a plain Gaussian.

    Std = gain·√(2/(n_in + n_out)). JAX's ``glorot_normal`` is a truncated normal of the same
    variance, ``variance_scaling(1, "fan_avg", "truncated_normal")``; torch's is plain.

    Args:
      gain: gain >= 0 (see :func:`gain`), float or (traced) scalar.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> xavier_normal(gain=5 / 3)(jax.random.key(0), (784, 256)).shape
    (784, 256)
    """
    return _gain_scheme(gain, "xavier", "normal", in_axis, out_axis)


def xavier_uniform(gain: ArrayLike = 1.0, in_axis: Axes = -2, out_axis: Axes = -1) -> Initializer:
    """Glorot & Bengio (2010): W ~ U(−b, b), b = gain·√(6/(n_in + n_out)).

    Var[W] = gain² · 2/(n_in + n_out). Same distribution as JAX's ``glorot_uniform`` and
    torch's ``xavier_uniform_``.

    Args:
      gain: gain >= 0 (see :func:`gain`), float or (traced) scalar.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> w = xavier_uniform()(jax.random.key(0), (784, 256))
    >>> bool(abs(w).max() <= (6 / (784 + 256)) ** 0.5)
    True
    """
    return _gain_scheme(gain, "xavier", "uniform", in_axis, out_axis)


def he_normal(gain: ArrayLike = 1.0, in_axis: Axes = -2, out_axis: Axes = -1) -> Initializer:
    """He et al. (2015, arXiv:1502.01852): W ~ N(0, gain² · 2/n_in), a plain Gaussian.

    Std = gain·√(2/n_in), so gain = 1 is He's scheme for ReLU. torch's ``kaiming_normal_``
    takes the √2 as its gain instead (std = gain/√n_in); ours has it built in. JAX's
    ``he_normal`` is a truncated normal of the same variance,
    ``variance_scaling(2, "fan_in", "truncated_normal")``.

    Args:
      gain: an extra gain >= 0 on top of He's √2, float or (traced) scalar.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> w = he_normal()(jax.random.key(0), (784, 256))
    >>> bool(abs(w.var() * 784 / 2 - 1) < 0.05)
    True
    """
    return _gain_scheme(gain, "he", "normal", in_axis, out_axis)


def he_uniform(gain: ArrayLike = 1.0, in_axis: Axes = -2, out_axis: Axes = -1) -> Initializer:
    """He et al. (2015, arXiv:1502.01852): W ~ U(−b, b), b = gain·√(6/n_in).

    Var[W] = gain² · 2/n_in, so gain = 1 is He's scheme (torch: gain √2 passed explicitly).
    Same distribution as JAX's ``he_uniform``.

    Args:
      gain: an extra gain >= 0 on top of He's √2, float or (traced) scalar.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> w = he_uniform()(jax.random.key(0), (3, 3, 16, 32))
    >>> bool(abs(w).max() <= (6 / 144) ** 0.5)
    True
    """
    return _gain_scheme(gain, "he", "uniform", in_axis, out_axis)


def lecun_normal(gain: ArrayLike = 1.0, in_axis: Axes = -2, out_axis: Axes = -1) -> Initializer:
    """LeCun et al. (1998, Efficient BackProp): W ~ N(0, gain²/n_in), a plain Gaussian.

    Std = gain·√(1/n_in). JAX's ``lecun_normal`` is a truncated normal of the same variance,
    ``variance_scaling(1, "fan_in", "truncated_normal")``; torch has no LeCun init.

    Args:
      gain: gain >= 0, float or (traced) scalar.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> lecun_normal()(jax.random.key(0), (784, 256)).shape
    (784, 256)
    """
    return _gain_scheme(gain, "lecun", "normal", in_axis, out_axis)


def lecun_uniform(gain: ArrayLike = 1.0, in_axis: Axes = -2, out_axis: Axes = -1) -> Initializer:
    """LeCun et al. (1998, Efficient BackProp): W ~ U(−b, b), b = gain·√(3/n_in).

    Var[W] = gain²/n_in. Same distribution as JAX's ``lecun_uniform``.

    Args:
      gain: gain >= 0, float or (traced) scalar.
      in_axis, out_axis: the fan axes, see :func:`fans`.

    Returns:
      An :class:`Initializer`.

    >>> w = lecun_uniform()(jax.random.key(0), (784, 256))
    >>> bool(abs(w).max() <= (3 / 784) ** 0.5)
    True
    """
    return _gain_scheme(gain, "lecun", "uniform", in_axis, out_axis)


glorot_normal = xavier_normal
glorot_uniform = xavier_uniform
kaiming_normal = he_normal
kaiming_uniform = he_uniform


def orthogonal(gain: ArrayLike = 1.0, column_axis: int = -1) -> Initializer:
    """Saxe et al. (2013, arXiv:1312.6120): a random (semi-)orthogonal W scaled by gain.

    WᵀW = gain²·I when W (as a matrix) is tall or square, WWᵀ = gain²·I when it is wide; the
    matrix has the column_axis as columns and all other axes flattened into rows. Each entry
    has variance gain²/max(rows, cols). Drawn as Q of the QR decomposition of a Gaussian
    matrix, with Q's columns multiplied by sign(diag R) so that Q is Haar-distributed
    (Mezzadri 2007, math-ph/0609050), not biased by the QR routine's sign convention.

    Args:
      gain: gain >= 0, float or (traced) scalar.
      column_axis: the axis that indexes the columns.

    Returns:
      An :class:`Initializer`.

    >>> w = orthogonal()(jax.random.key(0), (64, 32))
    >>> bool(jnp.allclose(w.T @ w, jnp.eye(32), atol=1e-5))
    True
    """
    gain = check_scale("gain", gain)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        shape = as_shape(shape)
        dt, cdt = dtypes(dtype)
        if len(shape) < 2:
            raise ValueError(f"orthogonal needs a shape of rank >= 2, got shape {shape}")
        (c,) = as_axes(column_axis, shape, "column_axis")
        n_cols = shape[c]
        n_rows = math.prod(shape) // n_cols if n_cols else 0
        if n_rows * n_cols == 0:
            return jnp.zeros(shape, dt)
        a = jax.random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), cdt)
        q, r = jnp.linalg.qr(a)
        d = jnp.sign(jnp.diagonal(r))
        q = q * jnp.where(d == 0, 1.0, d)[None, :]
        w = q if n_rows >= n_cols else q.T
        w = jnp.moveaxis(w.reshape(*shape[:c], *shape[c + 1 :], n_cols), -1, c)
        return (cast(gain, cdt) * w).astype(dt)

    return init


def delta_orthogonal(gain: ArrayLike = 1.0) -> Initializer:
    """Xiao et al. (2018, arXiv:1806.05393): a conv kernel that is orthogonal at its centre.

    For a kernel of shape ``(*k, c_in, c_out)`` with c_out >= c_in, every spatial tap is zero
    except the centre ``k // 2``, which holds a random (semi-)orthogonal c_in × c_out matrix
    H with H Hᵀ = gain²·I (see :func:`orthogonal`). The convolution then maps each input
    position to itself by an isometry (times gain), the "delta-orthogonal" init that lets
    very deep vanilla CNNs reach dynamical isometry at criticality. For a rank-2 shape (a
    dense layer) it is :func:`orthogonal`, tall or wide.

    Args:
      gain: gain >= 0, float or (traced) scalar (for tanh at criticality, σ_w = gain).

    Returns:
      An :class:`Initializer`; ValueError for c_out < c_in.

    >>> w = delta_orthogonal()(jax.random.key(0), (3, 3, 4, 8))
    >>> bool(jnp.allclose(w[1, 1] @ w[1, 1].T, jnp.eye(4), atol=1e-5)), float(abs(w[0]).max())
    (True, 0.0)
    """
    gain = check_scale("gain", gain)
    centre_init = orthogonal(gain)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        shape = as_shape(shape)
        dt, _ = dtypes(dtype)
        if len(shape) < 2:
            raise ValueError(f"delta_orthogonal needs a shape of rank >= 2, got shape {shape}")
        if len(shape) == 2:  # a dense layer (e.g. a CNN's head): plain orthogonal
            return centre_init(key, shape, dt)
        c_in, c_out = shape[-2], shape[-1]
        if c_out < c_in:
            raise ValueError(
                f"delta_orthogonal needs out channels >= in channels (an isometry), got "
                f"shape {shape}: {c_in} in, {c_out} out"
            )
        centre = centre_init(key, (c_in, c_out), dt)
        w = jnp.zeros(shape, dt)
        return w.at[tuple(k // 2 for k in shape[:-2])].set(centre)

    return init
