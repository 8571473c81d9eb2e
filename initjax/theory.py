"""Mean-field signal propagation through wide random networks.

Poole et al. 2016, "Exponential expressivity in deep neural networks through transient chaos"
(arXiv:1606.05340); Schoenholz et al. 2017, "Deep Information Propagation" (arXiv:1611.01232).

Convention: W_ij ~ N(0, σ_w²/N), b_i ~ N(0, σ_b²), h^l = W^l φ(h^{l−1}) + b^l. ``sigma_w`` and
``sigma_b`` are standard deviations everywhere here; the papers' phase diagrams and heatmaps are
drawn over σ_w² and σ_b² (e.g. Schoenholz's σ_w² ∈ [1, 4], σ_b² = 0.05 is sigma_w ∈ [1, 2],
sigma_b = √0.05). q^l is the per-unit second moment of h^l; c^l the correlation of two inputs.

Activations: a name of :mod:`initjax.activations` (the same table as ``initjax.models``: exact-erf
GELU, leaky ReLU slope 0.01) or any elementwise callable jnp → jnp; φ′ is taken by ``jax.jvp``.
relu, leaky_relu and linear are positively homogeneous and use closed forms (Cho & Saul's
arc-cosine kernels), everything else quadrature.

Gaussian integrals are folded onto the half line, ∫Dz f(√q z) = ∫_0^∞ [f(√q z) + f(−√q z)] ρ(z)dz,
and done by 16-point Gauss–Legendre on panels graded geometrically towards z = 0, so a kink at
u = 0 (selu, softsign) costs nothing and tanh stays accurate (< 1e-10 in float64) for
q ∈ [1e-4, 1e4]. Two-dimensional integrals are done in polar coordinates with the angular panels
split where u1 or u2 changes sign. hard_tanh's kinks at |u| = 1 are not aligned with the panels:
expect ~1e-5 there. Everything is computed in JAX's default float (float32 unless
``jax_enable_x64``: float32 gives ~5e-7, float64 ~1e-13 for tanh), is jit-able, vmappable over
sigma_w / sigma_b and broadcasts over arrays (of equal rank under strict rank promotion).
q* and c* come from ``lax.while_loop``: differentiate through them in forward mode
(``jax.jvp`` / ``jax.jacfwd``); ``jax.grad`` works for q_map, c_map and predicted_variances.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from initjax.meanfield import (
    MOMENT,
    Activation,
    at_q_star,
    critical_kernel,
    deriv,
    k_c_star,
    k_chi1,
    k_xi_c,
    k_xi_q,
    m_phiphi,
    nonneg,
    qmap,
    resolve,
    solve_q_star,
    stds,
    tolerance,
)

Array = jax.Array


def q_map(
    q: object, sigma_w: object, sigma_b: object = 0.0, activation: Activation = "tanh"
) -> Array:
    """The length map: variance of the next layer's pre-activations.

    q^l = σ_w² ∫Dz φ(√q^{l−1} z)² + σ_b²,  Dz the standard Gaussian measure.

    Args:
      q: q^{l−1}, second moment per unit of the previous pre-activations (≥ 0).
      sigma_w, sigma_b: standard deviations (weights N(0, σ_w²/N), biases N(0, σ_b²)).
      activation: a name of :mod:`initjax.activations` or an elementwise callable.

    Returns:
      q^l, broadcast over the arguments.

    >>> float(q_map(1.0, 2.0, 0.0, "relu"))  # σ_w² q / 2
    2.0

    Poole et al. 2016, the length map.
    """
    act = resolve(activation)
    q = nonneg(q, "q", MOMENT)
    sw, sb = stds(sigma_w, sigma_b)
    return jnp.vectorize(functools.partial(qmap, act))(q, sw, sb)


def q_star(
    sigma_w: object,
    sigma_b: object = 0.0,
    activation: Activation = "tanh",
    *,
    q0: object = 1.0,
    max_iter: int = 200,
    tol: float | None = None,
) -> Array:
    """The fixed point q* = q_map(q*) reached by iterating the length map from q0.

    q* = σ_w² ∫Dz φ(√q* z)² + σ_b²  (20 plain iterations, then safeguarded Newton steps).

    Diverging variance gives ``inf``: relu with σ_w² > 2 or with σ_w² = 2 and σ_b > 0 (closed
    form), or an iteration still rising with the map's slope ≥ 1 when it stops. relu at σ_w² = 2,
    σ_b = 0 is marginal (every q is fixed) and returns q0. σ_b = 0, ordered phase: q* = 0.

    Args:
      sigma_w, sigma_b: standard deviations. activation: name or callable.
      q0: where the iteration starts (≥ 0). max_iter: most steps.
      tol: stop at |Δq| ≤ tol·q, or when Newton steps stop shrinking (float noise); default
        16 float eps.

    Returns:
      q*, broadcast over sigma_w, sigma_b and q0.

    >>> round(float(q_star(1.0, 0.05**0.5, "relu")), 6)  # σ_b² / (1 − σ_w²/2)
    0.1

    Poole et al. 2016, the length map's fixed point.
    """
    act = resolve(activation)
    sw, sb = stds(sigma_w, sigma_b)
    q0_ = nonneg(q0, "q0", MOMENT)
    fn = functools.partial(solve_q_star, act, max_iter=max_iter, tol=tolerance(tol, sw))
    return jnp.vectorize(fn)(sw, sb, q0_)


def chi1(
    sigma_w: object, sigma_b: object = 0.0, activation: Activation = "tanh", *, q0: object = 1.0
) -> Array:
    """χ₁: the slope of the correlation map at c = 1, i.e. the mean squared singular value of
    one layer's Jacobian. χ₁ < 1 ordered, χ₁ > 1 chaotic, χ₁ = 1 critical.

    χ₁ = σ_w² ∫Dz φ′(√q* z)²  (q* from :func:`q_star` started at q0).

    Args:
      sigma_w, sigma_b: standard deviations. activation: name or callable. q0: start of q*.

    Returns:
      χ₁, broadcast over sigma_w and sigma_b. For relu σ_w²/2 whatever q* is.

    >>> float(chi1(2.0, 0.0, "relu"))
    2.0

    Poole et al. 2016, χ₁ and the order-to-chaos transition; Schoenholz et al. 2017.
    """
    return at_q_star(k_chi1, sigma_w, sigma_b, activation, q0)


def c_map(
    c: object, q: object, sigma_w: object, sigma_b: object = 0.0, activation: Activation = "tanh"
) -> Array:
    """The correlation map: correlation of two inputs' pre-activations one layer further.

    c^l = [σ_w² ∫Dz1Dz2 φ(u1)φ(u2) + σ_b²] / q^l,  u1 = √q z1,  u2 = √q (c z1 + √(1−c²) z2),

    with both inputs at second moment q = q^{l−1} and q^l = q_map(q) (= q at q = q*).

    Args:
      c: correlation c^{l−1} ∈ [−1, 1]. q: their common second moment (≥ 0).
      sigma_w, sigma_b: standard deviations. activation: name or callable.

    Returns:
      c^l, broadcast over the arguments.

    >>> round(float(c_map(0.0, 1.0, 2.0**0.5, 0.0, "relu")), 6)  # 1/π
    0.31831

    Poole et al. 2016, the correlation map.
    """
    act = resolve(activation)
    if not isinstance(c, jax.core.Tracer) and np.any(np.abs(np.asarray(c, np.float64)) > 1.0):
        raise ValueError(f"c must be a correlation in [-1, 1], got {c!r}")
    c_ = jnp.asarray(c, dtype=jax.dtypes.canonicalize_dtype(jnp.float64))
    q_ = nonneg(q, "q", MOMENT)
    sw, sb = stds(sigma_w, sigma_b)

    def one(c: Array, q: Array, sw: Array, sb: Array) -> Array:
        return (sw**2 * m_phiphi(act, q, c) + sb**2) / qmap(act, q, sw, sb)

    return jnp.vectorize(one)(c_, q_, sw, sb)


def c_star(
    sigma_w: object, sigma_b: object = 0.0, activation: Activation = "tanh", *, q0: object = 1.0
) -> Array:
    """The stable fixed point of the correlation map at q = q*: 1 in the ordered phase (χ₁ ≤ 1),
    c* < 1 in the chaotic phase (0 for odd φ at σ_b = 0).

    c* = [σ_w² ∫Dz1Dz2 φ(u1)φ(u2) + σ_b²] / q*  (Newton from c = 0).

    Args:
      sigma_w, sigma_b: standard deviations. activation: name or callable. q0: start of q*.

    Returns:
      c*, broadcast over sigma_w and sigma_b; NaN where q* = ∞.

    >>> round(float(c_star(2.0, 0.0)), 6)
    0.0

    Poole et al. 2016, the correlation map's fixed point; Schoenholz et al. 2017.
    """
    return at_q_star(k_c_star, sigma_w, sigma_b, activation, q0)


def xi_c(
    sigma_w: object, sigma_b: object = 0.0, activation: Activation = "tanh", *, q0: object = 1.0
) -> Array:
    """ξ_c: the depth over which the correlation of two inputs relaxes to c*.

    ξ_c = −1/ln χ_c,  χ_c = σ_w² ∫Dz1Dz2 φ′(u1)φ′(u2) at (q*, c*).

    Ordered phase: c* = 1, so χ_c = χ₁. Chaotic phase: c* < 1 is found by Newton on the c-map and
    χ_c < 1 is its slope there. ξ_c → ∞ at criticality (χ₁ = 1), from both sides. Where q* = ∞
    (relu / leaky_relu / linear with χ₁ > 1, exploding gelu / selu) there is no fixed point to
    expand around and ξ_c is NaN; relu at σ_w² = 2, σ_b = 0 (marginal) gives ∞.

    Args:
      sigma_w, sigma_b: standard deviations. activation: name or callable. q0: start of q*.

    Returns:
      ξ_c in layers, broadcast over sigma_w and sigma_b.

    >>> round(float(xi_c(0.5, 0.0)), 4)  # ordered, q* = 0: −1/ln σ_w²
    0.7213

    Schoenholz et al. 2017, the depth scale of correlations.
    """
    return at_q_star(k_xi_c, sigma_w, sigma_b, activation, q0)


def xi_q(
    sigma_w: object, sigma_b: object = 0.0, activation: Activation = "tanh", *, q0: object = 1.0
) -> Array:
    """ξ_q: the depth over which the length q^l relaxes to q*.

    ξ_q = −1/ln[χ₁ + σ_w² ∫Dz φ″(√q* z) φ(√q* z)]  (the slope of the length map at q*).

    Args:
      sigma_w, sigma_b: standard deviations. activation: name or callable. q0: start of q*.

    Returns:
      ξ_q in layers; NaN where q* = ∞, ∞ where the slope is ≥ 1.

    >>> round(float(xi_q(1.0, 0.05**0.5, "relu")), 4)  # slope σ_w²/2
    1.4427

    Schoenholz et al. 2017, the depth scale of lengths.
    """
    return at_q_star(k_xi_q, sigma_w, sigma_b, activation, q0)


def critical_sigma_w(
    activation: Activation = "tanh",
    sigma_b: object = 0.0,
    *,
    bracket: tuple[float, float] = (0.05, 20.0),
    steps: int = 40,
) -> Array:
    """The σ_w (a standard deviation) of the order-to-chaos transition, where χ₁ = 1.

    σ_w,c : σ_w² ∫Dz φ′(√q*(σ_w) z)² = 1  (geometric bisection inside ``bracket``).

    tanh at σ_b = 0 gives 1, relu √2 (σ_w² = 2: He init). For relu / leaky_relu / linear χ₁ does
    not depend on q, so σ_b is ignored (for σ_b > 0 q* diverges there). For odd φ (tanh, erf,
    hard_tanh, softsign) at σ_b = 0 it returns 1/|φ′(0)| exactly. Otherwise it assumes χ₁ crosses
    1 once inside the bracket (q* from q0 = 1); NaN if χ₁ − 1 does not change sign there. Other
    maps can cross elsewhere: selu at σ_b = 0 gives 0.69, where q* = 0 loses stability.

    Args:
      activation: name or callable. sigma_b: bias standard deviation.
      bracket: (low, high) σ_w to search. steps: bisection steps (40: to float precision).

    Returns:
      σ_w,c, broadcast over sigma_b.

    >>> round(float(critical_sigma_w("tanh", 0.0)), 6)
    1.0

    Poole et al. 2016 and Schoenholz et al. 2017, the phase diagram's critical line.
    """
    act = resolve(activation)
    sb = nonneg(sigma_b, "sigma_b")
    lo, hi = (jnp.asarray(b, sb.dtype) for b in bracket)
    if not 0.0 < bracket[0] < bracket[1]:
        raise ValueError(f"bracket must be (low, high) with 0 < low < high, got {bracket!r}")
    return jnp.vectorize(lambda sb: critical_kernel(act, sb, lo, hi, 200, steps))(sb)


def predicted_variances(
    depth: int,
    q0: object,
    sigma_w: object,
    sigma_b: object = 0.0,
    activation: Activation = "tanh",
) -> Array:
    """q^0 … q^depth: the per-unit second moment of each layer's pre-activations at init.

    q^1 = σ_w² q^0 + σ_b²,  q^l = σ_w² ∫Dz φ(√q^{l−1} z)² + σ_b² (l ≥ 2),  q^0 = |x|²/N,

    for h^1 = W^1 x + b^1, h^l = W^l φ(h^{l−1}) + b^l: the input x enters the first layer
    without φ, as in Poole et al. (and in ``initjax.models.MLP``).

    Args:
      depth: number of layers (static). q0: |x|²/N, the input's second moment per coordinate.
      sigma_w, sigma_b: standard deviations. activation: name or callable.

    Returns:
      Array of shape (*batch, depth + 1), batch the broadcast shape of q0, sigma_w, sigma_b;
      entry l is q^l (entry 0 is q0).

    >>> [round(q, 4) for q in predicted_variances(3, 1.0, 2.0**0.5, 0.0, "relu").tolist()]
    [1.0, 2.0, 2.0, 2.0]

    Poole et al. 2016, the length map iterated from the input.
    """
    if not isinstance(depth, int | np.integer) or depth < 0:
        raise ValueError(f"depth must be an int >= 0, got {depth!r}")
    act = resolve(activation)
    q0_ = nonneg(q0, "q0", MOMENT)
    sw, sb = stds(sigma_w, sigma_b)

    def one(q0: Array, sw: Array, sb: Array) -> Array:
        def layer(q: Array, _: None) -> tuple[Array, Array]:
            q_next = qmap(act, q, sw, sb)
            return q_next, q_next

        q1 = sw**2 * q0 + sb**2
        _, qs = lax.scan(layer, q1, None, length=max(int(depth) - 1, 0))
        return jnp.concatenate([q0[None], q1[None], qs])[: int(depth) + 1]

    return jnp.vectorize(one, signature="(),(),()->(k)")(q0_, sw, sb)


def trainable_depth(
    sigma_w: object,
    sigma_b: object = 0.0,
    activation: Activation = "tanh",
    *,
    factor: float = 6.0,
    q0: object = 1.0,
) -> Array:
    """The depth below which Schoenholz et al. found random networks trainable: factor · ξ_c.

    L_max ≈ 6 ξ_c  (beyond it their MNIST / CIFAR-10 networks did not train).

    Args:
      sigma_w, sigma_b: standard deviations. activation: name or callable.
      factor: multiple of ξ_c (6 in the paper). q0: start of q*.

    Returns:
      factor · ξ_c (∞ at criticality, NaN where q* = ∞).

    >>> round(float(trainable_depth(0.5, 0.0)), 3)
    4.328

    Schoenholz et al. 2017, trainability experiments.
    """
    if not factor > 0.0:
        raise ValueError(f"factor must be > 0, got {factor!r}")
    return factor * xi_c(sigma_w, sigma_b, activation, q0=q0)


def v_d(q: object, activation: Activation = "tanh") -> np.ndarray:
    """v_D(q) = E[φ′(√q z)⁴]/E[φ′(√q z)²]² − 1, z ~ N(0, 1): the spread one φ adds to J's spectrum.

    Pennington et al. 2017 (arXiv:1711.04735): with free W, the spread Var(s²)/E[s²]² of the
    input–output Jacobian adds v_D(q^l) per nonlinearity (:mod:`initjax.spectra`). Piecewise-
    linear φ (slope a below 0, 1 above) have v_D = 2(1 + a⁴)/(1 + a²)² − 1 for every q (ReLU 1,
    linear 0). Otherwise a trapezoid rule on a fine grid (spectrally accurate for smooth φ′;
    Gauss–Hermite nodes are too sparse for tanh's narrow sech⁴(√q z) at large q), in float64
    numpy; tanh uses φ′ = 1 − tanh², any other φ its derivative by ``jax.jvp``.

    >>> float(v_d(1.0, "relu"))
    1.0
    """
    q_ = np.asarray(q, dtype=np.float64)
    act = resolve(activation)
    if act.slope is not None:
        a = act.slope
        return np.full_like(q_, 2 * (1 + a**4) / (1 + a**2) ** 2 - 1)
    z = np.linspace(-12.0, 12.0, 9601)
    w = np.exp(-(z**2) / 2)
    u = np.sqrt(q_)[..., None] * z
    if act.fn is jnp.tanh:
        d2 = (1 - np.tanh(u) ** 2) ** 2
    else:
        d2 = np.asarray(deriv(act.fn)(jnp.asarray(u)), np.float64) ** 2
    return (d2**2 @ w) * w.sum() / (d2 @ w) ** 2 - 1
