"""What every init scheme shares: the ``Initializer`` protocol, fans, and argument checks.

A scheme (:mod:`initjax.init`) is a builder returning ``init(key, shape, dtype)``; these are
the pieces its body is made of: :func:`fans` in JAX's layout ``(*receptive_field, in, out)``
(``in_axis``/``out_axis`` one axis or several, as ``jax.nn.initializers``), validation of a
scale that may be traced, the dtype rule (draws in at least float32),
:func:`fan_scheme`, W = std(scale, fan_in, fan_out) · Z for a unit-variance Z, and the checks
the registry makes of a user's builder (:func:`check_initializer`, :func:`default_scale_of`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from initjax.errors import unknown

__all__ = [
    "DISTRIBUTIONS",
    "MODES",
    "TRUNCATED_STD",
    "Axes",
    "Initializer",
    "as_axes",
    "as_shape",
    "cast",
    "check_choice",
    "check_initializer",
    "check_scale",
    "default_scale_of",
    "dtypes",
    "fan_scheme",
    "fans",
    "qualname",
    "unit_draws",
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


def check_scale(name: str, value: ArrayLike, *, allow_negative: bool = False) -> ArrayLike:
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


def check_choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise unknown(name, value, valid)
    return value


def as_shape(shape: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(d) for d in shape)
    if any(d < 0 for d in out):
        raise ValueError(f"shape must have non-negative sizes, got {out}")
    return out


def dtypes(dtype: DTypeLike | None) -> tuple[np.dtype, np.dtype]:
    """(output dtype, compute dtype). Draws use at least float32: bfloat16/float16 samplers
    and QR lose precision, and a traced scale is float32 anyway."""
    dt = jnp.dtype(jnp.float32 if dtype is None else dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(
            f"init schemes draw floating-point values, got dtype {dt}; "
            "pass a floating dtype such as jnp.float32 or jnp.bfloat16"
        )
    return dt, (dt if dt.itemsize >= 4 else jnp.dtype(jnp.float32))


def cast(x: ArrayLike, dtype: np.dtype) -> jax.Array:
    # An explicit cast, so strict dtype promotion accepts float32 scales with bf16/f64 draws.
    return jnp.asarray(x).astype(dtype)


Axes = int | Sequence[int]
"""One axis or several, as in ``jax.nn.initializers`` (fans multiply over them)."""


def as_axes(axes: Axes, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
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
    shape = as_shape(shape)
    if len(shape) < 2 and (in_axis, out_axis) == (-2, -1):
        raise ValueError(
            f"fan-based schemes need a shape of rank >= 2, (*receptive_field, in, out), "
            f"got shape {shape}; or pass in_axis/out_axis to name the fan axes"
        )
    i, o = as_axes(in_axis, shape, "in_axis"), as_axes(out_axis, shape, "out_axis")
    if set(i) & set(o) and len(shape) > 1:
        raise ValueError(f"in_axis and out_axis name the same axis {i} of shape {shape}")
    receptive_field = math.prod(d for a, d in enumerate(shape) if a not in (*i, *o))
    fan_in = math.prod(shape[a] for a in i)
    fan_out = math.prod(shape[a] for a in o)
    return fan_in * receptive_field, fan_out * receptive_field


def unit_draws(
    key: jax.Array, shape: tuple[int, ...], dtype: np.dtype, distribution: str
) -> jax.Array:
    """Zero-mean, unit-variance draws of ``distribution``."""
    if distribution == "normal":
        return jax.random.normal(key, shape, dtype)
    if distribution == "uniform":
        return jax.random.uniform(key, shape, dtype, -math.sqrt(3.0), math.sqrt(3.0))
    return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / TRUNCATED_STD


StdRule = Callable[[jax.Array, int, int], jax.Array]


def fan_scheme(
    scale: ArrayLike, std_rule: StdRule, distribution: str, in_axis: Axes, out_axis: Axes
) -> Initializer:
    """W = std · Z, std = std_rule(scale, fan_in, fan_out), Z unit-variance ``distribution``."""

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        shape = as_shape(shape)
        dt, cdt = dtypes(dtype)
        fan_in, fan_out = fans(shape, in_axis, out_axis)
        if math.prod(shape) == 0:  # an empty kernel: a fan may be 0, nothing to draw
            return jnp.zeros(shape, dt)
        std = std_rule(cast(scale, cdt), fan_in, fan_out)
        return (std * unit_draws(key, shape, cdt, distribution)).astype(dt)

    return init


def qualname(obj: Any) -> str:
    """``module.qualname`` of a callable, as messages and result labels name it."""
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
