"""Jacobian spectra at init: input–output singular values and their spread.

Dynamical isometry (Saxe et al. 2013, arXiv:1312.6120; Pennington et al. 2017,
arXiv:1711.04735) is every singular value s of the input–output Jacobian J = ∂z^L/∂x near 1.
Its measure here is the spread v = Var(s²)/E[s²]² (0: isometry), which free probability
predicts as v = L·v_W + Σ_{l<L} v_D(q^l) (:func:`initjax.theory.v_d`).

Three entry points: :func:`io_jacobian_sv` for a Flax model of :mod:`initjax.models`,
:func:`deep_jacobians` for a bare stack of square kernels (cheap at every depth at once), and
:func:`conv_stack_sv2` for a stack of convolutions on one image (Xiao et al. 2018's setting).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from initjax import activations

Array = jax.Array

__all__ = [
    "JACOBIAN_EXAMPLES", "conv_same", "conv_stack_sv2", "deep_jacobians", "io_jacobian_sv", "spread",
]  # fmt: skip

JACOBIAN_EXAMPLES = 16
"""Examples (the first ones of the batch) whose Jacobians are taken, as SVDs cost O(B·n³)."""


def io_jacobian_sv(
    model: nn.Module, variables: dict[str, Any], x: Array, num_examples: int = JACOBIAN_EXAMPLES
) -> Array:
    """Singular values of the input–output Jacobian ∂logits_b/∂x_b, one spectrum per example.

    Dynamical isometry (Saxe et al. 2013; Pennington et al. 2017) is all of them near 1.

    Args:
      num_examples: how many examples (from the first) to take.

    Returns:
      float32 (min(B, num_examples), min(C, D)), each row in descending order.
    """

    def logits(x_D: Array) -> Array:
        out: Array = model.apply(variables, x_D[None, :], train=False)  # type: ignore[assignment]
        return out[0]

    j_KxCxD = jax.vmap(jax.jacrev(logits))(x[:num_examples])
    return jnp.linalg.svd(j_KxCxD, compute_uv=False).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("activation", "keep"))
def deep_jacobians(
    w_LxNxN: Array, x_KxN: Array, activation: str, keep: tuple[int, ...]
) -> tuple[Array, Array, Array]:
    """J^l = ∂z^l/∂x of z^1 = x W^1, z^l = φ(z^{l−1}) W^l (l = 1..L), for each example.

    J^l = (W^l)ᵀ D^{l−1} J^{l−1}, D = diag φ′(z) (row-vector layers, no biases). Returns the
    moments m_k = tr((J Jᵀ)^k)/N of the squared singular values, m1 and m2 (L, K), at every
    depth (cheap), and the singular values (len(keep), K, N) at the depths ``keep`` (1-based;
    SVDs are not cheap).

    Args:
      w_LxNxN: the L square kernels, in forward order.
      x_KxN: K inputs.
      activation: a name of :mod:`initjax.activations`.
      keep: depths whose full spectra are returned.
    """
    phi = activations.get(activation).fn

    def one(x_N: Array) -> Array:
        def layer(carry: tuple, w_NxN: Array) -> tuple:
            h_N, jh_NxN = carry
            z_N, jz_NxN = h_N @ w_NxN, w_NxN.T @ jh_NxN
            h_N, d_N = jax.jvp(phi, (z_N,), (jnp.ones_like(z_N),))
            return (h_N, d_N[:, None] * jz_NxN), jz_NxN

        return jax.lax.scan(layer, (x_N, jnp.eye(x_N.shape[0], dtype=x_N.dtype)), w_LxNxN)[1]

    j_LxKxNxN = jax.vmap(one, out_axes=1)(x_KxN)
    n = x_KxN.shape[1]
    jjt = j_LxKxNxN @ j_LxKxNxN.swapaxes(-1, -2)
    m1, m2 = jnp.trace(jjt, axis1=-2, axis2=-1) / n, jnp.sum(jjt**2, axis=(-2, -1)) / n
    sv = jnp.linalg.svd(j_LxKxNxN[jnp.asarray(keep) - 1], compute_uv=False)
    return m1, m2, sv


def spread(m1: Any, m2: Any, axis: int = -1) -> Any:
    """v = Var(λ)/E[λ]² = E[m2]/E[m1]² − 1 of λ = s², pooled over ``axis`` (the examples).

    >>> float(spread(jnp.ones(3), jnp.ones(3)))  # every s = 1: dynamical isometry
    0.0
    """
    return m2.mean(axis=axis) / m1.mean(axis=axis) ** 2 - 1


def conv_same(h_BxSxSxC: Array, w_KxKxCxC: Array) -> Array:
    """A 2-D convolution, stride 1, SAME (zero) padding, as ``flax.linen.Conv`` computes it."""
    return jax.lax.conv_general_dilated(
        h_BxSxSxC, w_KxKxCxC, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@functools.partial(jax.jit, static_argnames=("activation", "keep"))
def conv_stack_sv2(
    w_LxKxKxCxC: Array, x_SxSxC: Array, activation: str, keep: tuple[int, ...]
) -> Array:
    """Squared singular values of J^l = ∂z^l/∂x at the depths ``keep`` (1-based, ascending),
    for a stack of stride-1 SAME convolutions on one image x (no bias): z^1 = conv_same(x, W^1),
    z^l = conv_same(φ(z^{l−1}), W^l); float32 (len(keep), N), N = x.size, descending. J is
    carried forward as N tangents (one batched convolution per layer)."""
    phi = activations.get(activation).fn
    n = x_SxSxC.size
    tangents = jnp.eye(n, dtype=x_SxSxC.dtype).reshape(n, *x_SxSxC.shape)

    def layer(carry: tuple, w: Array) -> tuple:
        h, jh = carry
        z, jz = conv_same(h[None], w)[0], conv_same(jh, w)
        h, d = jax.jvp(phi, (z,), (jnp.ones_like(z),))
        return (h, d[None] * jz), None

    out, carry, done = [], (x_SxSxC, tangents), 0
    for depth in keep:
        # up to layer `depth`: scan to depth − 1, then the last layer's conv without φ
        if depth - 1 > done:
            carry, _ = jax.lax.scan(layer, carry, w_LxKxKxCxC[done : depth - 1])
            done = depth - 1
        jz_NxN = conv_same(carry[1], w_LxKxKxCxC[depth - 1]).reshape(n, n)  # row i: J e_i
        out.append(jnp.linalg.svd(jz_NxN, compute_uv=False) ** 2)
    return jnp.stack(out)
