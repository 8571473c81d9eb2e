"""The engine open to user code: registered schemes, user models, optimizers and schedules,
outer axes, init_std and the loss-threshold divergence rule — each checked against the same
runs done one by one, or against a hand-written optax loop."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_sweep import METRICS, assert_cell_equals_run, tiny_dataset

from initjax import data as datasets
from initjax import init, models, sweep, train


def student_t(scale=1.0, df=5.0):
    """A scaled Student-t init: W = scale · t_df · √((df − 2)/df), so Var[W] = scale²."""

    def init_fn(key, shape, dtype=jnp.float32):
        z = jax.random.t(key, df, shape, jnp.float32) * math.sqrt((df - 2) / df)
        return (jnp.asarray(scale, jnp.float32) * z).astype(dtype)

    return init_fn


@pytest.fixture
def registered_t():
    init.register("test_student_t", student_t, scale_param="scale", default_scale=0.05)
    yield "test_student_t"
    init.unregister("test_student_t")


def test_registered_scheme_grid_equals_single_runs_and_reuses_the_program(registered_t):
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(12,), scheme=registered_t, dataset="synthetic", num_classes=3,
        batch_size=16, epochs=2,
    )  # fmt: skip
    assert cfg.default_sigma() == 0.05 and cfg.scale_param() == "scale"
    res = sweep.run(cfg, data, seeds=[0, 1], sigmas=[0.1, 0.5], progress=False)
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)
    before = sweep.compile_count()
    again = sweep.run(cfg, data, seeds=[0, 1], sigmas=[0.2, 0.7], progress=False)
    assert sweep.compile_count() == before, "a new σ grid of the same shape recompiled"
    assert not np.array_equal(again.train_loss.values, res.train_loss.values)
    # The std each kernel is drawn with is σ here (Var[W] = scale²), for every layer. The
    # Monte-Carlo estimate pools 16 draws of 96 and 36 weights of a t_5 (excess kurtosis 6):
    # its relative error is √((κ+2)/4N) ≈ 4-6%, hence the tolerance.
    np.testing.assert_allclose(res.init_std.values, [[0.1, 0.1], [0.5, 0.5]], rtol=0.15)


def test_a_builder_passed_as_the_scheme_itself_trains_like_its_registered_twin(registered_t):
    data = tiny_dataset()
    base = dict(dataset="synthetic", num_classes=3, batch_size=16, epochs=2)
    by_name = train.run(train.Config(scheme=registered_t, **base), data, sigma=0.3)
    by_callable = train.run(train.Config(scheme=student_t, **base), data, sigma=0.3)
    np.testing.assert_array_equal(by_name.train_loss, by_callable.train_loss)
    assert "callable:" in train.Config(scheme=student_t, **base).to_json()


def test_register_refuses_duplicates_builtins_and_non_initializers(registered_t):
    with pytest.raises(ValueError, match="already registered"):
        init.register(registered_t, student_t, scale_param="scale")
    with pytest.raises(ValueError, match="built-in"):
        init.register("he_normal", student_t, scale_param="scale")
    with pytest.raises(TypeError, match="not an initializer"):
        init.register("test_bad", lambda scale=1.0: 3.0, scale_param="scale")
    with pytest.raises(ValueError, match="expected a floating array of shape"):
        init.register("test_bad", lambda scale=1.0: lambda k, s, d=jnp.float32: jnp.zeros(3))
    with pytest.raises(ValueError, match="not an argument"):
        init.register("test_bad", student_t, scale_param="sigma")
    assert "test_bad" not in init.names()
    with pytest.raises(ValueError, match="built-in model"):
        models.register("mlp", lambda *a: None)
    with pytest.raises(ValueError, match="built-in optimizer"):
        train.register_optimizer("adam", lambda cfg: optax.identity())
    models.register("test_model", small_conv)
    with pytest.raises(ValueError, match="already registered"):
        models.register("test_model", small_conv)
    models.unregister("test_model")
    with pytest.raises(ValueError, match="unknown model 'test_model'"):
        train.Config(model="test_model")


class SmallConv(nn.Module):
    """A user's conv net for 28×28 images (flattened input), kernels from the run's scheme."""

    kernel_init: object
    bias_init: object
    num_classes: int

    @nn.compact
    def __call__(self, x, train=False):
        x = x.reshape(x.shape[0], 28, 28, 1)
        x = nn.Conv(4, (3, 3), strides=2, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)
        x = nn.relu(x).reshape(x.shape[0], 7, 2, 7, 2, 4).mean(axis=(2, 4))  # 2×2 average pool
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, name="output")(x)


def small_conv(kernel_init, bias_init, num_classes, cfg):
    return SmallConv(kernel_init, bias_init, num_classes)


@pytest.mark.data
def test_user_conv_model_on_fashion_mnist_grid_equals_single_runs(fashion_mnist):
    d = fashion_mnist
    data = datasets.Dataset(
        "fashion_mnist", d.x_train[:512], d.y_train[:512], d.x_test[:256], d.y_test[:256],
        classes=10,
    )  # fmt: skip
    cfg = train.Config(
        model=small_conv, scheme="he_normal", dataset="fashion_mnist", batch_size=64, epochs=2
    )
    res = sweep.run(cfg, data, seeds=[0, 1], sigmas=[0.5, 1.0], lrs=[0.2], progress=False)
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)
    acc = res.test_acc.mean(["seed", "sigma", "lr"])
    assert float(acc[-1]) > float(acc[0]) + 0.1  # it learns in 2 epochs of 8 steps
    # He std √(2/fan_in)·gain: conv fan_in = 3·3·1, the head's = 7·7·4 (JAX layout fans).
    std = res.init_std.sel(sigma=1.0)
    np.testing.assert_allclose(std.sel(layer="Conv_0"), math.sqrt(2 / 9), rtol=0.15)
    np.testing.assert_allclose(std.sel(layer="output"), math.sqrt(2 / 196), rtol=0.05)


def test_a_model_without_the_per_layer_form_says_what_it_cannot_record():
    data = tiny_dataset()

    class Plain(nn.Module):
        kernel_init: object

        @nn.compact
        def __call__(self, x, train=False):
            return nn.Dense(3, kernel_init=self.kernel_init, name="head")(x)

    def plain(kernel_init, bias_init, num_classes, cfg):
        return Plain(kernel_init)

    cfg = train.Config(
        model=plain, dataset="synthetic", num_classes=3, batch_size=16, epochs=1,
        record=("weight_std",),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"cannot record .*no parameter output/kernel"):
        sweep.run(cfg, data, seeds=1, progress=False)
    assert sweep.run(cfg.replace(record=()), data, seeds=1, progress=False).sizes["seed"] == 1


def test_outer_scheme_axis_slices_equal_standalone_sweeps_bit_for_bit():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(8,), dataset="synthetic", num_classes=3, batch_size=16, epochs=2
    )
    schemes = ["he_normal", "xavier_uniform"]
    res = sweep.run(cfg, data, seeds=2, sigmas=[0.5, 1.0], over={"scheme": schemes},
                    progress=False)  # fmt: skip
    assert list(res.scheme.values) == schemes
    assert res.train_loss.dims == ("scheme", "seed", "sigma", "lr", "epoch")
    for scheme in schemes:
        alone = sweep.run(cfg.replace(scheme=scheme), data, seeds=2, sigmas=[0.5, 1.0],
                          progress=False)  # fmt: skip
        part = res.sel(scheme=scheme)
        for name in (*METRICS, "diverged", "init_std"):
            np.testing.assert_array_equal(part[name].values, alone[name].values, err_msg=name)
        slice_cfg = train.Config.from_json(str(part.config.values))
        assert slice_cfg == cfg.replace(scheme=scheme)
    assert str(res.scale_param.sel(scheme="he_normal").values) == "gain"
    assert "scheme" not in res.attrs["config"] or sweep.OUTER_MARK in res.attrs["config"]
    # He and Xavier at the same gain: the std axis tells them apart (√(2/8) vs √(2/(8+8))).
    std = res.init_std.sel(sigma=1.0, layer="hidden_0")
    np.testing.assert_allclose(std.values, [math.sqrt(2 / 8), math.sqrt(2 / 16)], rtol=0.06)


def test_outer_axes_are_validated_before_training():
    data = tiny_dataset()
    cfg = train.Config(dataset="synthetic", num_classes=3, batch_size=16, epochs=1)
    for over, message in [
        ({"lr": [0.1, 0.2]}, "inner axis: pass lrs"),
        ({"dataset": ["mnist1d"]}, "cannot be an outer axis"),
        ({"widht": [1]}, "not a Config field"),
        ({"scheme": ["he_normal", "he_normal"]}, "repeated values"),
        ({"scheme": ["nope"]}, "unknown scheme 'nope'"),
        ({"scheme": "he_normal"}, "must be a list"),
    ]:
        with pytest.raises(ValueError, match=message):
            sweep.run(cfg, data, seeds=1, over=over, progress=False)


def hand_written_adamw(cfg, data, seed, sigma, lr, steps_per_epoch):
    """optax.adamw with optax's own warmup-cosine schedule, the batches drawn as train does."""
    model = train.build_model(cfg, sigma)
    init_key, _ = jax.random.split(jax.random.key(seed))
    params = model.init(init_key, jnp.asarray(data.x_train[:1]))["params"]
    total = cfg.epochs * steps_per_epoch
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, total, 0.0)
    tx = optax.adamw(schedule, weight_decay=cfg.weight_decay)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss(p):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        value, grads = jax.value_and_grad(loss)(params)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    losses = []
    for epoch in range(cfg.epochs):
        key = jax.random.fold_in(jax.random.key(cfg.data_seed), epoch)
        order = datasets.epoch_batches(key, data.num_train, cfg.batch_size)
        for idx in np.asarray(order):
            params, opt_state, value = step(params, opt_state, data.x_train[idx], data.y_train[idx])
            losses.append(float(value))
    return losses


def test_adamw_with_warmup_cosine_grid_equals_hand_written_optax_loop():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(8,), optimizer="adamw", weight_decay=0.05,
        schedule="warmup_cosine", warmup_epochs=1.0, dataset="synthetic", num_classes=3,
        batch_size=16, epochs=3,
    )  # fmt: skip
    steps = data.num_train // cfg.batch_size
    res = sweep.run(cfg, data, seeds=[0, 1], sigmas=[1.0], lrs=[0.01, 0.05], progress=False)
    for seed in (0, 1):
        for lr in (0.01, 0.05):
            losses = hand_written_adamw(cfg, data, seed, 1.0, lr, steps)
            epoch_means = np.asarray(losses).reshape(cfg.epochs, steps).mean(axis=1)
            got = res.batch_loss.sel(seed=seed, sigma=1.0, lr=lr).values[1:]
            np.testing.assert_allclose(got, epoch_means, rtol=1e-5, err_msg=f"{seed=} {lr=}")


@pytest.mark.parametrize(
    "name, reference",
    [
        ("nesterov", lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True)),
        ("rmsprop", lambda lr: optax.rmsprop(lr)),
        ("adamw", lambda lr: optax.adamw(lr, weight_decay=0.1)),
    ],
)
def test_builtin_directions_equal_optax_aliases(name, reference):
    cfg = train.Config(optimizer=name, weight_decay=0.1 if name == "adamw" else 0.0)
    params = {"w": jnp.arange(4.0)}
    ours, theirs = train.optimizer(cfg), reference(0.05)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    p_ours = p_theirs = params
    for k in range(3):
        g = {"w": jnp.sin(p_ours["w"] + k)}
        with jax.numpy_dtype_promotion("standard"):
            d, s_ours = ours.update(g, s_ours, p_ours)
            u, s_theirs = theirs.update({"w": jnp.sin(p_theirs["w"] + k)}, s_theirs, p_theirs)
        p_ours = {"w": p_ours["w"] - 0.05 * d["w"]}
        p_theirs = optax.apply_updates(p_theirs, u)
    np.testing.assert_allclose(p_ours["w"], p_theirs["w"], rtol=1e-6)


def test_schedules_follow_their_formulas():
    steps = 10  # per epoch; 4 epochs = 40 steps
    t = jnp.arange(40)
    cos = train.lr_factor(train.Config(epochs=4, schedule="cosine"), steps)
    np.testing.assert_allclose(jax.vmap(cos)(t), 0.5 * (1 + np.cos(np.pi * np.arange(40) / 40)),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    step = train.lr_factor(train.Config(epochs=4, schedule="step", step_epochs=1, step_gamma=0.5),
                           steps)  # fmt: skip
    np.testing.assert_allclose(jax.vmap(step)(t), 0.5 ** (np.arange(40) // 10), rtol=1e-6)
    warm = train.lr_factor(train.Config(epochs=4, schedule="warmup_cosine", warmup_epochs=1), steps)
    np.testing.assert_allclose(jax.vmap(warm)(jnp.arange(11)), np.arange(11) / 10, atol=1e-6)
    user = train.lr_factor(
        train.Config(epochs=4, schedule=lambda s: 1.0 / (1.0 + s.astype(jnp.float32))), steps
    )
    np.testing.assert_allclose(float(user(jnp.int32(3))), 0.25)


def test_loss_blow_up_is_divergence_and_other_cells_are_untouched():
    data = tiny_dataset()
    cfg = train.Config(
        model="mlp", hidden=(16,), activation="tanh", dataset="synthetic", num_classes=3,
        batch_size=16, epochs=2, scheme="xavier_normal",
    )  # fmt: skip
    res = sweep.run(cfg, data, seeds=[0], sigmas=[1.0], lrs=[0.1, 1e4], progress=False)
    assert bool(res.diverged.sel(lr=1e4).all()) and not bool(res.diverged.sel(lr=0.1).any())
    assert int(res.diverged_step.sel(lr=1e4).item()) >= 0
    assert np.isnan(res.train_loss.sel(lr=1e4).values[0, 0, 1:]).all()
    alone = sweep.run(cfg, data, seeds=[0], sigmas=[1.0], lrs=[0.1], progress=False)
    np.testing.assert_array_equal(res.train_loss.sel(lr=0.1).values,
                                  alone.train_loss.sel(lr=0.1).values)  # fmt: skip
    # The same run with the threshold switched off is "finite" but absurd: the rule matters.
    off = train.run(cfg.replace(diverge_above=math.inf), data, sigma=1.0, lr=1e4)
    assert not off.diverged and off.batch_loss[1] > train.loss_limit(cfg)


class UserMLP(nn.Module):
    """A user's MLP in the documented per-layer form: ``hidden``, named layers, sown values."""

    hidden: tuple
    kernel_init: object
    bias_init: object
    num_classes: int

    @nn.compact
    def __call__(self, x, train=False):
        for i, width in enumerate(self.hidden):
            dense = nn.Dense(width, kernel_init=self.kernel_init, bias_init=self.bias_init,
                             name=f"hidden_{i}")  # fmt: skip
            z = dense(x)
            dense.sow("intermediates", "preact", z)
            x = jnp.tanh(z)
            dense.sow("intermediates", "act", x)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init,
                        bias_init=self.bias_init, name="output")(x)  # fmt: skip


def test_a_user_model_in_the_documented_form_records_diagnostics_like_the_builtin():
    data = tiny_dataset()
    base = dict(hidden=(8, 8), activation="tanh", scheme="xavier_normal", dataset="synthetic",
                num_classes=3, batch_size=16, epochs=2, record=("preact_std", "grad_norm"),
                probe_size=64)  # fmt: skip

    def factory(kernel_init, bias_init, num_classes, cfg):
        return UserMLP(cfg.hidden, kernel_init, bias_init, num_classes)

    ours = sweep.run(train.Config(model=factory, **base), data, seeds=2, progress=False)
    builtin = sweep.run(train.Config(model="mlp", **base), data, seeds=2, progress=False)
    for name in ("preact_std", "grad_norm", "train_loss"):
        np.testing.assert_array_equal(ours[name].values, builtin[name].values, err_msg=name)
