"""initjax.theory against independent references: scipy quadrature / root finding, closed forms,
and a simulated wide network."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize

from initjax import theory

SB2 = 0.05  # Schoenholz et al.'s heatmaps: σ_b² = 0.05


# ------------------------------------------------------------ scipy references (float64)
def _gauss(f):
    """∫Dz f(z) by adaptive quadrature."""
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(lambda z: f(z) * pdf(z), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)[0]


def _sech(x):
    return 1.0 / np.cosh(min(abs(x), 300.0))


def _ref_q_map(q, sw2, sb2):
    return sw2 * _gauss(lambda z: math.tanh(math.sqrt(q) * z) ** 2) + sb2


def _ref_q_star(sw2, sb2):
    # tanh² ≤ 1 brackets q* in [σ_b², σ_w² + σ_b²]; the length map is concave: one root (σ_b > 0)
    return optimize.brentq(lambda q: _ref_q_map(q, sw2, sb2) - q, sb2, sw2 + sb2, xtol=1e-14)


def _ref_chi1(sw2, sb2):
    q = _ref_q_star(sw2, sb2)
    return sw2 * _gauss(lambda z: _sech(math.sqrt(q) * z) ** 4)


# ------------------------------------------------------------------------ critical line
def test_tanh_critical_sigma_w_is_one_at_zero_bias():
    assert abs(float(theory.critical_sigma_w("tanh", 0.0)) - 1.0) < 1e-4
    # odd φ at σ_b = 0: the transition is 1/|φ′(0)|; erf′(0) = 2/√π
    assert abs(float(theory.critical_sigma_w("erf", 0.0)) - math.sqrt(math.pi) / 2) < 1e-5


def test_tanh_critical_near_zero_bias_is_continuous():
    sw_c = float(theory.critical_sigma_w("tanh", 1e-3))
    assert 1.0 < sw_c < 1.01


@pytest.mark.parametrize(("sigma_w", "sigma_b"), [(0.5, 0.0), (1.0, 0.3), (1.3, 1.0), (1.4, 0.05)])
def test_relu_chi1_is_half_sigma_w_squared(sigma_w, sigma_b):
    assert abs(float(theory.chi1(sigma_w, sigma_b, "relu")) - sigma_w**2 / 2) < 1e-6


def test_relu_and_leaky_relu_critical_sigma_w():
    assert abs(float(theory.critical_sigma_w("relu", 0.0)) ** 2 - 2.0) < 1e-4
    a = 0.01
    assert abs(float(theory.critical_sigma_w("leaky_relu")) ** 2 - 2 / (1 + a * a)) < 1e-4


def test_relu_q_star_fixed_diverging_and_marginal():
    assert abs(float(theory.q_star(1.0, 0.3, "relu")) - 0.09 / (1 - 0.5)) < 1e-6
    assert float(theory.q_star(0.5, 0.0, "relu")) == 0.0
    assert float(theory.q_star(1.5, 0.0, "relu")) == np.inf  # σ_w² > 2 explodes
    assert float(theory.q_star(math.sqrt(2), 0.1, "relu")) == np.inf  # grows linearly
    assert float(theory.q_star(math.sqrt(2), 0.0, "relu", q0=3.0)) == pytest.approx(3.0)


def test_tanh_critical_sigma_w_matches_scipy_brentq():
    sw2_ref = optimize.brentq(lambda s: _ref_chi1(s, SB2) - 1.0, 1.0, 3.0, xtol=1e-12)
    sw_c = float(theory.critical_sigma_w("tanh", math.sqrt(SB2)))
    assert abs(sw_c**2 - sw2_ref) < 1e-5  # float32: χ₁ carries ~1e-7 rounding
    assert abs(sw2_ref - 1.76095) < 1e-5  # pinned so a change in the reference shows


@pytest.mark.parametrize(
    ("q", "sw2", "sb2"), [(0.01, 1.0, 0.0), (0.5, 1.5, SB2), (1.0, 2.5, SB2), (3.0, 4.0, 0.3)]
)
def test_tanh_q_map_matches_scipy(q, sw2, sb2):
    got = float(theory.q_map(q, math.sqrt(sw2), math.sqrt(sb2)))
    assert abs(got - _ref_q_map(q, sw2, sb2)) < 1e-6


@pytest.mark.parametrize(("sw2", "sb2"), [(0.5, SB2), (1.5, SB2), (2.5, SB2), (4.0, 0.3)])
def test_tanh_chi1_and_q_star_match_scipy(sw2, sb2):
    sw, sb = math.sqrt(sw2), math.sqrt(sb2)
    assert abs(float(theory.q_star(sw, sb)) - _ref_q_star(sw2, sb2)) < 1e-5 * _ref_q_star(sw2, sb2)
    assert abs(float(theory.chi1(sw, sb)) - _ref_chi1(sw2, sb2)) < 1e-6


def test_quadrature_float64_accuracy():
    with jax.enable_x64(True):
        for q, sw2, sb2 in [(0.3, 1.5, SB2), (2.0, 2.5, SB2), (100.0, 1.0, 0.0)]:
            got = float(theory.q_map(q, math.sqrt(sw2), math.sqrt(sb2)))
            assert abs(got - _ref_q_map(q, sw2, sb2)) < 1e-11
        assert abs(float(theory.chi1(math.sqrt(2.5), math.sqrt(SB2))) - _ref_chi1(2.5, SB2)) < 1e-11
        sw_c = float(theory.critical_sigma_w("tanh", math.sqrt(SB2)))
        assert abs(sw_c**2 - 1.760954639607) < 1e-9


# ------------------------------------------------------------------- correlation map
@pytest.mark.parametrize(("c", "q", "sw2", "sb2"), [(0.3, 1.0, 2.5, SB2), (0.9, 2.0, 1.5, SB2)])
def test_tanh_c_map_matches_scipy_dblquad(c, q, sw2, sb2):
    s, r = math.sqrt(1 - c * c), math.sqrt(q)
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    joint = integrate.dblquad(
        lambda z2, z1: math.tanh(r * z1) * math.tanh(r * (c * z1 + s * z2)) * pdf(z1) * pdf(z2),
        *(-9.0, 9.0, -9.0, 9.0),
        epsabs=1e-11,
    )[0]
    ref = (sw2 * joint + sb2) / _ref_q_map(q, sw2, sb2)
    assert abs(float(theory.c_map(c, q, math.sqrt(sw2), math.sqrt(sb2))) - ref) < 1e-6


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_quadrature_of_kinked_callable_matches_arc_cosine_closed_forms(name):
    fn = {"relu": jax.nn.relu, "leaky_relu": jax.nn.leaky_relu}[name]  # a callable: quadrature
    sw, sb, q = 1.2, 0.3, 1.3
    assert float(theory.q_map(q, sw, sb, fn)) == pytest.approx(
        float(theory.q_map(q, sw, sb, name)), rel=1e-6
    )
    assert float(theory.chi1(sw, sb, fn)) == pytest.approx(
        float(theory.chi1(sw, sb, name)), rel=1e-6
    )
    cs = jnp.array([-0.9, -0.3, 0.0, 0.5, 0.99, 1.0])
    np.testing.assert_allclose(
        theory.c_map(cs, q, sw, sb, fn), theory.c_map(cs, q, sw, sb, name), atol=1e-6
    )
    # Cho & Saul's arc-cosine kernel, by hand, at c = 0: E[relu(u1) relu(u2)] = q/(2π)
    if name == "relu":
        assert float(theory.c_map(0.0, q, sw, sb, name)) == pytest.approx(
            (sw**2 * q / (2 * math.pi) + sb**2) / (sw**2 * q / 2 + sb**2), rel=1e-6
        )


# ----------------------------------------------------------------------- depth scales
def test_xi_c_peaks_at_the_critical_point():
    sb = math.sqrt(SB2)  # critical σ_w² ≈ 1.761
    below = theory.xi_c(jnp.sqrt(jnp.array([1.0, 1.3, 1.6, 1.7])), sb)
    above = theory.xi_c(jnp.sqrt(jnp.array([4.0, 2.5, 2.0, 1.85])), sb)  # same shape: 1 compile
    for xs in (np.asarray(below), np.asarray(above)):
        assert np.all(np.isfinite(xs)) and np.all(xs > 0)
        assert np.all(np.diff(xs) > 0)  # grows towards σ_w,c from either side
    assert float(theory.c_star(math.sqrt(1.6), sb)) == 1.0  # ordered
    assert 0.0 < float(theory.c_star(2.0, sb)) < 1.0  # chaotic
    assert float(theory.xi_c(float(theory.critical_sigma_w("tanh", sb)), sb)) > 1e3


def test_xi_c_ordered_phase_matches_scipy():
    sw2 = 1.3
    ref = -1.0 / math.log(_ref_chi1(sw2, SB2))
    assert float(theory.xi_c(math.sqrt(sw2), math.sqrt(SB2))) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("sw", [1.2, 2.0])
def test_xi_c_chaotic_phase_matches_scipy_at_zero_bias(sw):
    # odd φ, σ_b = 0: c* = 0, so χ_c = σ_w² (∫Dz φ′(√q* z))²; q* by scipy root finding
    q = optimize.brentq(lambda q: _ref_q_map(q, sw * sw, 0.0) - q, 1e-3, sw * sw, xtol=1e-14)
    chi_c = sw * sw * _gauss(lambda z: _sech(math.sqrt(q) * z) ** 2) ** 2
    assert float(theory.c_star(sw, 0.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(theory.xi_c(sw, 0.0)) == pytest.approx(-1.0 / math.log(chi_c), rel=1e-4)


def test_xi_c_chaotic_phase_with_bias_matches_numpy_gauss_hermite():
    # an independent rule: 120² tensor Gauss–Hermite, q* and c* by scipy brentq
    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    sw2 = 2.5
    q = optimize.brentq(
        lambda q: sw2 * np.sum(w * np.tanh(math.sqrt(q) * z) ** 2) + SB2 - q, SB2, sw2 + SB2
    )
    z1, z2, w2 = z[:, None], z[None, :], w[:, None] * w[None, :]

    def u2(c):
        return math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)

    def c_map(c):
        return (sw2 * np.sum(w2 * np.tanh(math.sqrt(q) * z1) * np.tanh(u2(c))) + SB2) / q

    c = optimize.brentq(lambda c: c_map(c) - c, 0.0, 0.99, xtol=1e-14)
    chi_c = sw2 * np.sum(w2 / np.cosh(math.sqrt(q) * z1) ** 2 / np.cosh(u2(c)) ** 2)
    assert float(theory.c_star(math.sqrt(sw2), math.sqrt(SB2))) == pytest.approx(c, abs=1e-5)
    got = float(theory.xi_c(math.sqrt(sw2), math.sqrt(SB2)))
    assert got == pytest.approx(-1.0 / math.log(chi_c), rel=1e-4)
    assert abs(c - 0.446804) < 1e-5 and abs(got - 11.7956) < 1e-3  # pinned


def test_exact_criticality_at_zero_bias_settles():
    # q* = 0 is a double root here: Newton halves towards it until float noise, then must stop
    assert 0.0 <= float(theory.q_star(1.0, 0.0)) < 1e-5
    assert float(theory.chi1(1.0, 0.0)) == pytest.approx(1.0, abs=1e-5)


def test_no_fixed_point_gives_inf_q_star_and_nan_depth_scales():
    assert float(theory.q_star(1.6, 0.0, "relu")) == np.inf
    assert np.isnan(float(theory.xi_c(1.6, 0.0, "relu")))
    assert np.isnan(float(theory.xi_q(1.6, 0.0, "relu")))
    assert float(theory.xi_c(math.sqrt(2), 0.0, "relu")) > 1e6  # marginal: χ₁ = 1
    assert float(theory.q_star(3.0, 0.0, "gelu")) == np.inf  # gelu ~ relu at large q


def test_xi_q_against_finite_difference_of_scipy_length_map():
    sw2 = 2.5
    q = _ref_q_star(sw2, SB2)
    h = 1e-4
    slope = (_ref_q_map(q + h, sw2, SB2) - _ref_q_map(q - h, sw2, SB2)) / (2 * h)
    assert float(theory.xi_q(math.sqrt(sw2), math.sqrt(SB2))) == pytest.approx(
        -1 / math.log(slope), rel=1e-5
    )
    assert float(theory.xi_q(1.0, 0.3, "relu")) == pytest.approx(-1 / math.log(0.5), rel=1e-6)


def test_trainable_depth_is_six_xi_c():
    assert float(theory.trainable_depth(0.5)) == pytest.approx(-6.0 / math.log(0.25), rel=1e-6)
    assert float(theory.trainable_depth(1.0)) == np.inf  # criticality: every depth trains


# ------------------------------------------------------------ simulated wide network
@pytest.mark.parametrize("sw2", [1.5, 2.5])
def test_predicted_variances_match_simulated_tanh_network(sw2):
    n, depth, q0, seeds = 1000, 10, 1.0, 4
    per_seed = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, 8))
        x *= np.sqrt(q0 * n / np.sum(x * x, axis=0, keepdims=True))  # |x|²/N = q0 per input
        a, qs = x, []
        for _ in range(depth):
            w = rng.standard_normal((n, n)) * math.sqrt(sw2 / n)
            h = w @ a + rng.standard_normal((n, 1)) * math.sqrt(SB2)
            qs.append(np.mean(h * h))
            a = np.tanh(h)
        per_seed.append(qs)
    simulated = np.mean(per_seed, axis=0)
    predicted = np.asarray(theory.predicted_variances(depth, q0, math.sqrt(sw2), math.sqrt(SB2)))
    assert predicted.shape == (depth + 1,) and predicted[0] == q0
    assert predicted[1] == pytest.approx(sw2 * q0 + SB2, rel=1e-6)  # first layer is linear in x
    assert abs(simulated[-1] / predicted[-1] - 1) < 0.05


# ------------------------------------------------------------------ jax transformations
def test_vmap_over_sigma_w_equals_python_loop_and_jit_works():
    sws = jnp.array([0.6, 1.0, 1.3, 1.7, 2.2])
    sb = math.sqrt(SB2)
    vmapped = jax.vmap(lambda s: theory.chi1(s, sb))(sws)
    looped = jnp.stack([theory.chi1(s, sb) for s in sws])
    np.testing.assert_allclose(vmapped, looped, rtol=1e-6)
    jitted = jax.jit(functools.partial(theory.chi1, sigma_b=sb, activation="tanh"))
    np.testing.assert_allclose(jax.vmap(jitted)(sws), looped, rtol=1e-6)
    np.testing.assert_allclose(theory.chi1(sws, sb), looped, rtol=1e-6)  # broadcasting


def test_forward_mode_derivative_of_chi1_matches_finite_difference():
    sb, sw, h = math.sqrt(SB2), 1.5, 1e-2
    fd = (float(theory.chi1(sw + h, sb)) - float(theory.chi1(sw - h, sb))) / (2 * h)
    assert float(jax.jacfwd(lambda s: theory.chi1(s, sb))(sw)) == pytest.approx(fd, rel=1e-3)


def test_shapes_broadcast():
    assert theory.predicted_variances(4, 1.0, jnp.array([1.0, 2.0]), 0.1).shape == (2, 5)
    assert theory.critical_sigma_w("relu", jnp.zeros(3)).shape == (3,)
    assert theory.q_map(jnp.ones((2, 1)), jnp.ones((1, 3))).shape == (2, 3)


# -------------------------------------------------------------------------- errors
def test_bad_activation_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid choices: .*relu.*tanh"):
        theory.chi1(1.0, 0.0, "tahn")


@pytest.mark.parametrize(
    "call",
    [
        lambda: theory.chi1(-1.0, 0.0),
        lambda: theory.q_map(1.0, 1.0, -0.1),
        lambda: theory.q_map(-1.0, 1.0, 0.0),
        lambda: theory.c_map(1.5, 1.0, 1.0),
        lambda: theory.critical_sigma_w("tanh", -0.1),
        lambda: theory.predicted_variances(-1, 1.0, 1.0),
    ],
)
def test_invalid_arguments_raise(call):
    with pytest.raises(ValueError, match="must be"):
        call()


def test_v_d_against_scipy_quadrature():
    from scipy import integrate, stats

    def moment(q, power):
        f = lambda z: (1 - np.tanh(math.sqrt(q) * z) ** 2) ** power * stats.norm.pdf(z)  # noqa: E731
        return integrate.quad(f, -np.inf, np.inf)[0]

    for q in (0.01, 0.5, 1.0, 3.0):
        expected = moment(q, 4) / moment(q, 2) ** 2 - 1
        np.testing.assert_allclose(theory.v_d(np.asarray(q), "tanh"), expected, rtol=1e-6)
    np.testing.assert_array_equal(theory.v_d(np.ones(3), "relu"), 1.0)
    np.testing.assert_array_equal(theory.v_d(np.ones(2), "linear"), 0.0)
    # leaky ReLU: φ′ ∈ {a, 1} half the time each
    a = 0.01
    np.testing.assert_allclose(
        theory.v_d(1.0, "leaky_relu"), ((1 + a**4) / 2) / ((1 + a**2) / 2) ** 2 - 1
    )
    # erf through autodiff, against scipy: φ′(u) = 2/√π exp(−u²)
    q = 0.7
    d = lambda z, p: (2 / math.sqrt(math.pi) * np.exp(-q * z**2)) ** p * stats.norm.pdf(z)  # noqa: E731
    m2, m4 = (integrate.quad(d, -np.inf, np.inf, args=(p,))[0] for p in (2, 4))
    np.testing.assert_allclose(theory.v_d(q, "erf"), m4 / m2**2 - 1, rtol=1e-5)
