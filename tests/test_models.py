import jax
import jax.numpy as jnp
import numpy as np
import pytest

import initjax as ij
from initjax import models


def test_mlp_784_256_10_has_203530_parameters():
    model = models.MLP(hidden=(256,), num_classes=10)
    params = model.init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    # 784*256 + 256 + 256*10 + 10
    assert models.param_count(params) == 203_530


def test_softmax_regression_has_7850_parameters_and_d2l_init():
    model = models.SoftmaxRegression(10)
    params = model.init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    assert models.param_count(params) == 7_850
    w = np.asarray(params["output"]["kernel"])
    assert w.shape == (784, 10)
    assert abs(w.std() - 0.01) < 0.0005  # N(0, 0.01²), 7840 draws: se of std ≈ 8e-5
    np.testing.assert_array_equal(np.asarray(params["output"]["bias"]), 0.0)


@pytest.mark.parametrize("name", models.activation_names())
def test_forward_returns_preactivations_and_activations(name):
    model = models.MLP(hidden=(5, 4), num_classes=3, activation=name)
    x = jax.random.normal(jax.random.key(1), (7, 6))
    variables = model.init(jax.random.key(0), x)
    logits, preacts, acts = models.forward(model, variables, x)
    assert logits.shape == (7, 3)
    assert [p.shape for p in preacts] == [(7, 5), (7, 4)]
    phi = models.activation(name)
    for z, a in zip(preacts, acts, strict=True):
        np.testing.assert_allclose(a, phi(z), rtol=1e-6)
    # The first pre-activation is x W + b, computed by hand.
    k = variables["params"]["hidden_0"]["kernel"]
    b = variables["params"]["hidden_0"]["bias"]
    np.testing.assert_allclose(preacts[0], x @ k + b[None, :], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, model.apply(variables, x), rtol=1e-6)


def test_batchnorm_mlp_normalizes_hidden_layer_in_training():
    model = models.MLP(hidden=(8,), num_classes=2, activation="linear", batch_norm=True)
    x = 3.0 + 5.0 * jax.random.normal(jax.random.key(1), (64, 4))
    variables = model.init(jax.random.key(0), x)
    assert set(variables) == {"params", "batch_stats"}
    _, preacts, acts = models.forward(model, variables, x, train=True)
    # Linear activation: act = BN(preact) = (z - mean) / sqrt(var + eps) (scale 1, bias 0).
    z = np.asarray(preacts[0])
    expected = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)
    np.testing.assert_allclose(acts[0], expected, rtol=1e-4, atol=1e-4)


def test_unknown_activation_names_valid_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'swishy'.*relu"):
        models.activation("swishy")


def test_models_take_initjax_schemes():
    model = models.MLP(hidden=(3,), num_classes=2, kernel_init=ij.init.constant(0.5))
    params = model.init(jax.random.key(0), jnp.zeros((1, 4)))["params"]
    np.testing.assert_array_equal(params["hidden_0"]["kernel"], 0.5)
    assert models.layer_names(model) == ("hidden_0", "output")


def test_forward_of_softmax_regression_has_no_hidden_layers():
    model = models.SoftmaxRegression(3)
    x = jnp.ones((2, 4))
    variables = model.init(jax.random.key(0), x)
    logits, preacts, acts = models.forward(model, variables, x)
    assert logits.shape == (2, 3) and preacts == [] and acts == []
