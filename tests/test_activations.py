"""One table of activations: its facts (gain, oddness, slope) hold numerically, and every user
(init.gain, models, theory) reads the same function."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from initjax import activations, errors, init, models, theory

U = jnp.linspace(-4.0, 4.0, 81)


@pytest.mark.parametrize("name", activations.names())
def test_declared_oddness_and_slope_hold(name):
    act = activations.get(name)
    y, y_neg = np.asarray(act(U)), np.asarray(act(-U))
    if act.odd:
        np.testing.assert_allclose(y_neg, -y, atol=1e-6)
    if act.slope is not None:
        expected = np.maximum(U, 0) + act.slope * np.minimum(U, 0)
        np.testing.assert_allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["linear", "relu", "leaky_relu", "tanh"])
def test_every_module_reads_the_same_function(name):
    fn = activations.get(name).fn
    assert models.activation(name) is fn
    x = jnp.linspace(-2.0, 2.0, 5)
    np.testing.assert_array_equal(models.activation(name)(x), fn(x))
    assert init.gain(name) == activations.get(name).gain


def test_leaky_slope_is_written_once():
    a = activations.LEAKY_SLOPE
    assert activations.get("leaky_relu").slope == a == 0.01
    assert init.gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + a**2)), rel=1e-15)
    assert init.gain("leaky_relu", param=0.2) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-15)
    # Mean field: χ₁ = σ_w²(1 + a²)/2 for a leaky ReLU, whatever q is.
    chi = float(theory.chi1(1.0, 0.0, "leaky_relu"))
    assert chi == pytest.approx((1 + a**2) / 2, rel=1e-6)


def test_conventional_gains_are_torchs():
    expected = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75}
    for name, g in expected.items():
        assert activations.get(name).gain == g
    assert activations.get("conv2d") is activations.get("linear")  # torch's layer names
    assert activations.get("gelu").gain is None  # none is conventional: init.gain computes it


def test_unknown_name_lists_valid_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'swishy'; valid choices: .*relu"):
        activations.get("swishy")
    assert str(errors.unknown("scale", "big", ["quick", "full"])) == (
        "unknown scale 'big'; valid choices: quick, full"
    )
