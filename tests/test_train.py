import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import initjax as ij
from initjax import train
from initjax.data import Dataset


def tiny_dataset(n_train=64, n_test=32, dim=6, classes=3, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, classes))
    x = rng.normal(size=(n_train + n_test, dim)).astype(np.float32)
    y = np.argmax(x @ w, axis=1).astype(np.int32)
    return Dataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def softmax_np(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy_np(logits, y):
    p = softmax_np(logits.astype(np.float64))
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def test_one_sgd_step_from_zero_matches_hand_computation():
    # n_train == batch_size: one full-batch step per epoch, whose gradient does not depend
    # on the shuffled order. From W = 0, b = 0: P = 1/K, ∇W = Xᵀ(P − Y)/m, ∇b = mean(P − Y).
    data = tiny_dataset(n_train=64)
    cfg = train.Config(
        model="softmax",
        scheme="zeros",
        dataset="synthetic",
        num_classes=3,
        lr=0.5,
        batch_size=64,
        epochs=1,
    )
    hist = train.run(cfg, data, seed=0)
    x, y = data.x_train.astype(np.float64), data.y_train
    onehot = np.eye(3)[y]
    p = np.full((64, 3), 1 / 3)
    w1 = -0.5 * x.T @ (p - onehot) / 64
    b1 = -0.5 * (p - onehot).mean(0)
    assert hist.train_loss[0] == pytest.approx(np.log(3), rel=1e-6)
    assert hist.train_loss[1] == pytest.approx(cross_entropy_np(x @ w1 + b1, y), rel=1e-5)
    xt = data.x_test.astype(np.float64)
    assert hist.test_loss[1] == pytest.approx(cross_entropy_np(xt @ w1 + b1, data.y_test), rel=1e-5)
    acc = (np.argmax(xt @ w1 + b1, 1) == data.y_test).mean()
    assert hist.test_acc[1] == pytest.approx(acc)
    assert hist.batch_loss[1] == pytest.approx(np.log(3), rel=1e-6)  # loss of the one step
    assert not hist.diverged and hist.diverged_step is None


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("sgd", lambda lr: optax.sgd(lr)),
        ("momentum", lambda lr: optax.sgd(lr, momentum=0.9)),
        ("adam", lambda lr: optax.adam(lr)),
    ],
)
def test_optimizer_direction_times_lr_equals_optax(name, reference):
    cfg = train.Config(model="mlp", hidden=(4,), optimizer=name, dataset="synthetic")
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    grads = [jax.tree_util.tree_map(lambda p, k=k: jnp.sin(p + k), params) for k in range(3)]
    ours, theirs = params, params
    std = jax.numpy_dtype_promotion("standard")  # optax's Adam: decay ** int32 count
    std.__enter__()
    s_ours, s_theirs = train.optimizer(cfg).init(params), reference(0.05).init(params)
    for g in grads:
        d, s_ours = train.optimizer(cfg).update(g, s_ours, ours)
        ours = jax.tree_util.tree_map(lambda p, u: p - 0.05 * u, ours, d)
        u, s_theirs = reference(0.05).update(g, s_theirs, theirs)
        theirs = optax.apply_updates(theirs, u)
    std.__exit__(None, None, None)
    for a, b in zip(
        jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_mlp_run_learns_and_records_every_epoch():
    data = tiny_dataset(n_train=256, n_test=128)
    cfg = train.Config(
        model="mlp",
        hidden=(16,),
        activation="tanh",
        scheme="xavier_normal",
        dataset="synthetic",
        num_classes=3,
        lr=0.5,
        batch_size=32,
        epochs=5,
    )
    hist = train.run(cfg, data, seed=1)
    assert hist.train_loss.shape == (6,) and hist.test_acc.shape == (6,)
    assert hist.train_loss[-1] < 0.6 * hist.train_loss[0]
    assert hist.test_acc[-1] > 0.8


def test_same_seed_same_result_and_seed_changes_init():
    data = tiny_dataset()
    cfg = train.Config(dataset="synthetic", num_classes=3, batch_size=16, epochs=2)
    a, b = train.run(cfg, data, seed=3), train.run(cfg, data, seed=3)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    c = train.run(cfg, data, seed=4)
    assert not np.array_equal(a.train_loss, c.train_loss)


def test_init_params_are_the_draws_init_run_starts_from():
    data = tiny_dataset()
    cfg = train.Config(model="mlp", hidden=(5,), activation="tanh", scheme="he_normal",
                       dataset="synthetic", num_classes=3, order="per_seed")  # fmt: skip
    arrays = train.DataArrays.from_dataset(data)
    for seed, sigma in ((0, 1.0), (3, 0.5)):
        state, _ = train.init_run(
            cfg, arrays, jnp.int32(seed), jnp.float32(sigma), jnp.float32(0.1)
        )
        params = train.init_params(cfg, jnp.int32(seed), jnp.float32(sigma), arrays.x_train)
        assert jax.tree.structure(params) == jax.tree.structure(state.params)
        jax.tree.map(np.testing.assert_array_equal, params, state.params)


def test_divergent_run_is_flagged_with_its_step_and_nan_metrics():
    data = tiny_dataset(n_train=128)
    cfg = train.Config(
        model="mlp",
        hidden=(64, 64),
        activation="relu",
        scheme="normal",
        dataset="synthetic",
        num_classes=3,
        lr=10.0,
        batch_size=32,
        epochs=3,
    )
    hist = train.run(cfg, data, seed=0, sigma=100.0)
    assert hist.diverged
    assert hist.diverged_step is not None and 0 <= hist.diverged_step < 3 * 4
    bad_epoch = hist.diverged_step // 4 + 1
    assert np.all(np.isnan(hist.train_loss[bad_epoch:]))
    assert np.all(np.isfinite(hist.train_loss[:bad_epoch]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "transformer"}, "unknown model 'transformer'.*cnn, mlp, resmlp, softmax"),
        ({"activation": "swish9"}, "unknown activation 'swish9'.*relu"),
        ({"scheme": "magic"}, "unknown scheme 'magic'.*normal"),
        (
            {"optimizer": "lbfgs"},
            "unknown optimizer 'lbfgs'.*adam, adamw, momentum, nesterov, rmsprop, sgd",
        ),
        ({"lr": 0.0}, "lr must be a positive"),
        ({"lr": -1.0}, "lr must be a positive"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"epochs": -1}, "epochs must be a non-negative integer"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'.*fashion_mnist"),
        ({"order": "random"}, "unknown order 'random'.*shared, per_seed"),
        ({"model": "softmax", "batch_norm": True}, "batch_norm=True needs model='mlp'"),
        ({"schedule": "linear"}, "unknown schedule 'linear'.*constant, cosine, warmup_cosine"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"diverge_above": 0.0}, "diverge_above must be > 0"),
        ({"scheme": [1, 2]}, "unknown scheme"),
    ],
)
def test_config_rejects_invalid_values_naming_valid_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.Config(**kwargs)


def test_config_is_hashable_and_round_trips_through_json():
    cfg = train.Config(
        model="mlp",
        hidden=[64, 32],
        scheme="variance_scaling",
        scheme_kwargs={"mode": "fan_avg", "distribution": "uniform"},
    )
    assert hash(cfg) == hash(train.Config.from_json(cfg.to_json()))
    assert train.Config.from_json(cfg.to_json()) == cfg


def test_run_checks_the_dataset_matches_the_config():
    with pytest.raises(ValueError, match="config is for dataset 'fashion_mnist'"):
        train.run(train.Config(), tiny_dataset())
    with pytest.raises(ValueError, match="num_classes=10"):
        train.run(train.Config(dataset="synthetic"), tiny_dataset())


def test_scale_argument_reaches_the_scheme():
    # constant(value): every kernel entry equals sigma, so the initial logits are known.
    data = tiny_dataset()
    cfg = train.Config(
        scheme="constant", dataset="synthetic", num_classes=3, batch_size=16, epochs=0
    )
    hist = train.run(cfg, data, sigma=0.0)
    assert hist.train_loss[0] == pytest.approx(np.log(3), rel=1e-6)
    assert ij.init.scale_param("constant") == "value"


def test_evaluate_false_records_only_the_batch_loss():
    data = tiny_dataset()
    cfg = train.Config(dataset="synthetic", num_classes=3, batch_size=16, epochs=2)
    full = train.run(cfg, data, seed=0)
    quiet = train.run(cfg.replace(evaluate=False), data, seed=0)
    assert np.all(np.isnan(quiet.train_loss)) and np.all(np.isnan(quiet.test_acc))
    np.testing.assert_allclose(quiet.batch_loss[1:], full.batch_loss[1:], rtol=1e-6)
