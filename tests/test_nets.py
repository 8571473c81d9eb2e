"""Beyond the note's models: delta-orthogonal init, the vanilla CNN and the residual MLP."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_sweep import assert_cell_equals_run, tiny_dataset

from initjax import grid, init, models, sweep, train


@pytest.mark.parametrize("shape", [(3, 3, 4, 8), (3, 6, 6), (5, 5, 2, 2)])
def test_delta_orthogonal_is_an_orthogonal_centre_tap_and_zero_elsewhere(shape):
    w = np.asarray(init.delta_orthogonal(1.5)(jax.random.key(3), shape))
    centre = tuple(k // 2 for k in shape[:-2])
    h = w[centre]
    np.testing.assert_allclose(h @ h.T, 1.5**2 * np.eye(shape[-2]), atol=1e-5)
    rest = w.copy()
    rest[centre] = 0
    assert not rest.any()
    assert init.scale_param("delta_orthogonal") == "gain"


def test_delta_orthogonal_refuses_fewer_out_than_in_channels():
    with pytest.raises(ValueError, match="out channels >= in channels"):
        init.delta_orthogonal()(jax.random.key(0), (3, 3, 8, 4))


def test_cnn_parameter_count_fans_and_per_layer_form_are_pinned():
    cfg = train.Config(model="cnn", hidden=(8, 8), scheme="he_normal")
    model = train.build_model(cfg, 1.0)
    x = jnp.zeros((2, 784), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]
    # conv 3·3·1·8 + 8, conv 3·3·8·8 + 8, dense 8·10 + 10
    assert models.param_count(params) == 80 + 584 + 90 == 754
    assert params["hidden_1"]["kernel"].shape == (3, 3, 8, 8)
    assert init.fans(params["hidden_1"]["kernel"].shape) == (72, 72)
    logits, preacts, _ = models.forward(model, {"params": params}, x)
    assert logits.shape == (2, 10) and preacts[0].shape == (2, 14, 14, 8)  # stride 2 first
    one_d = train.build_model(train.Config(model="cnn", hidden=(4,), dataset="mnist1d"), 1.0)
    p1 = one_d.init(jax.random.key(0), jnp.zeros((1, 40), jnp.float32))["params"]
    assert p1["hidden_0"]["kernel"].shape == (3, 1, 4)  # MNIST-1D: a 1-D signal


def test_cnn_init_std_is_he_for_the_conv_fans():
    data = tiny_dataset(n_train=64, n_test=32, dim=16)  # 16 = a 4×4 image
    cfg = train.Config(model="cnn", hidden=(16, 16), scheme="he_normal", dataset="synthetic",
                       num_classes=3, batch_size=16, epochs=1)  # fmt: skip
    std = sweep.init_std(cfg, data, np.array([1.0]))
    np.testing.assert_allclose(std.sel(layer="hidden_1"), math.sqrt(2 / (9 * 16)), rtol=0.03)


@pytest.mark.parametrize("residual_init", ["zero", "fixup"])
def test_resmlp_blocks_are_the_identity_at_init(residual_init):
    cfg = train.Config(model="resmlp", hidden=(16,) * 4, activation="relu",
                       scheme="he_normal", residual_init=residual_init)  # fmt: skip
    model = train.build_model(cfg, 1.0)
    x = jax.random.normal(jax.random.key(1), (5, 784))
    variables = model.init(jax.random.key(0), x)
    _, state = model.apply(variables, x, mutable=["intermediates"])
    inter = state["intermediates"]
    for b in range(4):
        np.testing.assert_array_equal(inter[f"block_{b}_in"][0], inter[f"block_{b}_out"][0])
    assert np.abs(np.asarray(inter["block_0_in"][0])).max() > 0  # not trivially zero
    standard = train.build_model(cfg.replace(residual_init="standard"), 1.0)
    _, state = standard.apply(standard.init(jax.random.key(0), x), x, mutable=["intermediates"])
    inter = state["intermediates"]
    assert not np.allclose(inter["block_0_in"][0], inter["block_0_out"][0])


@pytest.mark.parametrize(
    "model, scheme, extra",
    [("resmlp", "he_normal", {"residual_init": "fixup"}), ("cnn", "delta_orthogonal", {})],
)
def test_new_models_train_in_a_grid_equal_to_single_runs(model, scheme, extra):
    data = tiny_dataset(n_train=64, n_test=32, dim=16)
    cfg = train.Config(model=model, hidden=(8, 8), scheme=scheme, activation="tanh",
                       dataset="synthetic", num_classes=3, batch_size=16, epochs=2, **extra)  # fmt: skip
    res = sweep.run(cfg, data, seeds=2, sigmas=[1.0, 1.5], progress=False)
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)
    assert not bool(res.diverged.any())


def test_a_per_seed_conv_grid_compiles_its_epoch_program_once():
    # Three epochs are three calls of one compiled program on this session's 2 devices: a conv
    # grid trained cell after cell (lax.map over whole runs with order="per_seed") comes back
    # replicated and must be put back on the cells' sharding, or the next call compiles again.
    data = tiny_dataset(n_train=64, n_test=32, dim=16)
    cfg = train.Config(model="cnn", hidden=(4,), scheme="he_normal", dataset="synthetic",
                       num_classes=3, batch_size=16, epochs=3, order="per_seed")  # fmt: skip
    before = grid.advance_grid._cache_size()
    res = sweep.run(cfg, data, seeds=2, sigmas=[1.0], progress=False)
    assert grid.advance_grid._cache_size() - before == 1
    assert_cell_equals_run(res, cfg, data, rtol=1e-5)


def test_resmlp_and_cnn_config_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown residual_init 'skip'.*standard, zero, fixup"):
        train.Config(model="resmlp", residual_init="skip")
    with pytest.raises(ValueError, match="resmlp blocks share one width"):
        train.Config(model="resmlp", hidden=(8, 16))
    with pytest.raises(ValueError, match="batch_norm=True needs model='mlp'"):
        train.Config(model="cnn", batch_norm=True)
