"""initjax.diagnostics against numpy hand computations on tiny nets with weights set by hand."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from initjax import diagnostics as dg
from initjax import init, models, sweep, train
from initjax.data import Dataset

# A 2-3-2 net: x (4, 2), W1 (2, 3), W2 (3, 2). Example 2 saturates one tanh unit and is
# near one-hot at the output.
X = np.array([[1.0, -0.5], [0.2, 0.3], [2.0, 1.5], [-1.0, 0.4]])
Y = np.array([0, 1, 0, 1])
W1 = np.array([[0.5, 2.0, 1.0], [-0.25, 1.5, -0.5]])
B1 = np.array([0.1, -0.2, 0.0])
W2 = np.array([[2.0, -1.0], [3.0, -2.5], [0.5, 1.0]])
B2 = np.array([0.3, -0.1])


def params(w1=W1, b1=B1, w2=W2, b2=B2):
    f = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return {
        "hidden_0": {"kernel": f(w1), "bias": f(b1)},
        "output": {"kernel": f(w2), "bias": f(b2)},
    }


def mlp(activation="tanh", hidden=(3,), classes=2, **kw):
    return models.MLP(hidden=hidden, num_classes=classes, activation=activation, **kw)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference(phi, dphi):
    """Forward pass, loss and backprop of the 2-3-2 net in float64 numpy."""
    z = X @ W1 + B1
    h = phi(z)
    logits = h @ W2 + B2
    p = softmax(logits)
    onehot = np.eye(2)[Y]
    loss = -np.mean(np.log(p[np.arange(4), Y]))
    d_logits = (p - onehot) / 4
    d_z = (d_logits @ W2.T) * dphi(z)
    return {
        "z": z,
        "h": h,
        "logits": logits,
        "p": p,
        "loss": loss,
        "d_logits": d_logits,
        "d_z": d_z,
        "g_w1": X.T @ d_z,
        "g_w2": h.T @ d_logits,
        "dphi": dphi(z),
    }


def run(fn, model, *args, **kwargs):
    """``fn(model, *args, **kwargs)`` under jit, as diagnostics are meant to run (and faster)."""
    return jax.jit(lambda *a: fn(model, *a, **kwargs))(*args)


@functools.cache
def tiny_summary():
    """Every diagnostic of the 2-3-2 tanh net on X, computed once (jitted) for several tests."""
    return run(dg.summary, mlp(), {"params": params()}, jnp.asarray(X, jnp.float32), jnp.asarray(Y))


TANH = (np.tanh, lambda z: 1 - np.tanh(z) ** 2)
CLOSE = dict(rtol=2e-5, atol=1e-6)


def test_forward_statistics_match_numpy():
    r = reference(*TANH)
    s = tiny_summary()
    z, h = r["z"].ravel(), r["h"].ravel()
    np.testing.assert_allclose(s["preact_mean"], [z.mean()], **CLOSE)
    np.testing.assert_allclose(s["preact_std"], [z.std()], **CLOSE)
    np.testing.assert_allclose(s["preact_skewness"], [scipy.stats.skew(z)], **CLOSE)
    np.testing.assert_allclose(s["preact_kurtosis"], [scipy.stats.kurtosis(z)], **CLOSE)
    ks = scipy.stats.kstest(z, "norm", args=(z.mean(), z.std())).statistic
    np.testing.assert_allclose(s["preact_ks"], [ks], **CLOSE)
    np.testing.assert_allclose(s["act_mean"], [h.mean()], **CLOSE)
    np.testing.assert_allclose(s["act_std"], [h.std()], **CLOSE)
    # |tanh| > 0.99 needs |z| > 2.647: only z = 2·2 + 1.5·1.5 − 0.2 = 6.05 (1 of 12 values).
    np.testing.assert_allclose(r["z"][2, 1], 6.05)
    assert np.sum(np.abs(h) > 0.99) == 1
    np.testing.assert_allclose(s["saturation"], [1 / 12])
    # max probabilities 0.9978, 0.9800, 0.9993, 0.9965: three above 0.99
    np.testing.assert_allclose(r["p"].max(axis=1), [0.99784, 0.98001, 0.99935, 0.99646], atol=1e-5)
    np.testing.assert_allclose(s["softmax_saturation"], 0.75)
    np.testing.assert_allclose(s["loss"], r["loss"], **CLOSE)
    np.testing.assert_allclose(s["log_num_classes"], math.log(2), **CLOSE)


def test_gradients_match_hand_backprop():
    r = reference(*TANH)
    s = tiny_summary()
    np.testing.assert_allclose(
        s["grad_norm"], [np.linalg.norm(r["g_w1"]), np.linalg.norm(r["g_w2"])], **CLOSE
    )
    np.testing.assert_allclose(
        s["preact_grad_norm"], [np.linalg.norm(r["d_z"]), np.linalg.norm(r["d_logits"])], **CLOSE
    )


def test_weight_statistics_match_numpy():
    s = run(dg.weight_stats, mlp(), {"params": params()})
    np.testing.assert_allclose(s["weight_std"], [W1.std(), W2.std()], **CLOSE)

    def brute(w):
        pairs = itertools.product(range(w.shape[1]), repeat=2)
        return max(np.linalg.norm(w[:, i] - w[:, j]) for i, j in pairs)

    np.testing.assert_allclose(s["symmetry_distance"], [brute(W1), brute(W2)], **CLOSE)
    np.testing.assert_array_equal(s["weight_rank"], [2.0, 2.0])


def test_rank_detects_a_dependent_column():
    w = np.array([[1.0, 2.0, 0.5], [2.0, 4.0, 1.0], [0.0, 0.0, 0.0]])  # rank 1
    assert int(dg.numerical_rank(jnp.asarray(w, jnp.float32))) == np.linalg.matrix_rank(w) == 1
    w3 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0], [0.0, 0.0, 0.0]])  # rank 2
    assert int(dg.numerical_rank(jnp.asarray(w3, jnp.float32))) == 2


def test_jacobians_match_numpy_svd():
    r = reference(*TANH)
    v, x = {"params": params()}, jnp.asarray(X, jnp.float32)
    # layer 1: J_b = diag(φ'(z_b)) W1ᵀ (3 x 2); output: W2ᵀ; input-output: W2ᵀ diag(φ') W1ᵀ.
    j1 = [np.diag(r["dphi"][b]) @ W1.T for b in range(4)]
    sv1 = np.mean([np.linalg.svd(j, compute_uv=False).mean() for j in j1])
    sv2 = np.linalg.svd(W2.T, compute_uv=False).mean()
    np.testing.assert_allclose(run(dg.layer_jacobian_sv, mlp(), v, x), [sv1, sv2], **CLOSE)
    io = np.stack([np.linalg.svd(W2.T @ j, compute_uv=False) for j in j1[:3]])
    np.testing.assert_allclose(run(dg.io_jacobian_sv, mlp(), v, x, num_examples=3), io, **CLOSE)


def test_relu_dead_units_and_sigmoid_saturation():
    # ReLU: unit 0 is dead on this batch (z < 0 everywhere), units 1 and 2 are not.
    w1 = np.array([[-1.0, 1.0, 0.2], [-1.0, -1.0, 0.1]])
    x = np.array([[1.0, 1.0], [2.0, 0.5], [0.5, 3.0]])
    v = {"params": params(w1=w1, b1=np.zeros(3))}
    s = run(dg.forward_stats, mlp("relu"), v, jnp.asarray(x, jnp.float32), jnp.zeros(3, jnp.int32))
    z = x @ w1
    assert (z[:, 0] < 0).all() and (z[:, 1] > 0).any() and (z[:, 2] > 0).any()
    np.testing.assert_allclose(s["saturation"], [1 / 3])
    np.testing.assert_allclose(s["act_mean"], [np.maximum(z, 0).mean()], **CLOSE)
    # Sigmoid: saturated when < 0.01 (z < -4.595) or > 0.99 (z > 4.595).
    w1 = np.array([[5.0, -6.0, 1.0], [0.0, 0.0, 0.0]])
    x = np.array([[1.0, 0.0], [0.5, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    v = {"params": params(w1=w1, b1=np.zeros(3))}
    s = run(
        dg.forward_stats, mlp("sigmoid"), v, jnp.asarray(x, jnp.float32), jnp.zeros(4, jnp.int32)
    )
    z = x @ w1
    expected = np.mean(np.abs(z) > math.log(0.99 / 0.01))  # 5, -6 (row 0) and -5, 6 (row 2)
    assert expected == 4 / 12
    np.testing.assert_allclose(s["saturation"], [expected])
    # no saturation regime for gelu: NaN, not 0
    s = run(dg.forward_stats, mlp("gelu"), v, jnp.asarray(x, jnp.float32), jnp.zeros(4, jnp.int32))
    assert np.isnan(s["saturation"]).all()


def test_batchnorm_gradients_and_jacobians_match_an_explicit_formula():
    # h = tanh(γ (z - μ)/√(var + ε) + β) with running averages (evaluation mode).
    model = mlp(batch_norm=True)
    mu, var = jnp.array([0.2, -0.1, 0.5]), jnp.array([0.5, 2.0, 1.5])
    gamma, beta = jnp.array([1.5, 0.7, -1.0]), jnp.array([0.1, 0.0, -0.2])
    p = params() | {"bn_0": {"scale": gamma, "bias": beta}}
    v = {"params": p, "batch_stats": {"bn_0": {"mean": mu, "var": var}}}
    x, y = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.int32)

    def explicit(p, x):
        row = lambda a: a[None, :]  # noqa: E731
        z = x @ p["hidden_0"]["kernel"] + row(p["hidden_0"]["bias"])
        h = jnp.tanh(row(gamma) * (z - row(mu)) / row(jnp.sqrt(var + 1e-5)) + row(beta))
        return h, h @ p["output"]["kernel"] + row(p["output"]["bias"])

    g = jax.grad(lambda p: dg.cross_entropy(explicit(p, x)[1], y))(p)
    norms = run(dg.gradient_norms, model, v, x, y)
    want = [jnp.linalg.norm(g[n]["kernel"]) for n in ("hidden_0", "output")]
    np.testing.assert_allclose(norms["grad_norm"], want, rtol=1e-5)
    j = jax.vmap(jax.jacfwd(lambda xb: explicit(p, xb[None])[0][0]))(x)  # (B, 3, 2)
    np.testing.assert_allclose(run(dg.layer_jacobians, model, v, x)[0], j, rtol=1e-5, atol=1e-6)


def test_softmax_regression_has_empty_hidden_statistics():
    model = models.SoftmaxRegression(num_classes=2)
    w, b = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.1, 0.0])
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    v = {"params": {"output": {"kernel": f32(w), "bias": f32(b)}}}
    s = run(dg.summary, model, v, jnp.asarray(X, jnp.float32), jnp.asarray(Y))
    for name in ("preact_std", "act_std", "saturation", "preact_ks"):
        assert s[name].shape == (0,)
    p = softmax(X @ w + b)
    grad = X.T @ (p - np.eye(2)[Y]) / 4  # ∇W = Xᵀ(P − Y)/m
    np.testing.assert_allclose(s["grad_norm"], [np.linalg.norm(grad)], **CLOSE)
    np.testing.assert_allclose(s["weight_rank"], [2.0])
    rec = dg.record(("saturation", "grad_norm"), model, v["params"], None, (X, Y))
    assert rec["saturation"].shape == (0,) and rec["grad_norm"].shape == (1,)
    with pytest.raises(ValueError, match="valid choices"):
        dg.record(("gradnorm",), model, v["params"], None, (X, Y))


def test_constant_init_is_symmetric_and_gaussian_init_is_full_rank():
    x = jax.random.normal(jax.random.key(0), (16, 6))
    model = mlp("relu", hidden=(8, 8), classes=3)  # kernels (6, 8), (8, 8), (8, 3)
    stats = jax.jit(lambda v: dg.weight_stats(model, v))
    s = stats(model.clone(kernel_init=init.constant(0.3)).init(jax.random.key(1), x))
    np.testing.assert_array_equal(s["symmetry_distance"], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(s["weight_rank"], [1, 1, 1])
    s = stats(model.clone(kernel_init=init.normal(1.0)).init(jax.random.key(1), x))
    assert (s["symmetry_distance"] > 0.5).all()
    np.testing.assert_array_equal(s["weight_rank"], [6, 8, 3])


def test_glorot_standard_init_shrinks_the_layer_jacobian_more_than_xavier():
    # Glorot & Bengio (2010), 5 tanh layers (here 200 wide, not 1000): mean singular value
    # ≈ 0.5 for U[-1/√n, 1/√n] and ≈ 0.8 for normalized init.
    x = jax.random.normal(jax.random.key(0), (16, 200))
    model = mlp("tanh", hidden=(200,) * 5, classes=10)
    # the kernel init only matters at model.init, so one compiled function serves both
    layer_sv = jax.jit(lambda v: dg.layer_jacobian_sv(model, v, x, num_examples=4))
    mean_sv = {}
    schemes = {
        "standard": init.lecun_uniform(gain=1 / math.sqrt(3)),
        "xavier": init.xavier_uniform(),
    }
    for name, scheme in schemes.items():
        variables = model.clone(kernel_init=scheme).init(jax.random.key(1), x)
        mean_sv[name] = float(jnp.mean(layer_sv(variables)[:-1]))  # the 5 tanh layers
    assert mean_sv["standard"] < mean_sv["xavier"] < 1.0
    assert abs(mean_sv["xavier"] - 1) < abs(mean_sv["standard"] - 1)
    assert 0.4 < mean_sv["standard"] < 0.6  # quarter-circle law: 8/(3π)/√3 = 0.49 if φ' = 1


def test_summary_is_jittable_and_vmaps_over_stacked_params():
    model = mlp("tanh", hidden=(5, 4), classes=3, kernel_init=init.normal(1.0))
    x = jax.random.normal(jax.random.key(0), (8, 6))
    y = jnp.arange(8, dtype=jnp.int32) % 3
    ps = [model.init(jax.random.key(k), x)["params"] for k in (1, 2)]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *ps)
    f = jax.jit(jax.vmap(lambda p: dg.summary(model, {"params": p}, x, y, num_examples=4)))
    batched = f(stacked)
    one = jax.jit(lambda p: dg.summary(model, {"params": p}, x, y, num_examples=4))
    for i, p in enumerate(ps):
        alone = one(p)
        for k, v in alone.items():
            np.testing.assert_allclose(batched[k][i], v, rtol=1e-5, atol=1e-6, err_msg=k)


def test_sweep_records_per_layer_diagnostics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=80).astype(np.int32)
    data = Dataset("synthetic", x[:64], y[:64], x[64:], y[64:])
    cfg = train.Config(
        model="mlp",
        hidden=(4,),
        dataset="synthetic",
        num_classes=3,
        batch_size=16,
        epochs=1,
        probe_size=32,
        record=("grad_norm", "symmetry_distance", "act_std"),
    )
    res = sweep.run(cfg, data, seeds=[0, 1], sigmas=[0.1, 1.0], lrs=[0.1], progress=False)
    assert res.grad_norm.dims == ("seed", "sigma", "lr", "epoch", "layer")
    assert res.symmetry_distance.dims == ("seed", "sigma", "lr", "epoch", "layer")
    assert res.act_std.dims == ("seed", "sigma", "lr", "epoch", "hidden_layer")
    assert list(res.layer.values) == ["hidden_0", "output"]
    # epoch 0 of a cell is the diagnostic of that cell's initial parameters
    arrays = train.DataArrays.from_dataset(data)
    state, _ = train.init_run(cfg, arrays, jnp.int32(1), jnp.float32(1.0), jnp.float32(0.1))
    probe = (arrays.x_train[:32], arrays.y_train[:32])
    want = run(dg.gradient_norms, train.build_model(cfg), {"params": state.params}, *probe)
    got = res.grad_norm.sel(seed=1, sigma=1.0, lr=0.1, epoch=0).values
    np.testing.assert_allclose(got, want["grad_norm"], rtol=1e-5)
    assert (res.grad_norm.sel(sigma=1.0) > res.grad_norm.sel(sigma=0.1)).all()
