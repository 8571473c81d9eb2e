"""The memory estimate: a jaxpr's peak by hand, and a grid's estimate against what XLA compiles.

The estimate traces one cell's step instead of using a formula for the built-in MLP, so a
user's model is counted from its own graph. Before, a user MLP with BatchNorm (hidden widths
unknown to the formula) was estimated at a quarter of the compiled program's memory.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from initjax import grid as engine
from initjax import memory, models, sweep, train
from initjax.data import Dataset
from initjax.train import DataArrays


def test_peak_bytes_holds_each_intermediate_from_its_equation_to_its_last_use():
    def f(x):
        a = jnp.sin(x)  # live: a (4 kB)
        b = jnp.cos(x)  # live: a, b (8 kB)
        c = a * b  # made while a and b are live: 12 kB, the peak; then a, b die
        return jnp.tanh(c)  # c and its tanh: 8 kB

    assert memory.peak_bytes(jax.make_jaxpr(f)(jnp.ones(1000, jnp.float32))) == 12_000

    # An inner jaxpr (here a jit) counts its own peak while it runs; its input is the caller's.
    g = jax.jit(lambda x: jnp.sin(x) * jnp.cos(x))  # 12 kB inside
    assert memory.peak_bytes(jax.make_jaxpr(lambda x: g(x) + 1.0)(jnp.ones(1000))) == 12_000


def _user_bn_mlp(kernel_init, bias_init, num_classes, cfg):
    """A user model (a callable, not a registered name) the old formula could not see into."""
    return models.MLP(hidden=(256, 256), num_classes=num_classes, activation="relu",
                      kernel_init=kernel_init, bias_init=bias_init, batch_norm=True)  # fmt: skip


def _data(dim: int, n_train: int = 2000, n_test: int = 500) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_train + n_test, dim)).astype(np.float32)
    y = rng.integers(0, 10, n_train + n_test).astype(np.int32)
    return Dataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


@pytest.mark.parametrize(
    "kw, dim",
    [
        ({"model": "mlp", "hidden": (256, 256)}, 40),
        ({"model": _user_bn_mlp}, 40),
        ({"model": "cnn"}, 784),
    ],
    ids=["mlp", "user-bn-mlp", "cnn"],
)
def test_the_estimate_is_within_a_small_factor_of_the_compiled_grid(kw, dim):
    data = _data(dim)
    cfg = train.Config(dataset="synthetic", num_classes=10, batch_size=100, epochs=1,
                       eval_batch_size=500, **kw)  # fmt: skip
    cells = 4
    est = memory.estimate(cfg, sweep.Grid.make(list(range(cells)), [0.5], [0.1]), data)
    arrays = DataArrays(*map(jnp.asarray, (data.x_train, data.y_train, data.x_test, data.y_test)))
    state, _ = jax.eval_shape(
        lambda *a: engine.init_grid(cfg, arrays, *a),
        jnp.arange(cells, dtype=jnp.int32), jnp.ones(cells), jnp.full(cells, 0.1),
    )  # fmt: skip
    ma = engine.advance_grid.lower(cfg, arrays, state, 1).compile().memory_analysis()
    compiled = ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes
    # An upper bound in spirit (XLA fuses what the jaxpr holds apart), never far below.
    assert 0.6 * compiled <= est.total <= 4 * compiled, (est.describe(), compiled)
    assert est.parts["steps"] > est.parts["train state"] > 0
