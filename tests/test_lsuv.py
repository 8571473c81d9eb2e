"""initjax.lsuv: Mishkin & Matas (2015) on deep ReLU nets, stds checked independently."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from initjax import init, models
from initjax.lsuv import lsuv, lsuv_traced

X = jax.random.normal(jax.random.key(0), (256, 32))


def output_stds(model, params, x):
    """Pooled std of every Dense output (pre-activations, then logits), from models.forward."""
    logits, preacts, _ = models.forward(model, {"params": params}, x)
    return np.array([float(jnp.std(z)) for z in [*preacts, logits]])


def deep_relu(depth=10, width=64, sigma=0.01):
    model = models.MLP(hidden=(width,) * depth, activation="relu", kernel_init=init.normal(sigma))
    return model, model.init(jax.random.key(1), X)["params"]


def test_ten_layer_relu_mlp_reaches_unit_std_in_every_layer():
    model, params = deep_relu()
    # Before: N(0, 0.01²) weights shrink the signal by ~0.057 per layer.
    assert output_stds(model, params, X)[-1] < 1e-10
    kernel_before = params["hidden_0"]["kernel"]
    new, report = lsuv(model, params, X, key=jax.random.key(2))
    stds = output_stds(model, new, X)
    assert stds.shape == (11,) and np.all((stds >= 0.9) & (stds <= 1.1)), stds
    np.testing.assert_allclose(report.stds, stds, rtol=1e-5)
    assert report.converged == (True,) * 11 and report.orthonormal
    # zero bias: std(z) is proportional to the kernel's scale, so one rescaling is exact
    assert report.iterations == (1,) * 11
    np.testing.assert_allclose(stds, 1.0, atol=1e-4)
    for name in report.layers:
        w = np.asarray(new[name]["kernel"])
        gram = w @ w.T if w.shape[0] < w.shape[1] else w.T @ w
        c = gram[0, 0]  # an orthonormal kernel times one scale: gram = c·I
        np.testing.assert_allclose(gram, c * np.eye(len(gram)), atol=1e-4 * c)
        np.testing.assert_array_equal(new[name]["bias"], params[name]["bias"])
    assert params["hidden_0"]["kernel"] is kernel_before  # the caller's tree is not modified


def test_without_a_key_the_given_kernels_are_only_rescaled():
    model, params = deep_relu(depth=3, sigma=0.5)
    new, report = lsuv(model, params, X)
    assert not report.orthonormal
    for name in report.layers:
        ratio = np.asarray(new[name]["kernel"]) / np.asarray(params[name]["kernel"])
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)
    assert np.all(np.abs(output_stds(model, new, X) - 1) <= 0.1)


def test_nonzero_bias_takes_several_rescalings_and_still_converges():
    model = models.MLP(hidden=(64, 64), activation="tanh", bias_init=init.normal(0.5))
    params = model.init(jax.random.key(1), X)["params"]
    new, report = lsuv(model, params, X, tol=0.01, key=jax.random.key(3))
    assert max(report.iterations) > 1 and all(report.converged)
    assert np.all(np.abs(output_stds(model, new, X) - 1) <= 0.01)


def test_unreachable_targets_warn_and_stop():
    model, params = deep_relu(depth=2)
    # All-zero input: every Dense output is its (zero) bias, std 0 whatever the kernel.
    with pytest.warns(UserWarning, match=r"hidden_0: output std 0, its input is constant"):
        _, report = lsuv(model, params, jnp.zeros_like(X), key=jax.random.key(2))
    assert report.iterations == (0, 0, 0) and report.converged == (False,) * 3
    # A bias whose spread across units (std 3) exceeds the target: pooled std >= 3 > 1.1.
    params = {k: dict(v) for k, v in params.items()}
    params["hidden_1"]["bias"] = 3.0 * jax.random.normal(jax.random.key(4), (64,))
    with pytest.warns(UserWarning, match=r"hidden_1: .* after 4 rescalings \(max_iter=4\)"):
        _, report = lsuv(model, params, X, max_iter=4, key=jax.random.key(2))
    assert report.iterations == (1, 4, 1)
    assert report.converged == (True, False, True) and report.stds[1] > 2.5


def test_softmax_regression_scales_its_only_layer():
    model = models.SoftmaxRegression(num_classes=10)
    params = model.init(jax.random.key(1), X)["params"]
    new, report = lsuv(model, params, X, key=jax.random.key(2))
    logits = model.apply({"params": new}, X)
    assert report.layers == ("output",) and abs(float(jnp.std(logits)) - 1) <= 0.1


def test_bad_arguments_are_rejected():
    model, params = deep_relu(depth=1)
    for kwargs in ({"target_std": 0.0}, {"tol": -1.0}, {"max_iter": -1}, {"max_iter": 2.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            lsuv(model, params, X, **kwargs)


# ------------------------------------------------------------------ lsuv_traced: in the program


def test_traced_lsuv_equals_the_eager_one_under_jit_and_vmap():
    # Nonzero biases: layers need several rescalings, with data-dependent stopping.
    model = models.MLP(hidden=(64,) * 6, activation="tanh", kernel_init=init.normal(0.3),
                       bias_init=init.normal(0.3))  # fmt: skip
    keys = jax.random.split(jax.random.key(3), 3)
    batch = jax.vmap(lambda k: model.init(k, X)["params"])(keys)
    traced = jax.jit(jax.vmap(lambda p: lsuv_traced(model, p, X, tol=0.01)))(batch)
    for i in range(3):
        one = jax.tree.map(lambda a, i=i: a[i], batch)
        eager, report = lsuv(model, one, X, tol=0.01)
        assert max(report.iterations) >= 2  # the loop really runs more than once somewhere
        got = jax.tree.map(lambda a, i=i: a[i], traced)
        for name in models.layer_names(model):
            np.testing.assert_allclose(got[name]["kernel"], eager[name]["kernel"], rtol=2e-5)
            np.testing.assert_array_equal(got[name]["bias"], one[name]["bias"])
        assert np.all(np.abs(output_stds(model, got, X) - 1) <= 0.01 + 1e-6)


def test_traced_lsuv_leaves_a_constant_layer_and_stops_at_max_iter():
    model = models.MLP(hidden=(8,), activation="relu", kernel_init=init.zeros())
    params = model.init(jax.random.key(0), X)["params"]
    out = lsuv_traced(model, params, X)  # std 0 everywhere: nothing to rescale, no NaN
    assert all(np.all(out[n]["kernel"] == 0) for n in models.layer_names(model))
    model, params = deep_relu(depth=3)
    once = lsuv_traced(model, params, X, max_iter=0)  # zero rescalings allowed: unchanged
    np.testing.assert_array_equal(once["hidden_0"]["kernel"], params["hidden_0"]["kernel"])


def test_a_sweep_with_lsuv_examples_starts_every_run_at_unit_std(mnist1d_data):
    from initjax import train

    cfg = train.Config(model="mlp", hidden=(32,) * 8, activation="relu", scheme="normal",
                       dataset="mnist1d", epochs=0, lsuv_examples=128)  # fmt: skip
    x = jnp.asarray(mnist1d_data.x_train)
    m = train.build_model(cfg)
    for seed, sigma in ((0, 0.01), (1, 1.0)):  # LSUV undoes the scheme's scale
        p = train.init_params(cfg, jnp.int32(seed), jnp.float32(sigma), x)
        assert np.all(np.abs(output_stds(m, p, x[:128]) - 1) <= 0.1)
    # The engine's own init of the same cell is that one.
    state = train.init_state(
        cfg, train.DataArrays.from_dataset(mnist1d_data), jnp.int32(1), 1.0, 0.1
    )
    np.testing.assert_array_equal(state.params["output"]["kernel"], p["output"]["kernel"])
    with pytest.raises(ValueError, match="lsuv_examples=8 needs model='mlp' without batch_norm"):
        train.Config(model="mlp", batch_norm=True, lsuv_examples=8)
    with pytest.raises(ValueError, match="lsuv_examples must be a non-negative integer"):
        train.Config(model="mlp", lsuv_examples=-1)
    with pytest.raises(ValueError, match="only 4 inputs"):
        train.init_params(cfg, jnp.int32(0), jnp.float32(1.0), x[:4])
