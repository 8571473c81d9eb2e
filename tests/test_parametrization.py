"""SP / NTK / µP: the per-layer rules as functions of width (against the table written out
by hand from TP-V Table 3), and the coordinate check with the power to fail."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_sweep import tiny_dataset

from initjax import coordcheck, sweep, train

# (parametrization, optimizer) -> {layer: (init std ×, lr ×)} at width multiplier m = 4
M = 4
TABLE = {
    ("sp", "sgd"): {"input": (1, 1), "hidden": (1, 1), "output": (1, 1)},
    ("ntk", "sgd"): {"input": (1, 1), "hidden": (1, 1 / M), "output": (1, 1 / M)},
    ("ntk", "adam"): {"input": (1, 1), "hidden": (1, M**-0.5), "output": (1, M**-0.5)},
    ("mup", "sgd"): {"input": (1, M), "hidden": (1, 1), "output": (M**-0.5, 1 / M)},
    ("mup", "adam"): {"input": (1, 1), "hidden": (1, 1 / M), "output": (M**-0.5, 1 / M)},
}
LAYERS = {"input": "hidden_0", "hidden": "hidden_1", "output": "output"}


@pytest.mark.parametrize("par, opt", sorted(TABLE))
def test_per_layer_init_std_and_lr_multipliers_follow_the_table(par, opt):
    width, base = 256, 64  # m = 4
    data = tiny_dataset(dim=40)
    cfg = train.Config(model="mlp", hidden=(width, width), scheme="he_normal", optimizer=opt,
                       parametrization=par, base_width=base, dataset="synthetic",
                       num_classes=3)  # fmt: skip
    sp = cfg.replace(parametrization="sp")
    std = sweep.init_std(cfg, data, np.array([1.0])).sel(sigma=1.0)
    std_sp = sweep.init_std(sp, data, np.array([1.0])).sel(sigma=1.0)
    params = train.build_model(cfg, 1.0).init(jax.random.key(0), jnp.zeros((1, 40)))["params"]
    ones = jax.tree_util.tree_map(jnp.ones_like, params)
    tx, tx_sp = train.optimizer(cfg), train.optimizer(sp)
    with jax.numpy_dtype_promotion("standard"):
        d, _ = tx.update(ones, tx.init(params), params)
        d_sp, _ = tx_sp.update(ones, tx_sp.init(params), params)
    for role, (init_mult, lr_mult) in TABLE[par, opt].items():
        name = LAYERS[role]
        np.testing.assert_allclose(std.sel(layer=name) / std_sp.sel(layer=name), init_mult,
                                   rtol=0.03, err_msg=f"init {role}")  # fmt: skip
        ratio = np.asarray(d[name]["kernel"]) / np.asarray(d_sp[name]["kernel"])
        np.testing.assert_allclose(ratio, lr_mult, rtol=1e-5, err_msg=f"lr {role}")


def test_every_parametrization_is_sp_at_the_base_width():
    data = tiny_dataset(dim=40)
    base = train.Config(model="mlp", hidden=(64, 64), scheme="he_normal", dataset="synthetic",
                        num_classes=3, batch_size=16, epochs=2)  # fmt: skip
    sp = train.run(base, data, sigma=1.0)
    for par in ("ntk", "mup"):
        other = train.run(base.replace(parametrization=par, base_width=64), data, sigma=1.0)
        np.testing.assert_allclose(other.train_loss, sp.train_loss, rtol=1e-6, err_msg=par)


def test_coordinate_check_passes_for_mup_and_fails_for_sp_at_large_width(mnist1d_data):
    """Activation change after 4 SGD steps at widths 512 → 2048: under µP it stays put
    (|slope| < 0.25 in log-log, every layer); under SP at the same lr the logits' change
    grows about linearly with width — the check can fail."""
    widths = [512, 1024, 2048]
    base = train.Config(model="mlp", hidden=(64, 64), scheme="he_normal", dataset="mnist1d",
                        lr=0.05, batch_size=64, base_width=64)  # fmt: skip
    slopes = {}
    for par in ("sp", "mup"):
        changes = coordcheck.coordinate_check(base.replace(parametrization=par), mnist1d_data,
                                              widths, steps=4)  # fmt: skip
        slopes[par] = coordcheck.slopes(widths, changes)
    assert all(abs(s) < 0.25 for s in slopes["mup"].values()), slopes["mup"]
    assert slopes["sp"]["logits"] > 0.6, slopes["sp"]
    assert math.isfinite(slopes["sp"]["hidden_1"])


def test_parametrization_config_errors():
    with pytest.raises(ValueError, match=r"unknown parametrization 'mu'.*sp, ntk, mup"):
        train.Config(model="mlp", parametrization="mu")
    with pytest.raises(ValueError, match="defined for model='mlp'"):
        train.Config(model="softmax", parametrization="mup")
    with pytest.raises(ValueError, match="readout_zero=True is µP's option"):
        train.Config(model="mlp", readout_zero=True)
