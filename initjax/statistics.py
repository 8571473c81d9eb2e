"""Statistics of one array, pooled over all its entries: the pieces diagnostics are made of.

Moments and a Kolmogorov–Smirnov distance to the fitted Gaussian (how normal a layer's
pre-activations are), saturation of tanh/sigmoid/ReLU layers and of the softmax, the
cross-entropy loss, and two properties of a kernel: the symmetry distance between its units'
incoming weights and its numerical rank. Pure and jit-able; :mod:`initjax.diagnostics` applies
them layer by layer to a model on a batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import ndtr

Array = jax.Array

__all__ = [
    "SATURATION",
    "cross_entropy",
    "ks_normal",
    "moments",
    "numerical_rank",
    "saturation",
    "softmax_saturation",
    "symmetry_distance",
]

SATURATION = 0.99
"""|tanh| above, sigmoid outside [1 − s, s], max softmax probability above: saturated."""


# ---------------------------------------------------------------- pooled statistics


def moments(v: Array) -> dict[str, Array]:
    """Mean, std, skewness and excess kurtosis of all entries of ``v`` pooled together.

    μ = mean(v), σ² = m₂, skewness = m₃/σ³, kurtosis = m₄/σ⁴ − 3 (0 for a Gaussian), with
    m_k = mean((v − μ)^k) (population moments, ddof = 0).

    Args:
      v: an array of any shape; all its entries form one sample.

    Returns:
      ``{"mean", "std", "skewness", "kurtosis"}``, float32 scalars; skewness and kurtosis
      are NaN when σ = 0.
    """
    v = jnp.ravel(v).astype(jnp.float32)
    mu = jnp.mean(v)
    c = v - mu
    m2, m3, m4 = jnp.mean(c**2), jnp.mean(c**3), jnp.mean(c**4)
    return {"mean": mu, "std": jnp.sqrt(m2), "skewness": m3 / m2**1.5, "kurtosis": m4 / m2**2 - 3}


def ks_normal(v: Array) -> Array:
    """Kolmogorov–Smirnov distance from the entries of ``v`` to N(μ̂, σ̂²) fitted to them.

    D = max_i max(i/n − Φ(u_(i)), Φ(u_(i)) − (i − 1)/n), u = (v − μ̂)/σ̂ sorted, Φ the standard
    normal CDF: Lilliefors' (1967) normality statistic. Unlike Jarque–Bera it does not grow
    with n for a fixed departure, so layers of different widths compare; for a Gaussian
    sample its 5% critical value is ≈ 0.886/√n.

    Args:
      v: an array of any shape; all its entries form one sample of n values.

    Returns:
      D in [0, 1] as a float32 scalar (NaN when σ̂ = 0).
    """
    v = jnp.ravel(v).astype(jnp.float32)
    n = v.shape[0]
    cdf = ndtr(jnp.sort((v - jnp.mean(v)) / jnp.std(v)))
    i = jnp.arange(1, n + 1, dtype=jnp.float32)
    return jnp.maximum(jnp.max(i / n - cdf), jnp.max(cdf - (i - 1) / n))


def saturation(activation: str, h: Array) -> Array:
    """Fraction of saturated activations of one layer, ``h`` of shape (B, n).

    tanh: mean(|h| > 0.99); sigmoid: mean(h < 0.01 or h > 0.99), over all B·n values.
    relu: fraction of *dead units*, those with h = 0 exactly for every example of the batch.
    Other activations have no saturation regime defined here: NaN (not 0, which would read as
    "measured, none saturated").

    Args:
      activation: the MLP's activation name.
      h: activations of one hidden layer, (B, n).

    Returns:
      A float32 scalar in [0, 1], or NaN.
    """
    if activation == "tanh":
        return jnp.mean(jnp.abs(h) > SATURATION, dtype=jnp.float32)
    if activation == "sigmoid":
        return jnp.mean((h < 1 - SATURATION) | (h > SATURATION), dtype=jnp.float32)
    if activation == "relu":
        return jnp.mean(jnp.all(h == 0, axis=0), dtype=jnp.float32)
    return jnp.full((), jnp.nan, jnp.float32)


def softmax_saturation(logits: Array) -> Array:
    """Fraction of examples whose largest softmax probability exceeds 0.99 (near one-hot).

    Args:
      logits: (B, C).

    Returns:
      A float32 scalar in [0, 1].
    """
    return jnp.mean(
        jnp.max(jax.nn.softmax(logits, axis=-1), axis=-1) > SATURATION, dtype=jnp.float32
    )


def cross_entropy(logits: Array, y: Array) -> Array:
    """L = −(1/B) Σ_b log softmax(logits_b)[y_b], the training loss (ln C for uniform logits)."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


# ---------------------------------------------------------------- kernels


def symmetry_distance(w: Array) -> Array:
    """max_{i,j} ‖w_i − w_j‖₂ over the columns (units' incoming weight vectors) of a kernel.

    0 exactly when every unit of the layer computes the same function of its input, the
    symmetry that random init must break (Goodfellow et al. 2016, §8.4). Differences are taken
    directly, not through a Gram matrix, so identical columns give exactly 0.

    Args:
      w: a Dense kernel (n_in, n_out).

    Returns:
      A float32 scalar.
    """

    def farthest(w_i: Array) -> Array:
        return jnp.max(jnp.sum((w - w_i[:, None]) ** 2, axis=0))

    return jnp.sqrt(jnp.max(jax.lax.map(farthest, w.T))).astype(jnp.float32)


def numerical_rank(w: Array) -> Array:
    """Number of singular values s_k of ``w`` with s_k > max(shape)·ε·s_max (numpy.matrix_rank).

    Args:
      w: a matrix.

    Returns:
      The rank as an int32 scalar (ε is the machine epsilon of ``w``'s dtype).
    """
    s = jnp.linalg.svd(w, compute_uv=False)
    tol = max(w.shape) * jnp.finfo(w.dtype).eps * jnp.max(s)
    return jnp.sum(s > tol, dtype=jnp.int32)
