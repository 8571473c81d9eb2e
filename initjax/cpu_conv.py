"""Convolutions XLA:CPU can run fast inside loops: every conv rewritten to its canonical form.

XLA:CPU hands a convolution to its fast (Eigen) kernel only when it is *canonical*: input
``(N, *spatial, C)``, kernel ``(*spatial, I, O)``, output ``(N, *spatial, C)``, no feature or
batch groups. Its ``ConvCanonicalization`` pass transposes other convolutions into that form,
but it visits the entry computation only (``xla/service/cpu/conv_canonicalization.cc`` loops
over ``module->entry_computation()``; jax-ml/jax#12868). A convolution inside a ``while`` body
(every ``lax.scan``, ``lax.map``, ``fori_loop``) that is not canonical falls back to a generic
loop nest. Flax's forward convolutions are canonical, but the ones JAX writes for their
gradients are not (the kernel gradient is ``f01b_i01o->01bf``, the input gradient
``b01f_01oi->b01f``), and a vmapped convolution becomes a grouped one. initjax trains under
``lax.scan``, so on a CPU every conv net's backward pass took the slow path.

Measured by ``python experiments/_bench_conv.py`` on 2 cores (Intel Xeon, jax 0.10.2): an SGD
step of an 8-layer 3×3 tanh CNN (32 images 28×28 → 14×14×16), forward and gradient, takes
15.5 ms as a jitted call, 225 ms inside a ``lax.scan`` and 17.1 ms there after
:func:`canonical`; a grid of 8 such cells 27× (vmapped) or 12× (``lax.map``) the jitted
call's time per cell-step, 1.14× and 1.02× after it.

:func:`canonical` traces a function to a jaxpr and evaluates it again with every
``conv_general_dilated`` replaced by the same convolution in canonical form: operands
transposed to ``(N, *S, C)`` and ``(*S, I, O)``, a group count G > 1 split into G convolutions
whose outputs are concatenated, the output transposed back. Nested jaxprs (``pjit``, ``scan``,
``while``, ``cond`` …) that contain a convolution are rewritten the same way. The arithmetic
is the same; only XLA's choice of kernel changes (float32 results equal up to summation order).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jcore

CONV = "conv_general_dilated"


def canonical_dimension_numbers(spatial: int) -> lax.ConvDimensionNumbers:
    """``(N, *S, C)`` input, ``(*S, I, O)`` kernel, ``(N, *S, C)`` output: XLA:CPU's Eigen form."""
    s = tuple(range(1, spatial + 1))
    feature = spatial + 1
    return lax.ConvDimensionNumbers(
        (0, feature, *s), (feature, spatial, *range(spatial)), (0, feature, *s)
    )


def conv(lhs: Any, rhs: Any, **params: Any) -> Any:
    """``conv_general_dilated`` with the primitive's ``params``, computed in canonical form."""
    dn = params["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    spatial = len(lhs_spec) - 2
    lhs = jnp.transpose(lhs, (lhs_spec[0], *lhs_spec[2:], lhs_spec[1]))  # (N, *S, C)
    rhs = jnp.transpose(rhs, (*rhs_spec[2:], rhs_spec[1], rhs_spec[0]))  # (*S, I, O)

    def one(x: Any, k: Any) -> Any:
        return lax.conv_general_dilated(
            x, k, params["window_strides"], params["padding"], params["lhs_dilation"],
            params["rhs_dilation"], canonical_dimension_numbers(spatial),
            precision=params["precision"],
            preferred_element_type=params["preferred_element_type"],
        )  # fmt: skip

    features, batches = params["feature_group_count"], params["batch_group_count"]
    if features > 1:  # group g: input channels g, output features g
        pairs = zip(
            jnp.split(lhs, features, axis=-1), jnp.split(rhs, features, axis=-1), strict=True
        )
        out = jnp.concatenate([one(x, k) for x, k in pairs], axis=-1)
    elif batches > 1:  # group g: batch slice g, output features g (kernel gradients of groups)
        pairs = zip(jnp.split(lhs, batches, axis=0), jnp.split(rhs, batches, axis=-1), strict=True)
        out = jnp.concatenate([one(x, k) for x, k in pairs], axis=-1)
    else:
        out = one(lhs, rhs)
    order = (out_spec[0], *out_spec[2:], out_spec[1])  # where the canonical axes belong
    return jnp.transpose(out, tuple(int(i) for i in np.argsort(order)))


def has_conv(jaxpr: jcore.Jaxpr) -> bool:
    """Whether ``jaxpr`` or any jaxpr nested in it has a convolution."""
    if any(eqn.primitive.name == CONV for eqn in jaxpr.eqns):
        return True
    return any(has_conv(sub) for sub in jcore.subjaxprs(jaxpr))


def _rewrite_closed(closed: jcore.ClosedJaxpr) -> jcore.ClosedJaxpr:
    if not has_conv(closed.jaxpr):
        return closed
    avals = [
        jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype, weak_type=v.aval.weak_type)
        for v in closed.jaxpr.invars
    ]
    return jax.make_jaxpr(lambda *a: _evaluate(closed.jaxpr, closed.consts, a))(*avals)


def _rewrite_param(value: Any) -> Any:
    if isinstance(value, jcore.ClosedJaxpr):
        return _rewrite_closed(value)
    if isinstance(value, tuple) and value and all(isinstance(v, jcore.ClosedJaxpr) for v in value):
        return tuple(_rewrite_closed(v) for v in value)  # cond's branches
    return value


def _evaluate(jaxpr: jcore.Jaxpr, consts: Any, args: Any) -> list[Any]:
    env: dict[Any, Any] = dict(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))

    def read(v: Any) -> Any:
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for eqn in jaxpr.eqns:
        inputs = [read(v) for v in eqn.invars]
        if eqn.primitive.name == CONV:
            outputs = [conv(*inputs, **eqn.params)]
        else:
            params = {k: _rewrite_param(v) for k, v in eqn.params.items()}
            with eqn.ctx.manager:
                out = eqn.primitive.bind(*inputs, **eqn.primitive.get_bind_params(params))
            outputs = out if eqn.primitive.multiple_results else [out]
        for var, value in zip(eqn.outvars, outputs, strict=True):
            if not isinstance(var, jcore.DropVar):
                env[var] = value
    return [read(v) for v in jaxpr.outvars]


def canonical(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` with every convolution it computes (its gradients' too, nested ones too) in the
    canonical form XLA:CPU runs fast inside loops. Same arguments and results; a pure function
    of pytrees of arrays, as ``jax.jit`` takes. ``f`` is traced once: its jaxpr is evaluated
    again (rewritten where it has convolutions), which is cheaper than tracing a Flax model's
    Python a second time (residual_depth's quick run: 21 s of tracing, then 16 s)."""

    @functools.wraps(f)
    def wrapped(*args: Any) -> Any:
        closed, shapes = jax.make_jaxpr(f, return_shape=True)(*args)
        out = _evaluate(closed.jaxpr, closed.consts, jax.tree.leaves(args))
        return jax.tree.unflatten(jax.tree.structure(shapes), out)

    return wrapped


def for_backend(f: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`canonical` on a CPU backend, ``f`` unchanged elsewhere (GPU convolutions have
    their own layout passes)."""
    return canonical(f) if jax.default_backend() == "cpu" else f
