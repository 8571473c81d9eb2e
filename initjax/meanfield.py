"""The mean-field maps as jit-able scalar kernels, and the Gaussian integrals they are made of.

The numerics behind :mod:`initjax.theory` (which documents the conventions and the quadrature,
and broadcasts), and the argument checks its functions share (:func:`resolve`, :func:`nonneg`,
:func:`stds`, :func:`at_q_star`): ∫Dz integrals by graded Gauss–Legendre quadrature, the
moments E[φ²], E[φ′²], E[φφ], E[φ′φ′], the q and c maps, their fixed points q* and c*, χ₁,
the depth scales ξ and the critical σ_w by bisection. Each kernel takes an
:class:`initjax.activations.Activation` (a static jit argument) and scalar arrays.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from initjax import activations as acts
from initjax.errors import unknown

Array = jax.Array
Activation = str | Callable[[Array], Array]
_Act = acts.Activation  # fn, odd, slope: what the theory exploits (hashable: a static jit arg)

__all__ = [
    "MOMENT",
    "Activation",
    "at_q_star",
    "critical_kernel",
    "deriv",
    "k_c_star",
    "k_chi1",
    "k_q_star",
    "k_xi_c",
    "k_xi_q",
    "m_phiphi",
    "nonneg",
    "qmap",
    "resolve",
    "solve_q_star",
    "stds",
    "tolerance",
]


# ---------------------------------------------------------------- quadrature rules (numpy, f64)
_EDGES = np.array([0.0, 1e-3, 1e-2, 0.1, 0.3, 1.0, 2.0, 3.5, 5.5, 8.0, 11.0])
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_TH_X, _TH_W = np.polynomial.legendre.leggauss(24)


def _graded_rule(weight: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _EDGES[:-1, None], _EDGES[1:, None]
    x = lo + (hi - lo) * (_GL_X[None, :] + 1.0) / 2.0
    return x.ravel(), ((hi - lo) / 2.0 * _GL_W[None, :] * weight(x)).ravel()


# ∫_0^∞ h(z) ρ(z) dz (weights sum to 1/2) and ∫_0^∞ h(r) r e^{−r²/2} dr (weights sum to 1).
_Z, _WZ = _graded_rule(lambda z: np.exp(-z * z / 2.0) / math.sqrt(2.0 * math.pi))
_R, _WR = _graded_rule(lambda r: r * np.exp(-r * r / 2.0))


def _expect_1d(f: Callable[[Array], Array], q: Array) -> Array:
    """∫Dz f(√q z), for elementwise f."""
    z = jnp.asarray(_Z, q.dtype)
    u = jnp.sqrt(q) * z
    return jnp.sum(jnp.asarray(_WZ, q.dtype) * (f(u) + f(-u)))


def _expect_2d(f: Callable[[Array, Array], Array], q: Array, c: Array) -> Array:
    """∫Dz1 Dz2 f(u1, u2), u1 = √q z1, u2 = √q (c z1 + √(1−c²) z2), in polar coordinates."""
    dt = q.dtype
    beta = jnp.arccos(jnp.clip(c, -1.0, 1.0))  # u2 = √q r cos(θ − β)
    kink = jnp.where(beta <= math.pi / 2, beta + math.pi / 2, beta - math.pi / 2)
    a, b = jnp.minimum(kink, math.pi / 2), jnp.maximum(kink, math.pi / 2)
    lo = jnp.stack([jnp.zeros((), dt), a, b])
    hi = jnp.stack([a, b, jnp.full((), math.pi, dt)])
    x, w = jnp.asarray(_TH_X, dt), jnp.asarray(_TH_W, dt)
    theta = (lo[:, None] + (hi - lo)[:, None] * (x[None, :] + 1.0) / 2.0).reshape(-1)
    w_theta = ((hi - lo)[:, None] / 2.0 * w[None, :]).reshape(-1) / (2.0 * math.pi)
    r = jnp.asarray(_R, dt)[:, None]
    u1 = jnp.sqrt(q) * r * jnp.cos(theta)[None, :]
    u2 = jnp.sqrt(q) * r * jnp.cos(theta - beta)[None, :]
    w2 = jnp.asarray(_WR, dt)[:, None] * w_theta[None, :]
    return jnp.sum(w2 * (f(u1, u2) + f(-u1, -u2)))


def deriv(fn: Callable[[Array], Array]) -> Callable[[Array], Array]:
    return lambda u: jax.jvp(fn, (u,), (jnp.ones_like(u),))[1]


# -------------------------------------------------- the Gaussian moments the maps are made of
def _m_phi2(act: _Act, q: Array) -> Array:
    """∫Dz φ(√q z)²."""
    if act.slope is not None:
        return q * (1.0 + act.slope**2) / 2.0
    return _expect_1d(lambda u: act.fn(u) ** 2, q)


def _m_dphi2(act: _Act, q: Array) -> Array:
    """∫Dz φ′(√q z)²; q-independent for homogeneous φ."""
    if act.slope is not None:
        return jnp.full_like(q, (1.0 + act.slope**2) / 2.0)
    dphi = deriv(act.fn)
    return _expect_1d(lambda u: dphi(u) ** 2, jnp.minimum(q, 1e12))  # q* = ∞: the limit


def m_phiphi(act: _Act, q: Array, c: Array) -> Array:
    """∫Dz1Dz2 φ(u1)φ(u2) (arc-cosine kernel of degree 1 for homogeneous φ)."""
    if act.slope is not None:
        a, c = act.slope, jnp.clip(c, -1.0, 1.0)
        k1 = (jnp.sqrt(1.0 - c * c) + (math.pi - jnp.arccos(c)) * c) / (2.0 * math.pi)
        return q * (a * c + (1.0 - a) ** 2 * k1)
    return _expect_2d(lambda u1, u2: act.fn(u1) * act.fn(u2), q, c)


def _m_dphidphi(act: _Act, q: Array, c: Array) -> Array:
    """∫Dz1Dz2 φ′(u1)φ′(u2) (arc-cosine kernel of degree 0 for homogeneous φ)."""
    if act.slope is not None:
        a, c = act.slope, jnp.clip(c, -1.0, 1.0)
        return a + (1.0 - a) ** 2 * (math.pi - jnp.arccos(c)) / (2.0 * math.pi)
    dphi = deriv(act.fn)
    return _expect_2d(lambda u1, u2: dphi(u1) * dphi(u2), q, c)


# ----------------------------------------------------------------- jitted scalar kernels
_STATIC = ("act", "max_iter")
_MAX_ITER = 200


def tolerance(tol: float | None, x: Array) -> Array:
    return jnp.asarray(16 * jnp.finfo(x.dtype).eps if tol is None else tol, x.dtype)


def qmap(act: _Act, q: Array, sw: Array, sb: Array) -> Array:
    return sw**2 * _m_phi2(act, q) + sb**2


def _qmap_slope(act: _Act, q: Array, sw: Array, sb: Array) -> Array:
    """∂q^l/∂q^{l−1}; at q = 0 taken as the limit (√q is not differentiable there)."""
    q_safe = jnp.maximum(q, 1e-20)
    return jax.jvp(lambda x: qmap(act, x, sw, sb), (q_safe,), (jnp.ones_like(q),))[1]


@functools.partial(jax.jit, static_argnames=_STATIC)
def solve_q_star(act: _Act, sw: Array, sb: Array, q0: Array, max_iter: int, tol: Array) -> Array:
    if act.slope is not None:  # q ← m q + σ_b² with m = χ₁: solve it
        m = sw**2 * (1.0 + act.slope**2) / 2.0
        marginal = jnp.abs(m - 1.0) <= 8 * jnp.finfo(sw.dtype).eps
        q_fix = jnp.where(m < 1.0, sb**2 / jnp.where(m < 1.0, 1.0 - m, 1.0), jnp.inf)
        return jnp.where(marginal, jnp.where(sb == 0.0, q0, jnp.inf), q_fix)

    State = tuple[Array, Array, Array, Array, Array]  # i, q, done, climbing, last Newton |Δq|

    def step(state: State) -> State:
        i, q, _, _, last = state
        f, g_slope = qmap(act, q, sw, sb), _qmap_slope(act, q, sw, sb) - 1.0
        newton = q - (f - q) / jnp.where(g_slope < 0.0, g_slope, -1.0)
        # Plain iteration first (it moves monotonically towards q*), then Newton: near the
        # critical line the map's slope → 1 and iteration alone would take thousands of steps.
        use = (i >= 20) & (g_slope < 0.0) & (newton >= 0.0) & jnp.isfinite(newton)
        q_new = jnp.where(use, newton, f)
        dq = jnp.abs(q_new - q)
        # relative (q* may be tiny), or Newton steps stopped shrinking: float noise reached
        done = (dq <= tol * jnp.abs(q_new)) | (use & (dq >= last))
        climbing = (f > q) & (g_slope >= 0.0)  # going up with slope ≥ 1: no q* ahead
        return i + 1, q_new, done, climbing, jnp.where(use, dq, jnp.inf)

    def cond(state: State) -> Array:
        i, q, done, _, _ = state
        return (i < max_iter) & ~done & jnp.isfinite(q)

    false, inf = jnp.zeros((), bool), jnp.full_like(q0, jnp.inf)
    init = (jnp.zeros((), jnp.int32), q0, false, false, inf)
    _, q, done, climbing, _ = lax.while_loop(cond, step, init)
    return jnp.where(jnp.isfinite(q) & (done | ~climbing), q, jnp.inf)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _c_star(
    act: _Act, sw: Array, sb: Array, qs: Array, ordered: Array, max_iter: int, tol: Array
) -> Array:
    """c* at q = q* > 0 by Newton from c = 0: the c-map is convex with c_map(1) = 1, so from the
    left Newton climbs monotonically to its smallest fixed point (c* < 1 iff χ₁ > 1)."""

    def step(state: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        i, c, _ = state
        g = (sw**2 * m_phiphi(act, qs, c) + sb**2) / qs - c
        g_slope = sw**2 * _m_dphidphi(act, qs, c) - 1.0  # Price: ∂c^l/∂c^{l−1} = σ_w²E[φ′φ′]
        c_new = jnp.clip(c - g / jnp.minimum(g_slope, -1e-12), 0.0, 1.0)
        return i + 1, c_new, (c_new - c <= tol)  # no more upward progress: converged or noise

    def cond(state: tuple[Array, Array, Array]) -> Array:
        return (state[0] < max_iter) & ~state[2]

    init = (jnp.zeros((), jnp.int32), jnp.zeros_like(qs), ordered)  # ordered: c* = 1, no loop
    return jnp.where(ordered, 1.0, lax.while_loop(cond, step, init)[1])


# Each maps (act, σ_w, σ_b, q0) to one quantity at the length map's fixed point q*.
def k_q_star(act: _Act, sw: Array, sb: Array, q0: Array) -> Array:
    return solve_q_star(act, sw, sb, q0, _MAX_ITER, tolerance(None, sw))


def k_chi1(act: _Act, sw: Array, sb: Array, q0: Array) -> Array:
    return sw**2 * _m_dphi2(act, k_q_star(act, sw, sb, q0))


def k_c_star(act: _Act, sw: Array, sb: Array, q0: Array) -> Array:
    qs = k_q_star(act, sw, sb, q0)
    ordered = sw**2 * _m_dphi2(act, qs) <= 1.0  # includes q* = 0 (σ_b = 0)
    q_ok = jnp.where(jnp.isfinite(qs) & (qs > 0.0), qs, 1.0)
    cs = _c_star(act, sw, sb, q_ok, ordered, _MAX_ITER, tolerance(None, sw))
    return jnp.where(jnp.isfinite(qs), cs, jnp.nan)


def k_xi_c(act: _Act, sw: Array, sb: Array, q0: Array) -> Array:
    """−1/ln χ_c with χ_c = χ₁ when ordered (c* = 1), else σ_w² E[φ′φ′] at c*; NaN at q* = ∞."""
    qs = k_q_star(act, sw, sb, q0)
    chi_1 = sw**2 * _m_dphi2(act, qs)
    chi_c = chi_1
    if act.slope is None:  # homogeneous φ with a finite q* is never chaotic
        q_ok = jnp.where(jnp.isfinite(qs) & (qs > 0.0), qs, 1.0)
        cs = _c_star(act, sw, sb, q_ok, chi_1 <= 1.0, _MAX_ITER, tolerance(None, sw))
        chi_c = jnp.where(chi_1 <= 1.0, chi_1, sw**2 * _m_dphidphi(act, q_ok, cs))
    return jnp.where(jnp.isfinite(qs), _depth_scale(chi_c), jnp.nan)


def k_xi_q(act: _Act, sw: Array, sb: Array, q0: Array) -> Array:
    qs = k_q_star(act, sw, sb, q0)
    slope = _qmap_slope(act, jnp.where(jnp.isfinite(qs), qs, 1.0), sw, sb)
    return jnp.where(jnp.isfinite(qs), _depth_scale(slope), jnp.nan)


def _depth_scale(chi: Array) -> Array:
    """−1/ln χ, infinite at χ ≥ 1 (where ln χ ≥ 0 would give a negative or −∞ scale)."""
    return jnp.where(chi >= 1.0, jnp.inf, -1.0 / jnp.log(chi))


@functools.partial(jax.jit, static_argnames=(*_STATIC, "steps"))
def critical_kernel(act: _Act, sb: Array, lo: Array, hi: Array, max_iter: int, steps: int) -> Array:
    if act.slope is not None:  # χ₁ = σ_w²(1 + a²)/2 whatever q is
        return jnp.full_like(sb, math.sqrt(2.0 / (1.0 + act.slope**2)))
    one, tol = jnp.ones_like(sb), 16 * jnp.finfo(sb.dtype).eps

    def ordered(sw: Array) -> Array:  # NaN (q* = ∞ for unbounded φ) counts as chaotic
        return sw**2 * _m_dphi2(act, solve_q_star(act, sw, sb, one, max_iter, tol)) < 1.0

    def bisect(_: int, bounds: tuple[Array, Array]) -> tuple[Array, Array]:
        a, b = bounds
        mid = jnp.sqrt(a * b)  # geometric: the bracket spans decades
        is_ordered = ordered(mid)
        return jnp.where(is_ordered, mid, a), jnp.where(is_ordered, b, mid)

    a, b = lax.fori_loop(0, steps, bisect, (lo, hi))
    found = ordered(lo) & ~ordered(hi)
    sw_c = jnp.where(found, jnp.sqrt(a * b), jnp.nan)
    if act.odd:
        # At σ_b = 0 the ordered phase has q* = 0, so χ₁ = σ_w²φ′(0)² exactly there; on the chaotic
        # side χ₁ − 1 grows only like (σ_w − σ_c)², which float32 bisection resolves to ~1e-3.
        dphi0 = deriv(act.fn)(jnp.zeros_like(sb))
        sw_c = jnp.where(sb == 0.0, 1.0 / jnp.abs(dphi0), sw_c)
    return sw_c


# ---------------------------------------------------------------- arguments of theory's functions
def resolve(activation: Activation) -> _Act:
    """A name of :mod:`initjax.activations`, or an elementwise callable, as an Activation."""
    if isinstance(activation, str):
        if activation not in acts.TABLE:
            hint = " (or pass an elementwise callable jnp -> jnp)"
            raise unknown("activation", activation, acts.names(), hint)
        return acts.TABLE[activation]
    if callable(activation):
        return _Act(activation)
    raise ValueError(f"activation must be a name or a callable, got {activation!r}")


MOMENT = "a second moment"


def nonneg(x: object, name: str, what: str = "a standard deviation") -> Array:
    """x as an array of JAX's default float; ValueError if it is concretely negative or NaN."""
    if not isinstance(x, jax.core.Tracer):
        v = np.asarray(x, dtype=np.float64)
        if np.any(np.isnan(v) | (v < 0.0)):
            raise ValueError(f"{name} must be {what} (>= 0), got {x!r}")
    return jnp.asarray(x, dtype=jax.dtypes.canonicalize_dtype(jnp.float64))


def stds(sigma_w: object, sigma_b: object) -> tuple[Array, Array]:
    """(σ_w, σ_b), each checked by :func:`nonneg`."""
    return nonneg(sigma_w, "sigma_w"), nonneg(sigma_b, "sigma_b")


def at_q_star(
    kernel: Callable[[_Act, Array, Array, Array], Array],
    sigma_w: object,
    sigma_b: object,
    activation: Activation,
    q0: object,
) -> Array:
    """kernel(act, σ_w, σ_b, q0) over the validated, broadcast arguments."""
    act = resolve(activation)
    sw, sb = stds(sigma_w, sigma_b)
    return jnp.vectorize(functools.partial(kernel, act))(sw, sb, nonneg(q0, "q0", MOMENT))
