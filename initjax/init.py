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
from collections.abc import Callable, Mapping
from typing import Any

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
from initjax.fixed_schemes import constant, normal, ones, truncated_normal, uniform, zeros
from initjax.gains import forward_gain, gain
from initjax.initializer import (
    DISTRIBUTIONS,
    MODES,
    TRUNCATED_STD,
    Axes,
    Initializer,
    check_choice,
    check_initializer,
    default_scale_of,
    fans,
    qualname,
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
    # constant and fixed-scale schemes (initjax.fixed_schemes); this module: the registry
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
