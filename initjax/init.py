"""Init schemes: builders that return ``init(key, shape, dtype=jnp.float32) -> jax.Array``.

Every scheme is a builder: ``normal(0.01)`` returns the function Flax calls as ``kernel_init``
or ``bias_init``. The scale argument (``sigma``, ``gain``, ``scale``, ``value``) may be a
Python float or a traced jax array, so a sweep can ``jax.vmap`` over it, and a new grid of the
same shape reuses the compiled program.

Layout is JAX's: a kernel has shape ``(*receptive_field, in, out)`` and :func:`fans` multiplies
the receptive field into both fans, so ``(3, 3, 16, 32)`` has fans ``(144, 288)``. (torch's
layout is ``(out, in, *k)``; pass ``in_axis=1, out_axis=0`` for it.)

What "normal" means. In initjax a ``*_normal`` scheme is a **plain** Gaussian, as in torch.
The one truncated normal with a corrected std is ``variance_scaling(..., "truncated_normal")``;
JAX's own ``glorot_normal``/``he_normal``/``lecun_normal`` are that truncated normal, so theirs
and ours agree in variance but not in shape (ours have tails beyond 2 std).

Errors:
    ValueError: unknown scheme, mode, distribution or activation (raised when the builder,
        :func:`get` or :func:`gain` is called, listing the valid choices); a negative or
        non-finite concrete ``sigma``/``gain``/``scale`` (or non-finite ``value``); a scale
        that is not a scalar; a fan-based scheme or :func:`fans` on a shape of rank < 2
        without explicit axes; an axis out of range; ``lower >= upper``.
    TypeError: ``init`` called with a non-floating dtype (integer, bool); a scale that is not
        a number.

Traced scales are not validated: their value is unknown until the program runs.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from initjax import activations as acts
from initjax.errors import unknown

__all__ = [
    "Initializer",
    "constant",
    "default_scale",
    "delta_orthogonal",
    "fans",
    "forward_gain",
    "gain",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "names",
    "normal",
    "ones",
    "orthogonal",
    "register",
    "scale_param",
    "truncated_normal",
    "uniform",
    "unregister",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]


class Initializer(Protocol):
    """``init(key, shape, dtype=jnp.float32) -> jax.Array``, as Flax's ``kernel_init``."""

    def __call__(
        self, key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32
    ) -> jax.Array: ...


# Std of N(0, 1) truncated to [-2, 2]: sqrt(1 - 4 φ(2) / (Φ(2) - Φ(-2))).
TRUNCATED_STD = 0.87962566103423978
MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


# ---------------------------------------------------------------- validation and helpers


def _check_scale(name: str, value: ArrayLike, *, allow_negative: bool = False) -> ArrayLike:
    """Validate a concrete scale now; a traced one passes (its value is known only later)."""
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(value)}")
    if isinstance(value, jax.core.Tracer):
        return value
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {name}={value!r}") from None
    if not math.isfinite(v) or (v < 0 and not allow_negative):
        need = "finite" if allow_negative else "finite and >= 0"
        raise ValueError(f"{name} must be {need}, got {name}={v!r}")
    return value


def _choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise unknown(name, value, valid)
    return value


def _shape(shape: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(d) for d in shape)
    if any(d < 0 for d in out):
        raise ValueError(f"shape must have non-negative sizes, got {out}")
    return out


def _dtypes(dtype: DTypeLike | None) -> tuple[np.dtype, np.dtype]:
    """(output dtype, compute dtype). Draws use at least float32: bfloat16/float16 samplers
    and QR lose precision, and a traced scale is float32 anyway."""
    dt = jnp.dtype(jnp.float32 if dtype is None else dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(
            f"init schemes draw floating-point values, got dtype {dt}; "
            "pass a floating dtype such as jnp.float32 or jnp.bfloat16"
        )
    return dt, (dt if dt.itemsize >= 4 else jnp.dtype(jnp.float32))


def _as(x: ArrayLike, dtype: np.dtype) -> jax.Array:
    # An explicit cast, so strict dtype promotion accepts float32 scales with bf16/f64 draws.
    return jnp.asarray(x).astype(dtype)


Axes = int | Sequence[int]
"""One axis or several, as in ``jax.nn.initializers`` (fans multiply over them)."""


def _axes(axes: Axes, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    rank = len(shape)
    out = []
    for axis in (axes,) if isinstance(axes, int) else tuple(axes):
        if not -rank <= axis < rank:
            raise ValueError(
                f"{name}={axes} is out of range for shape {shape} (rank {rank}); "
                f"valid axes are {-rank}..{rank - 1}"
            )
        out.append(axis % rank)
    return tuple(out)


def fans(shape: Sequence[int], in_axis: Axes = -2, out_axis: Axes = -1) -> tuple[int, int]:
    """(fan_in, fan_out) of a kernel in JAX's layout ``(*receptive_field, in, out)``.

    fan_in = ∏ shape[in_axis] · rf and fan_out = ∏ shape[out_axis] · rf, where the receptive
    field rf is the product of the other axes. Like ``jax.nn.initializers``, ``in_axis`` and
    ``out_axis`` may each be one axis or a sequence of axes.

    Args:
      shape: the kernel's shape.
      in_axis, out_axis: the input and output feature axes (torch layout: ``1, 0``).

    Returns:
      ``(fan_in, fan_out)`` as Python ints.

    >>> fans((3, 3, 16, 32))
    (144, 288)
    >>> fans((784, 256))
    (784, 256)
    >>> fans((4, 5, 6), in_axis=(0, 1), out_axis=2)
    (20, 6)
    """
    shape = _shape(shape)
    if len(shape) < 2 and (in_axis, out_axis) == (-2, -1):
        raise ValueError(
            f"fan-based schemes need a shape of rank >= 2, (*receptive_field, in, out), "
            f"got shape {shape}; or pass in_axis/out_axis to name the fan axes"
        )
    i, o = _axes(in_axis, shape, "in_axis"), _axes(out_axis, shape, "out_axis")
    if set(i) & set(o) and len(shape) > 1:
        raise ValueError(f"in_axis and out_axis name the same axis {i} of shape {shape}")
    receptive_field = math.prod(d for a, d in enumerate(shape) if a not in (*i, *o))
    fan_in = math.prod(shape[a] for a in i)
    fan_out = math.prod(shape[a] for a in o)
    return fan_in * receptive_field, fan_out * receptive_field


def _unit(key: jax.Array, shape: tuple[int, ...], dtype: np.dtype, distribution: str):
    """Zero-mean, unit-variance draws of ``distribution``."""
    if distribution == "normal":
        return jax.random.normal(key, shape, dtype)
    if distribution == "uniform":
        return jax.random.uniform(key, shape, dtype, -math.sqrt(3.0), math.sqrt(3.0))
    return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / TRUNCATED_STD


StdRule = Callable[[jax.Array, int, int], jax.Array]


def _fan_scheme(
    scale: ArrayLike, std_rule: StdRule, distribution: str, in_axis: Axes, out_axis: Axes
) -> Initializer:
    """W = std · Z, std = std_rule(scale, fan_in, fan_out), Z unit-variance ``distribution``."""

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        shape = _shape(shape)
        dt, cdt = _dtypes(dtype)
        fan_in, fan_out = fans(shape, in_axis, out_axis)
        if math.prod(shape) == 0:  # an empty kernel: a fan may be 0, nothing to draw
            return jnp.zeros(shape, dt)
        std = std_rule(_as(scale, cdt), fan_in, fan_out)
        return (std * _unit(key, shape, cdt, distribution)).astype(dt)

    return init


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
    value = _check_scale("value", value, allow_negative=True)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, _ = _dtypes(dtype)
        return jnp.broadcast_to(_as(value, dt), _shape(shape))

    return init


@overload
def zeros() -> Initializer: ...
@overload
def zeros(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = ...) -> jax.Array: ...
def zeros(
    key: jax.Array | None = None, shape: Sequence[int] | None = None, dtype: DTypeLike = None
) -> Initializer | jax.Array:
    """W = 0 (d2l's bias init): an initializer itself, like ``jax.nn.initializers.zeros``.

    ``zeros(key, shape, dtype)`` returns the zeros, so ``nn.Dense(bias_init=ij.init.zeros)``
    works; ``zeros()`` returns ``zeros`` (the builder form every other scheme has, which
    :func:`get` and the registry call).

    >>> zeros(jax.random.key(0), (3,)).tolist(), zeros() is zeros
    ([0.0, 0.0, 0.0], True)
    """
    return _fill(zeros, 0.0, key, shape, dtype)


@overload
def ones() -> Initializer: ...
@overload
def ones(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = ...) -> jax.Array: ...
def ones(
    key: jax.Array | None = None, shape: Sequence[int] | None = None, dtype: DTypeLike = None
) -> Initializer | jax.Array:
    """W = 1 (e.g. a normalization scale): an initializer itself, like ``jax``'s ``ones``.

    >>> ones(jax.random.key(0), (2,)).tolist(), ones() is ones
    ([1.0, 1.0], True)
    """
    return _fill(ones, 1.0, key, shape, dtype)


def _fill(me: Any, value: float, key: Any, shape: Sequence[int] | None, dtype: DTypeLike) -> Any:
    if key is None and shape is None:
        return me
    if shape is None:
        raise TypeError("called as an initializer, (key, shape, dtype): shape is missing")
    dt, _ = _dtypes(dtype)
    return jnp.full(_shape(shape), value, dt)


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
    sigma = _check_scale("sigma", sigma)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, cdt = _dtypes(dtype)
        return (_as(sigma, cdt) * jax.random.normal(key, _shape(shape), cdt)).astype(dt)

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
    sigma = _check_scale("sigma", sigma)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, cdt = _dtypes(dtype)
        z = _unit(key, _shape(shape), cdt, "uniform")
        return (_as(sigma, cdt) * z).astype(dt)

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
    sigma = _check_scale("sigma", sigma)
    lower, upper = float(lower), float(upper)
    if not lower < upper:
        raise ValueError(f"need lower < upper, got lower={lower}, upper={upper}")

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        dt, cdt = _dtypes(dtype)
        z = jax.random.truncated_normal(key, lower, upper, _shape(shape), cdt)
        return (_as(sigma, cdt) * z).astype(dt)

    return init


# ---------------------------------------------------------------- fan-based schemes


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
    scale = _check_scale("scale", scale)
    _choice("mode", mode, MODES)
    _choice("distribution", distribution, DISTRIBUTIONS)

    def std_rule(s: jax.Array, fan_in: int, fan_out: int) -> jax.Array:
        return jnp.sqrt(s / _fan(mode, fan_in, fan_out))

    return _fan_scheme(scale, std_rule, distribution, in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * math.sqrt(2.0 / (n_in + n_out))

    return _fan_scheme(gain, std_rule, "normal", in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * math.sqrt(2.0 / (n_in + n_out))

    return _fan_scheme(gain, std_rule, "uniform", in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * math.sqrt(2.0 / n_in)

    return _fan_scheme(gain, std_rule, "normal", in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * math.sqrt(2.0 / n_in)

    return _fan_scheme(gain, std_rule, "uniform", in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * math.sqrt(1.0 / n_in)

    return _fan_scheme(gain, std_rule, "normal", in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def std_rule(g: jax.Array, n_in: int, n_out: int) -> jax.Array:
        return g * math.sqrt(1.0 / n_in)

    return _fan_scheme(gain, std_rule, "uniform", in_axis, out_axis)


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
    gain = _check_scale("gain", gain)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        shape = _shape(shape)
        dt, cdt = _dtypes(dtype)
        if len(shape) < 2:
            raise ValueError(f"orthogonal needs a shape of rank >= 2, got shape {shape}")
        (c,) = _axes(column_axis, shape, "column_axis")
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
        return (_as(gain, cdt) * w).astype(dt)

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
    gain = _check_scale("gain", gain)
    centre_init = orthogonal(gain)

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        shape = _shape(shape)
        dt, _ = _dtypes(dtype)
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


# ---------------------------------------------------------------- gains


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


# ---------------------------------------------------------------- registry

# name -> (builder, name of its scale argument)
_REGISTRY: dict[str, tuple[Callable[..., Initializer], str | None]] = {
    "zeros": (zeros, None),
    "ones": (ones, None),
    "constant": (constant, "value"),
    "normal": (normal, "sigma"),
    "uniform": (uniform, "sigma"),
    "truncated_normal": (truncated_normal, "sigma"),
    "variance_scaling": (variance_scaling, "scale"),
    "xavier_normal": (xavier_normal, "gain"),
    "xavier_uniform": (xavier_uniform, "gain"),
    "glorot_normal": (glorot_normal, "gain"),
    "glorot_uniform": (glorot_uniform, "gain"),
    "he_normal": (he_normal, "gain"),
    "he_uniform": (he_uniform, "gain"),
    "kaiming_normal": (kaiming_normal, "gain"),
    "kaiming_uniform": (kaiming_uniform, "gain"),
    "lecun_normal": (lecun_normal, "gain"),
    "lecun_uniform": (lecun_uniform, "gain"),
    "orthogonal": (orthogonal, "gain"),
    "delta_orthogonal": (delta_orthogonal, "gain"),
}


_BUILTIN = frozenset(_REGISTRY)
# User schemes registered without a scale argument's default: the neutral value they start at.
_DEFAULTS: dict[str, float | None] = {}


def register(
    name: str,
    builder: Callable[..., Initializer],
    *,
    scale_param: str | None = None,
    default_scale: float | None = None,
    overwrite: bool = False,
) -> None:
    """Add a scheme under ``name``, usable everywhere a built-in is (Config, CLI, sweeps).

    Args:
      name: the scheme's name (``Config(scheme=name)``, ``initjax sweep --scheme name``).
      builder: ``builder(**kwargs) -> init(key, shape, dtype)``, like :func:`normal`.
      scale_param: the keyword argument of ``builder`` that sweeps vary as σ (None: the
        scheme has no scale; σ is then ignored).
      default_scale: σ when none is given (default: the argument's default in ``builder``'s
        signature, else 1.0).
      overwrite: replace a user scheme already registered under ``name`` (built-ins never).

    Raises:
      ValueError: ``name`` is taken (or a built-in), ``scale_param`` is not an argument of
        ``builder``, or the built scheme does not return an array of the asked shape.
      TypeError: ``builder`` is not callable or does not return an initializer.

    >>> def student_t(scale=1.0, df=5.0):
    ...     def init(key, shape, dtype=jnp.float32):
    ...         return scale * jax.random.t(key, df, shape, dtype)
    ...     return init
    >>> register("doc_student_t", student_t, scale_param="scale")
    >>> get("doc_student_t", scale=0.1)(jax.random.key(0), (3, 2)).shape
    (3, 2)
    >>> unregister("doc_student_t")
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a scheme name must be an identifier-like string, got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in init scheme; register yours under another name")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"init scheme {name!r} is already registered; pass overwrite=True to replace it "
            "or choose another name"
        )
    if not callable(builder):
        raise TypeError(f"builder must be callable (**kwargs -> init), got {builder!r}")
    if scale_param is not None:
        try:
            params = inspect.signature(builder).parameters
        except (TypeError, ValueError):
            params = {}
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if params and scale_param not in params and not takes_kwargs:
            raise ValueError(
                f"scale_param={scale_param!r} is not an argument of {_qualname(builder)}; "
                f"its arguments: {', '.join(params) or '(none)'}"
            )
    _REGISTRY[name] = (builder, scale_param)
    _DEFAULTS[name] = None if default_scale is None else float(default_scale)
    try:
        default = default_scale_of(builder, scale_param, default_scale)
        check_initializer(builder(**({} if scale_param is None else {scale_param: default})), name)
    except BaseException:
        del _REGISTRY[name]
        del _DEFAULTS[name]
        raise


def unregister(name: str) -> None:
    """Remove a user scheme added with :func:`register` (built-ins cannot be removed)."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in init scheme and cannot be removed")
    _entry(name)
    del _REGISTRY[name]
    _DEFAULTS.pop(name, None)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def check_initializer(init: Any, name: str) -> None:
    """Raise unless ``init(key, shape, dtype)`` returns a floating array of ``shape``.

    Checked abstractly (``jax.eval_shape``): nothing is drawn.
    """
    if not callable(init):
        raise TypeError(
            f"init scheme {name!r}: its builder returned {type(init).__name__}, not an "
            "initializer init(key, shape, dtype)"
        )
    shape = (5, 3)
    try:
        out = jax.eval_shape(lambda k: init(k, shape, jnp.float32), jax.random.key(0))
    except Exception as e:
        raise TypeError(
            f"init scheme {name!r}: init(key, {shape}, float32) failed: {type(e).__name__}: {e}"
        ) from e
    if getattr(out, "shape", None) != shape or not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(
            f"init scheme {name!r}: init(key, {shape}, float32) returned "
            f"{getattr(out, 'dtype', type(out).__name__)}{getattr(out, 'shape', '')}, "
            f"expected a floating array of shape {shape}"
        )


def default_scale_of(
    builder: Callable[..., Any], param: str | None, given: float | None = None
) -> float:
    """σ to use when none is given: ``given``, else ``param``'s default in ``builder``, else 1."""
    if given is not None:
        return float(given)
    if param is None:
        return 0.0
    try:
        default = inspect.signature(builder).parameters[param].default
    except (KeyError, TypeError, ValueError):
        default = inspect.Parameter.empty
    if default is inspect.Parameter.empty or not isinstance(default, int | float):
        # constant(value) and variance_scaling(scale) have no default; 0 and 1 are neutral.
        return 0.0 if param == "value" else 1.0
    return float(default)


def is_builtin(name: str) -> bool:
    """Whether ``name`` is one of initjax's own schemes (not registered by a user)."""
    return name in _BUILTIN


def builder(name: str) -> Callable[..., Initializer]:
    """The builder registered under ``name``."""
    return _entry(name)[0]


def names() -> tuple[str, ...]:
    """All scheme names that :func:`get` accepts (built-ins, aliases, registered), sorted."""
    return tuple(sorted(_REGISTRY))


def _entry(name: str) -> tuple[Callable[..., Initializer], str | None]:
    return _REGISTRY[_choice("init scheme", name, names())]


def get(name: str, **kwargs: Any) -> Initializer:
    """The scheme called ``name`` built with ``kwargs``: ``get("normal", sigma=s) == normal(s)``.

    >>> get("he_normal", gain=1.0)(jax.random.key(0), (784, 256)).shape
    (784, 256)
    """
    builder, _ = _entry(name)
    return builder(**kwargs)


def scale_param(name: str) -> str | None:
    """The name of scheme ``name``'s scale argument (None for zeros/ones).

    >>> scale_param("normal"), scale_param("he_normal"), scale_param("zeros")
    ('sigma', 'gain', None)
    """
    return _entry(name)[1]


def default_scale(name: str) -> float | None:
    """The default of scheme ``name``'s scale argument (None when it has no scale).

    >>> default_scale("normal"), default_scale("xavier_uniform"), default_scale("constant")
    (0.01, 1.0, 0.0)
    """
    builder, param = _entry(name)
    if param is None:
        return None
    return default_scale_of(builder, param, _DEFAULTS.get(name))
