"""Jacobian spectra: deep_jacobians against autodiff of the same MLP; the spread."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from initjax import models, spectra


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
def test_deep_jacobians_match_autodiff_of_the_mlp(activation):
    # z^L of an MLP with L − 1 hidden layers of width N and an N-wide linear output layer.
    n, depth, k = 16, 3, 2
    model = models.MLP((n,) * (depth - 1), num_classes=n, activation=activation)
    x = jax.random.normal(jax.random.key(0), (k, n))
    params = model.init(jax.random.key(1), x)["params"]
    w = jnp.stack([params[name]["kernel"] for name in models.layer_names(model)])
    m1, m2, sv = spectra.deep_jacobians(w, x, activation, (depth,))
    chex.assert_shape([m1, m2], (depth, k))
    chex.assert_shape(sv, (1, k, n))
    chex.assert_type([m1, m2, sv], float)
    expected = spectra.io_jacobian_sv(model, {"params": params}, x)
    np.testing.assert_allclose(sv[0], expected, rtol=1e-4, atol=1e-5)
    lam = np.asarray(expected, np.float64) ** 2
    np.testing.assert_allclose(m1[-1], lam.mean(axis=1), rtol=1e-4)
    np.testing.assert_allclose(m2[-1], (lam**2).mean(axis=1), rtol=1e-4)


def test_spread_of_a_known_spectrum():
    # λ = s² ∈ {1, 3} equally often: Var(λ)/E[λ]² = 1/4.
    m1, m2 = np.array([2.0, 2.0]), np.array([5.0, 5.0])
    assert float(spectra.spread(m1, m2)) == pytest.approx(0.25)
    w = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (1, 8, 8)))[0]
    m1, m2, _ = spectra.deep_jacobians(w, jnp.ones((2, 8)), "linear", (1,))
    assert float(spectra.spread(np.asarray(m1[0]), np.asarray(m2[0]))) < 1e-5  # orthogonal
