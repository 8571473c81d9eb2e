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

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, overload

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from initjax import fan_schemes
from initjax.errors import check_new_name
from initjax.fan_schemes import (
    delta_orthogonal,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    orthogonal,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
)
from initjax.gains import forward_gain, gain
from initjax.initializer import (
    DISTRIBUTIONS,
    MODES,
    TRUNCATED_STD,
    Axes,
    Initializer,
    as_shape,
    cast,
    check_choice,
    check_initializer,
    check_scale,
    default_scale_of,
    dtypes,
    fans,
    qualname,
    unit_draws,
)

__all__ = [
    # the fan-based schemes (initjax.fan_schemes)
    *fan_schemes.__all__,
    # the protocol, fans and choices (initjax.initializer); gains (initjax.gains)
    "Initializer",
    "Axes",
    "fans",
    "MODES",
    "DISTRIBUTIONS",
    "TRUNCATED_STD",
    "gain",
    "forward_gain",
    # this module: constant and fixed-scale schemes, the registry
    "constant",
    "zeros",
    "ones",
    "normal",
    "uniform",
    "truncated_normal",
    "register",
    "unregister",
    "names",
    "get",
    "scale_param",
    "default_scale",
]


_choice = check_choice  # the registry below names it so


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
    check_new_name("init scheme", name, _REGISTRY, _BUILTIN, overwrite=overwrite)
    if not callable(builder):
        raise TypeError(f"builder must be callable (**kwargs -> init), got {builder!r}")
    if scale_param is not None:
        params: Mapping[str, inspect.Parameter]
        try:
            params = inspect.signature(builder).parameters
        except (TypeError, ValueError):
            params = {}
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if params and scale_param not in params and not takes_kwargs:
            raise ValueError(
                f"scale_param={scale_param!r} is not an argument of {qualname(builder)}; "
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
