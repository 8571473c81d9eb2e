"""Tests for initjax.init: distributions against their formulas and scipy, agreement with
jax.nn.initializers, gains, orthogonality, vmap/jit over traced scales, errors, properties."""

import doctest
import inspect
import math

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from initjax import init as ii

KEY = jax.random.key(0)
DENSE = (400, 300)  # fans (400, 300)
CONV = (3, 3, 32, 64)  # fans (3·3·32, 3·3·64) = (288, 576)
FANS = {DENSE: (400, 300), CONV: (288, 576)}  # by hand, independent of ii.fans
N_DRAWS = 200_000


def draw(init, shape, key=KEY) -> np.ndarray:
    """At least N_DRAWS values: as many independent kernels (keys) as needed, flattened.

    A Python loop rather than a vmap: the eager ops then have the kernel's own shape, so their
    compilations are shared with the other tests (compiling, not sampling, is the cost here)."""
    n_keys = math.ceil(N_DRAWS / math.prod(shape))
    ws = [np.asarray(init(k, shape), dtype=np.float64) for k in jax.random.split(key, n_keys)]
    return np.concatenate([w.ravel() for w in ws])


# ---------------------------------------------------------------- the exact distributions


def _uniform_std(std):
    b = math.sqrt(3) * std
    return stats.uniform(loc=-b, scale=2 * b)


def _fan_std(kind, shape, gain):
    n_in, n_out = FANS[shape]
    return gain * math.sqrt({"xavier": 2 / (n_in + n_out), "he": 2 / n_in, "lecun": 1 / n_in}[kind])


class _OrthogonalEntry:
    """An entry of a Haar-random m×k semi-orthogonal matrix (m >= k) times g: it is g times a
    coordinate of a uniform unit vector in R^m, so (x/g)² ~ Beta(1/2, (m−1)/2), symmetric."""

    def __init__(self, m, g):
        self.beta, self.g = stats.beta(0.5, (m - 1) / 2), g

    def cdf(self, x):
        x = np.asarray(x) / self.g
        return 0.5 + 0.5 * np.sign(x) * self.beta.cdf(x**2)

    def mean(self):
        return 0.0

    def std(self):
        return self.g * math.sqrt(self.beta.mean())  # E[x²] = g²·(1/2)/(m/2) = g²/m


def _vs_dist(scale, mode, distribution, shape):
    n_in, n_out = FANS[shape]
    n = {
        "fan_in": n_in,
        "fan_out": n_out,
        "fan_avg": (n_in + n_out) / 2,
        "fan_geo_avg": math.sqrt(n_in * n_out),
    }[mode]
    std = math.sqrt(scale / n)
    if distribution == "normal":
        return stats.norm(scale=std)
    if distribution == "uniform":
        return _uniform_std(std)
    return stats.truncnorm(-2, 2, scale=std / 0.87962566103423978)


def _orth_matrix(shape):  # orthogonal's matrix: (product of the other axes, last axis)
    return math.prod(shape[:-1]), shape[-1]


SIGMA, GAIN = 0.05, 1.3
# (id, () -> initializer, shape -> the exact distribution of one entry)
CASES = [
    ("normal", lambda: ii.normal(SIGMA), lambda s: stats.norm(scale=SIGMA)),
    ("uniform", lambda: ii.uniform(SIGMA), lambda s: _uniform_std(SIGMA)),
    (
        "truncated_normal",
        lambda: ii.truncated_normal(SIGMA),
        lambda s: stats.truncnorm(-2, 2, scale=SIGMA),
    ),
    (
        "truncated_normal_asym",
        lambda: ii.truncated_normal(SIGMA, lower=-1.0, upper=3.0),
        lambda s: stats.truncnorm(-1, 3, scale=SIGMA),
    ),
    (
        "xavier_normal",
        lambda: ii.xavier_normal(GAIN),
        lambda s: stats.norm(scale=_fan_std("xavier", s, GAIN)),
    ),
    (
        "xavier_uniform",
        lambda: ii.xavier_uniform(GAIN),
        lambda s: _uniform_std(_fan_std("xavier", s, GAIN)),
    ),
    ("he_normal", lambda: ii.he_normal(GAIN), lambda s: stats.norm(scale=_fan_std("he", s, GAIN))),
    ("he_uniform", lambda: ii.he_uniform(GAIN), lambda s: _uniform_std(_fan_std("he", s, GAIN))),
    (
        "lecun_normal",
        lambda: ii.lecun_normal(GAIN),
        lambda s: stats.norm(scale=_fan_std("lecun", s, GAIN)),
    ),
    (
        "lecun_uniform",
        lambda: ii.lecun_uniform(GAIN),
        lambda s: _uniform_std(_fan_std("lecun", s, GAIN)),
    ),
    (
        "orthogonal",
        lambda: ii.orthogonal(GAIN),
        lambda s: _OrthogonalEntry(max(_orth_matrix(s)), GAIN),
    ),
] + [
    (
        f"variance_scaling_{mode}_{dist}",
        (lambda mode=mode, dist=dist: ii.variance_scaling(2.0, mode, dist)),
        (lambda s, mode=mode, dist=dist: _vs_dist(2.0, mode, dist, s)),
    )
    for mode in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
    for dist in ("normal", "truncated_normal", "uniform")
]


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize(("name", "build", "dist"), CASES, ids=[c[0] for c in CASES])
def test_distribution_matches_formula(name, build, dist, shape):
    d = dist(shape)
    w = draw(build(), shape)
    n = w.size
    # Standard errors: mean σ/√n; sample std ≈ σ·√((κ−1)/(4n)) with kurtosis κ <= 3 for
    # every distribution here (normal 3; truncated, uniform and orthogonal entries lighter),
    # so σ/√(2n) bounds it. 6 standard errors: a false failure has probability ~2e-9.
    assert abs(w.mean() - d.mean()) < 6 * d.std() / math.sqrt(n)
    assert abs(w.std() - d.std()) < 6 * d.std() / math.sqrt(2 * n)
    if hasattr(d, "support"):
        lo, hi = d.support()
        if math.isfinite(lo):  # uniform and truncated: every draw inside (float32 rounding)
            assert w.min() >= lo - 1e-6 * abs(lo) and w.max() <= hi + 1e-6 * abs(hi)
    # Kolmogorov–Smirnov against the exact distribution, α = 1e-3.
    assert stats.kstest(w, d.cdf).pvalue > 1e-3


def test_truncated_normal_std_formula_is_not_corrected():
    a, b = -1.0, 3.0
    phi, z = stats.norm.pdf, stats.norm.cdf(b) - stats.norm.cdf(a)
    s = math.sqrt(1 + (a * phi(a) - b * phi(b)) / z - ((phi(a) - phi(b)) / z) ** 2)
    assert s == pytest.approx(stats.truncnorm(a, b).std(), rel=1e-12)
    w = draw(ii.truncated_normal(SIGMA, lower=a, upper=b), DENSE)
    assert abs(w.std() - SIGMA * s) < 6 * SIGMA * s / math.sqrt(2 * w.size)
    assert stats.truncnorm(-2, 2).std() == pytest.approx(ii.TRUNCATED_STD, rel=1e-15)


@pytest.mark.parametrize("name", ["zeros", "ones", "constant"])
def test_constants(name):
    value = {"zeros": 0.0, "ones": 1.0, "constant": -0.25}[name]
    init = ii.get(name, value=value) if name == "constant" else ii.get(name)
    for shape in (DENSE, CONV, (7,)):
        w = init(KEY, shape)
        assert w.shape == shape and w.dtype == jnp.float32
        np.testing.assert_array_equal(w, np.full(shape, value, np.float32))


@pytest.mark.parametrize("name", ["normal", "uniform", "truncated_normal"])
def test_sigma_zero_gives_exact_zeros(name):
    np.testing.assert_array_equal(ii.get(name, sigma=0.0)(KEY, DENSE), 0.0)


# ---------------------------------------------------------------- agreement with jax


JI = jax.nn.initializers
AGREE = [
    ("vs_trunc_fan_in", ii.variance_scaling(2.0, "fan_in"), JI.variance_scaling(2.0, "fan_in", "truncated_normal")),
    ("vs_trunc_fan_out", ii.variance_scaling(0.5, "fan_out"), JI.variance_scaling(0.5, "fan_out", "truncated_normal")),
    ("vs_trunc_fan_avg", ii.variance_scaling(1.0, "fan_avg"), JI.variance_scaling(1.0, "fan_avg", "truncated_normal")),
    ("vs_trunc_geo", ii.variance_scaling(1.0, "fan_geo_avg"), JI.variance_scaling(1.0, "fan_geo_avg", "truncated_normal")),
    ("vs_trunc_vs_jax_he_normal", ii.variance_scaling(2.0, "fan_in"), JI.he_normal()),
    ("vs_trunc_vs_jax_glorot_normal", ii.variance_scaling(1.0, "fan_avg"), JI.glorot_normal()),
    ("vs_trunc_vs_jax_lecun_normal", ii.variance_scaling(1.0, "fan_in"), JI.lecun_normal()),
    ("he_normal_vs_jax_plain", ii.he_normal(), JI.variance_scaling(2.0, "fan_in", "normal")),
    ("xavier_normal_vs_jax_plain", ii.xavier_normal(), JI.variance_scaling(1.0, "fan_avg", "normal")),
    ("xavier_uniform", ii.xavier_uniform(), JI.glorot_uniform()),
    ("he_uniform", ii.he_uniform(), JI.he_uniform()),
    ("lecun_uniform", ii.lecun_uniform(), JI.lecun_uniform()),
    ("vs_uniform_fan_out", ii.variance_scaling(3.0, "fan_out", "uniform"), JI.variance_scaling(3.0, "fan_out", "uniform")),
    ("orthogonal", ii.orthogonal(2.0), JI.orthogonal(2.0)),
]  # fmt: skip


# Orthogonal only on the conv shape: QR compilations are the slowest part of this file.
AGREE_CASES = [
    pytest.param(ours, theirs, shape, id=f"{name}-{shape_id}")
    for name, ours, theirs in AGREE
    for shape, shape_id in ((DENSE, "dense"), (CONV, "conv"))
    if not (name == "orthogonal" and shape == DENSE)
]


@pytest.mark.parametrize(("ours", "theirs", "shape"), AGREE_CASES)
def test_agrees_with_jax_nn_initializers(ours, theirs, shape):
    k1, k2 = jax.random.split(jax.random.key(1))
    a, b = draw(ours, shape, k1), draw(theirs, shape, k2)
    # Two-sample KS, α = 1e-3; the stds agree within 6 standard errors of their difference,
    # √2 · σ/√(2n) = σ/√n.
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    assert abs(a.std() - b.std()) < 6 * a.std() / math.sqrt(a.size)


def test_plain_he_normal_differs_from_jax_truncated_he_normal():
    """The KS test above has power: ours is plain, JAX's is truncated (same variance)."""
    k1, k2 = jax.random.split(jax.random.key(2))
    a, b = draw(ii.he_normal(), DENSE, k1), draw(JI.he_normal(), DENSE, k2)
    assert abs(a.std() - b.std()) < 6 * a.std() / math.sqrt(a.size)
    assert stats.ks_2samp(a, b).pvalue < 1e-6
    assert abs(b).max() <= 2 * math.sqrt(2 / 400) / ii.TRUNCATED_STD * (1 + 1e-6) < abs(a).max()


# ---------------------------------------------------------------- gains


@pytest.mark.parametrize(
    ("activation", "param", "expected"),
    [
        ("linear", None, 1.0),
        ("identity", None, 1.0),
        ("conv2d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5 / 3),
        ("relu", None, math.sqrt(2)),
        ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
        ("leaky_relu", 0.0, math.sqrt(2)),
        ("selu", None, 0.75),
    ],
)
def test_conventional_gains(activation, param, expected):
    assert ii.gain(activation, param) == pytest.approx(expected, abs=1e-12, rel=0)


def _second_moment_quad(f):
    """E[f(z)²], z ~ N(0, 1), by scipy's adaptive quadrature (split at the kink 0)."""
    g = lambda z: f(z) ** 2 * stats.norm.pdf(z)  # noqa: E731
    return sum(
        integrate.quad(g, lo, hi, epsabs=1e-14, epsrel=1e-13)[0] for lo, hi in [(-40, 0), (0, 40)]
    )


def test_forward_gain_closed_forms():
    assert ii.forward_gain("relu") == pytest.approx(math.sqrt(2), abs=1e-6)
    assert ii.forward_gain("linear") == pytest.approx(1.0, abs=1e-6)
    # E[leaky(z)²] = (1 + a²)/2, so the numeric gain equals the conventional one.
    assert ii.forward_gain("leaky_relu", 0.2) == pytest.approx(ii.gain("leaky_relu", 0.2), abs=1e-9)
    # SELU's constants make N(0, 1) its fixed point: E[selu(z)²] = 1.
    assert ii.forward_gain("selu") == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("activation", "f"),
    [
        ("tanh", math.tanh),
        ("sigmoid", lambda z: 1 / (1 + math.exp(-z))),
        ("gelu", lambda z: z * stats.norm.cdf(z)),
        ("softsign", lambda z: z / (1 + abs(z))),
        ("elu", lambda z: z if z > 0 else math.expm1(z)),
        ("silu", lambda z: z / (1 + math.exp(-z))),
    ],
)
def test_forward_gain_against_scipy_quad(activation, f):
    expected = 1 / math.sqrt(_second_moment_quad(f))
    assert ii.forward_gain(activation) == pytest.approx(expected, rel=1e-9)
    if activation not in ("tanh", "sigmoid"):  # no conventional value: gain is the numeric one
        assert ii.gain(activation) == ii.forward_gain(activation)


def test_gain_of_callable_is_numeric():
    assert ii.gain(lambda x: 3.0 * x) == pytest.approx(1 / 3, rel=1e-12)
    assert ii.gain(jnp.tanh) == pytest.approx(ii.forward_gain("tanh"), rel=1e-12)
    assert ii.forward_gain("tanh") != pytest.approx(ii.gain("tanh"), rel=1e-3)


def test_gain_works_while_tracing():
    out = jax.jit(lambda x: x * ii.gain("gelu"))(jnp.float32(1.0))
    assert float(out) == pytest.approx(ii.gain("gelu"), rel=1e-6)


# ---------------------------------------------------------------- orthogonal


@pytest.mark.parametrize(
    ("shape", "column_axis"),
    [((32, 32), -1), ((64, 32), -1), ((32, 64), -1), (CONV, -1), ((64, 2, 2, 8), 0)],
    ids=["square", "tall", "wide", "conv", "conv_axis0"],
)
def test_orthogonal_gram(shape, column_axis):
    g = 1.3
    w = ii.orthogonal(g, column_axis=column_axis)(KEY, shape)
    assert w.shape == shape
    m = jnp.moveaxis(w, column_axis, -1).reshape(-1, shape[column_axis])
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, g**2 * np.eye(min(rows, cols)), atol=1e-5)
    if rows == cols:
        np.testing.assert_allclose(m @ m.T, g**2 * np.eye(rows), atol=1e-5)


def test_orthogonal_signs_are_not_biased():
    """Without the sign(diag R) correction, diag(Q) of a QR-based draw is biased."""
    q = jax.vmap(lambda k: ii.orthogonal()(k, (4, 4)))(jax.random.split(KEY, 4000))
    diag = np.asarray(jnp.diagonal(q, axis1=1, axis2=2)).ravel()
    # E = 0 for Haar; sd of an entry is 1/2, of the mean 1/(2√16000) ≈ 0.004.
    assert abs(diag.mean()) < 6 * 0.5 / math.sqrt(diag.size)


# ---------------------------------------------------------------- keys, vmap, jit, retracing


def _build(name, scale=None):
    p = ii.scale_param(name)
    return (
        ii.get(name)
        if p is None
        else ii.get(name, **{p: ii.default_scale(name) if scale is None else scale})
    )


ALIASES = {"glorot_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform"}
SCHEMES = [n for n in ii.names() if n not in ALIASES]  # aliases are the same builders


@pytest.mark.parametrize("name", SCHEMES)
def test_same_key_same_array_other_key_other_array(name):
    init = _build(name, 0.7 if name == "constant" else None)
    a, b = init(KEY, CONV), init(KEY, CONV)
    np.testing.assert_array_equal(a, b)
    c = init(jax.random.key(1), CONV)
    if name in ("zeros", "ones", "constant"):
        np.testing.assert_array_equal(a, c)
    else:
        assert not np.array_equal(a, c)


SCALED = [n for n in SCHEMES if ii.scale_param(n) is not None]


@pytest.fixture(scope="module")
def jit_vmapped_grid():
    """Every scaled scheme vmapped over one grid of scales, compiled as ONE jit program
    (compiling is the cost on CPU; one program instead of twelve)."""
    scales = jnp.array([0.0, 0.5, 1.0, 2.0], jnp.float32)
    grid = jax.jit(jax.vmap(lambda s: {n: _build(n, s)(KEY, CONV) for n in SCALED}))(scales)
    return scales, grid


@pytest.mark.parametrize("name", SCALED)
def test_jit_vmap_over_scale_equals_eager_loop(name, jit_vmapped_grid):
    scales, grid = jit_vmapped_grid
    looped = np.stack([_build(name, float(s))(KEY, CONV) for s in scales])
    assert grid[name].shape == (len(scales), *CONV)
    np.testing.assert_allclose(grid[name], looped, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["normal", "he_normal"])
def test_vmapped_builder_traced_once_for_new_grid(name):
    traces = []

    @jax.jit
    def sweep(scales):
        traces.append(1)  # runs only when jit traces
        return jax.vmap(lambda s: _build(name, s)(KEY, (32, 16)))(scales)

    a = sweep(jnp.array([0.01, 0.1, 1.0]))
    b = sweep(jnp.array([0.02, 0.3, 3.0]))
    assert len(traces) == 1
    assert sweep._cache_size() == 1
    assert not np.allclose(a, b)


def test_negative_traced_scale_is_not_checked():
    # A traced value is unknown at build time; the check is the caller's (documented).
    out = jax.vmap(lambda s: ii.normal(s)(KEY, (3, 3)))(jnp.array([-1.0]))
    np.testing.assert_allclose(out[0], -np.asarray(ii.normal(1.0)(KEY, (3, 3))))


def test_flax_drop_in():
    model = nn.Dense(8, kernel_init=ii.he_normal(), bias_init=ii.zeros(), param_dtype=jnp.bfloat16)
    params = model.init(KEY, jnp.ones((1, 4), jnp.bfloat16))["params"]
    assert params["kernel"].shape == (4, 8) and params["kernel"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(params["bias"], 0)
    conv = nn.Conv(6, (3, 3), kernel_init=ii.orthogonal())
    k = conv.init(KEY, jnp.ones((1, 5, 5, 2)))["params"]["kernel"]
    m = k.reshape(-1, 6)  # (18, 6): tall
    np.testing.assert_allclose(m.T @ m, np.eye(6), atol=1e-5)


# ---------------------------------------------------------------- registry


def test_registry_tables():
    assert ii.names() == tuple(sorted(ii.names()))
    assert {"glorot_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform"} <= set(
        ii.names()
    )
    assert ii.glorot_normal is ii.xavier_normal and ii.kaiming_uniform is ii.he_uniform
    assert [ii.scale_param(n) for n in ("constant", "normal", "variance_scaling", "kaiming_normal", "zeros")] == [
        "value", "sigma", "scale", "gain", None,
    ]  # fmt: skip
    assert [ii.default_scale(n) for n in ("truncated_normal", "orthogonal", "constant", "ones")] == [
        0.01, 1.0, 0.0, None,
    ]  # fmt: skip
    for name in ii.names():  # every scheme builds from its defaults and draws
        assert _build(name)(KEY, (4, 3)).shape == (4, 3)


def test_fans_examples():
    assert ii.fans((3, 3, 16, 32)) == (144, 288)
    assert ii.fans((784, 256)) == (784, 256)
    assert ii.fans((32, 16, 3, 3), in_axis=1, out_axis=0) == (144, 288)  # torch layout
    assert ii.fans((5,), in_axis=0, out_axis=0) == (5, 5)
    # Sequences of axes, as jax.nn.initializers accepts: fans multiply over them.
    assert ii.fans((4, 5, 6), in_axis=(0, 1), out_axis=2) == (20, 6)
    assert ii.fans((2, 3, 4, 5), in_axis=(-2,), out_axis=[0, 1]) == (4 * 5, 6 * 5)
    with pytest.raises(ValueError, match="same axis"):
        ii.fans((4, 5, 6), in_axis=(0, 1), out_axis=(1, 2))


def test_sequence_axes_give_jax_variance():
    shape, axes = (8, 16, 64), {"in_axis": (0, 1), "out_axis": 2}  # fan_in = 128 by hand
    ours = np.asarray(ii.variance_scaling(1.0, "fan_in", "uniform", **axes)(KEY, shape))
    theirs = jax.nn.initializers.variance_scaling(1.0, "fan_in", "uniform", **axes)(KEY, shape)
    # same draws; atol: an fp32 ulp at the draws' scale (|w| < 0.16), as compilers may round
    # the scaling differently (the suite compiles with JAX_DISABLE_MOST_OPTIMIZATIONS)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=2e-8)
    assert abs(ours.var() * 128 - 1) < 0.05


def test_zeros_and_ones_are_initializers_like_jaxs():
    for ours, theirs in (
        (ii.zeros, jax.nn.initializers.zeros),
        (ii.ones, jax.nn.initializers.ones),
    ):
        for dtype in (jnp.float32, jnp.bfloat16):
            got, want = ours(KEY, (2, 3), dtype), theirs(KEY, (2, 3), dtype)
            chex.assert_equal_shape([got, want])
            chex.assert_trees_all_equal_dtypes(got, want)
            chex.assert_trees_all_equal(got, want)
        assert ours() is ours and ii.get(ours.__name__) is ours  # the builder form
    dense = nn.Dense(3, bias_init=ii.zeros, kernel_init=ii.ones)
    params = dense.init(KEY, jnp.ones((1, 2)))["params"]
    np.testing.assert_array_equal(params["bias"], 0.0)
    np.testing.assert_array_equal(params["kernel"], 1.0)
    with pytest.raises(TypeError, match="shape is missing"):
        ii.zeros(KEY)


def test_uniform_is_not_jaxs_uniform():
    # ours: zero mean, std σ; jax's uniform(scale): U[0, scale), std scale/√12
    w = np.asarray(ii.uniform(0.1)(KEY, (400, 300)))
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.1) < 1e-3
    v = np.asarray(jax.nn.initializers.uniform(0.1)(KEY, (400, 300)))
    assert v.min() >= 0 and abs(v.std() - 0.1 / math.sqrt(12)) < 1e-3


@pytest.mark.parametrize(
    "module",
    ["init", "initializer", "fan_schemes", "fixed_schemes", "gains", "activations", "errors"],
)
def test_docstring_examples_run(module):
    import importlib

    mod = importlib.import_module(f"initjax.{module}")
    result = doctest.testmod(mod, extraglobs={"jax": jax, "jnp": jnp})
    assert result.attempted >= 1 and result.failed == 0


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: ii.get("he_normall"), ValueError, r"unknown init scheme 'he_normall'.*he_normal"),
        (lambda: ii.scale_param("nope"), ValueError, r"valid choices: .*orthogonal"),
        (lambda: ii.variance_scaling(1.0, mode="fan_sum"), ValueError, r"unknown mode 'fan_sum'.*fan_geo_avg"),
        (lambda: ii.variance_scaling(1.0, distribution="cauchy"), ValueError, r"unknown distribution 'cauchy'.*uniform"),
        (lambda: ii.he_normal()(KEY, (5,)), ValueError, r"rank >= 2.*in_axis/out_axis"),
        (lambda: ii.fans(()), ValueError, r"rank >= 2"),
        (lambda: ii.fans((3, 4), in_axis=2), ValueError, r"in_axis=2 is out of range.*-2\.\.1"),
        (lambda: ii.fans((3, 4), in_axis=0, out_axis=-2), ValueError, r"same axis"),
        (lambda: ii.orthogonal()(KEY, (5,)), ValueError, r"rank >= 2"),
        (lambda: ii.orthogonal(column_axis=3)(KEY, (5, 4)), ValueError, r"column_axis=3"),
        (lambda: ii.normal(-0.1), ValueError, r"sigma must be finite and >= 0, got sigma=-0.1"),
        (lambda: ii.uniform(float("nan")), ValueError, r"sigma.*nan"),
        (lambda: ii.truncated_normal(float("inf")), ValueError, r"sigma.*inf"),
        (lambda: ii.he_uniform(gain=-1.0), ValueError, r"gain must be .*gain=-1.0"),
        (lambda: ii.orthogonal(gain=jnp.float32(-2.0)), ValueError, r"gain=-2.0"),
        (lambda: ii.variance_scaling(-2.0), ValueError, r"scale=-2.0"),
        (lambda: ii.constant(float("inf")), ValueError, r"value must be finite"),
        (lambda: ii.normal(jnp.ones(3)), ValueError, r"sigma must be a scalar"),
        (lambda: ii.normal("0.1x"), TypeError, r"sigma must be a real number"),
        (lambda: ii.truncated_normal(lower=1.0, upper=-1.0), ValueError, r"lower < upper"),
        (lambda: ii.normal()(KEY, (2, 2), jnp.int32), TypeError, r"int32.*floating dtype"),
        (lambda: ii.zeros()(KEY, (2, 2), jnp.bool_), TypeError, r"bool.*floating dtype"),
        (lambda: ii.gain("relux"), ValueError, r"unknown activation 'relux'.*leaky_relu.*tanh"),
        (lambda: ii.gain("tanh", 0.2), ValueError, r"param is only used with activation='leaky_relu'"),
        (lambda: ii.forward_gain(lambda x: 0.0 * x), ValueError, r"no finite gain"),
    ],
)  # fmt: skip
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", ii.names())
@pytest.mark.parametrize("dtype", [jnp.int8, jnp.uint32, jnp.bool_])
def test_every_scheme_rejects_non_float_dtype(name, dtype):
    with pytest.raises(TypeError, match="floating dtype"):
        _build(name)(KEY, (3, 2), dtype)


def test_constant_accepts_negative_value():
    assert float(ii.constant(-1.0)(KEY, (1,))[0]) == -1.0


# ---------------------------------------------------------------- dtypes and properties


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name", SCHEMES)
def test_every_scheme_every_float_dtype(name, dtype):
    w = _build(name, 0.5 if name == "constant" else None)(KEY, CONV, dtype)
    assert w.shape == CONV and w.dtype == dtype
    w32 = np.asarray(w, np.float32)
    assert np.all(np.isfinite(w32))
    if name not in ("zeros", "constant"):  # rounding to dtype, nothing else, changes the values
        ref = np.asarray(_build(name)(KEY, CONV), np.float32)
        # Round-to-nearest: relative error <= eps/2, or below `tiny` among subnormals.
        info = jnp.finfo(dtype)
        np.testing.assert_allclose(w32, ref, rtol=float(info.eps), atol=float(info.tiny))


@st.composite
def shape_and_axes(draw_):
    shape = tuple(draw_(st.lists(st.integers(1, 4), min_size=2, max_size=4)))
    rank = len(shape)
    i, o = draw_(st.lists(st.integers(0, rank - 1), min_size=2, max_size=2, unique=True))
    neg = draw_(st.booleans())
    return shape, (i - rank if neg else i), (o - rank if neg else o)


@given(shape_and_axes())
@settings(max_examples=200, deadline=None)
def test_fans_property(case):
    shape, in_axis, out_axis = case
    fan_in, fan_out = ii.fans(shape, in_axis, out_axis)
    rf = math.prod(shape) // (shape[in_axis] * shape[out_axis])
    assert (fan_in, fan_out) == (shape[in_axis] * rf, shape[out_axis] * rf)
    assert fan_in * fan_out == math.prod(shape) * rf


# Schemes that take in_axis/out_axis (orthogonal and delta_orthogonal read the layout from the
# shape and take no axes arguments).
FAN_SCHEMES = {n for n in ii.names() if "in_axis" in inspect.signature(ii.builder(n)).parameters}


@given(
    name=st.sampled_from(ii.names()),
    case=shape_and_axes(),
    dtype=st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16]),
)
@example(name="delta_orthogonal", case=((1, 2, 1), 0, 1), dtype=jnp.float32)  # found in CI
@settings(max_examples=12, deadline=None)  # each new shape compiles; dtypes are covered above
def test_scheme_shape_and_dtype_property(name, case, dtype):
    shape, in_axis, out_axis = case
    p = ii.scale_param(name)
    kwargs = {} if p is None else {p: ii.default_scale(name)}
    if name in FAN_SCHEMES:
        kwargs |= {"in_axis": in_axis, "out_axis": out_axis}
    if name == "delta_orthogonal" and len(shape) > 2 and shape[-1] < shape[-2]:
        # A conv kernel with fewer out than in channels has no isometric centre: refused.
        with pytest.raises(ValueError, match="out channels >= in channels"):
            ii.get(name, **kwargs)(KEY, shape, dtype)
        return
    w = ii.get(name, **kwargs)(KEY, shape, dtype)
    assert w.shape == shape and w.dtype == dtype
    assert bool(jnp.all(jnp.isfinite(w)))
