"""orthogonal_lsuv: Saxe 2013, Pennington 2017 and LSUV (Mishkin & Matas 2015) at quick scale."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from initjax import diagnostics, models, results, study

exp = study.load("orthogonal_lsuv")


@pytest.fixture(scope="module")
def ortho(quick_runs):
    rows = quick_runs("orthogonal_lsuv")
    return rows, quick_runs.root / "orthogonal_lsuv"


def row(rows, words):
    (match,) = [r for r in rows if words in r.claim]
    return match


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
def test_jacobians_match_autodiff_of_the_mlp(activation):
    # z^L of an MLP with L − 1 hidden layers of width N and an N-wide linear output layer.
    n, depth, k = 16, 3, 2
    model = models.MLP((n,) * (depth - 1), num_classes=n, activation=activation)
    x = jax.random.normal(jax.random.key(0), (k, n))
    params = model.init(jax.random.key(1), x)["params"]
    w = jnp.stack([params[name]["kernel"] for name in models.layer_names(model)])
    m1, m2, sv = exp.jacobians(w, x, activation, (depth,))
    expected = diagnostics.io_jacobian_sv(model, {"params": params}, x)
    np.testing.assert_allclose(sv[0], expected, rtol=1e-4, atol=1e-5)
    lam = np.asarray(expected, np.float64) ** 2
    np.testing.assert_allclose(m1[-1], lam.mean(axis=1), rtol=1e-4)
    np.testing.assert_allclose(m2[-1], (lam**2).mean(axis=1), rtol=1e-4)


def test_v_d_against_scipy_quadrature():
    def moment(q, power):
        f = lambda z: (1 - np.tanh(math.sqrt(q) * z) ** 2) ** power * stats.norm.pdf(z)  # noqa: E731
        return integrate.quad(f, -np.inf, np.inf)[0]

    for q in (0.01, 0.5, 1.0, 3.0):
        expected = moment(q, 4) / moment(q, 2) ** 2 - 1
        np.testing.assert_allclose(exp.v_d("tanh", np.asarray(q)), expected, rtol=1e-6)
    np.testing.assert_array_equal(exp.v_d("relu", np.ones(3)), 1.0)


def test_orthogonal_weights_of_every_draw_are_orthogonal():
    w = exp._weights(jax.random.key(0), "orthogonal", (2, 3, 8, 8))
    eye = np.broadcast_to(np.eye(8), (2, 3, 8, 8))
    np.testing.assert_allclose(np.swapaxes(w, -1, -2) @ w, eye, atol=1e-5)
    assert not np.allclose(w[0, 0], w[0, 1]) and not np.allclose(w[0, 0], w[1, 0])


def test_saxe_learning_time(ortho):
    rows, out = ortho
    assert row(rows, "orthogonal deep linear").passed is True
    assert row(rows, "scaled-Gaussian deep linear").passed is True
    t = exp.learning_time(results.load(out / "linear.nc"))
    shallow = t.isel(depth=0)
    # At depth 1 the two inits learn equally fast; at depth 16 only orthogonal learns in time.
    assert float(abs(shallow.sel(scheme="orthogonal") - shallow.sel(scheme="gaussian")).max()) <= 1
    assert bool(np.isfinite(t.sel(scheme="orthogonal")).all())
    assert bool(np.isnan(t.sel(scheme="gaussian").isel(depth=-1)).all())


def test_jacobian_spectra_follow_free_probability(ortho):
    rows, out = ortho
    for words in ("tanh reaches dynamical isometry", "ReLU nets cannot", "Free-probability"):
        assert row(rows, words).passed is True
    spec = results.load(out / "spectra.nc")
    one = spec.spread.sel(depth=1)  # J = (W^1)ᵀ: one orthogonal matrix is an exact isometry
    assert float(one.sel(scheme="orthogonal").max()) < 1e-4
    # One square Gaussian matrix: Marchenko–Pastur with ratio 1 has Var(λ)/E[λ]² = 1.
    np.testing.assert_allclose(one.sel(scheme="gaussian").mean(), 1.0, atol=0.15)
    np.testing.assert_allclose(spec.spread_theory.sel(activation="relu", scheme="orthogonal"),
                               spec.depth - 1)  # fmt: skip


def test_lsuv_reaches_unit_variance_and_he_gain(ortho):
    rows, out = ortho
    for words in ("LSUV: every layer", "shrinks by 1/√2", "rediscovers He"):
        assert row(rows, words).passed is True
    lsv = results.load(out / "lsuv.nc")
    fit = lsv.output_std.sel(init="lsuv", batch="fit")
    assert float(abs(fit - 1).max()) <= exp.LSUV_TOL
    assert int(lsv.iterations.max()) <= 10
    # Plain orthogonal gain 1: the logits end up ~2^(-depth/2) smaller than the first layer.
    orth = lsv.output_std.sel(init="orthogonal", batch="fit").mean("seed")
    ratio = float(orth.isel(layer=-2) / orth.isel(layer=0))
    assert abs(math.log2(ratio) + (lsv.attrs["depth"] - 1) / 2) < 0.5


def test_figures_exist(ortho):
    _, out = ortho
    assert (out / "orthogonal_lsuv.png").stat().st_size > 10_000
    assert (out / "orthogonal_lsuv.svg").exists()
