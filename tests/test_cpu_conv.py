"""cpu_conv: every convolution rewritten to XLA:CPU's canonical form computes the same numbers,
and the compiled loop then holds canonical convolutions only."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from initjax import cpu_conv, train

CASES = [
    # (lhs shape, rhs shape, dimension numbers, strides, padding, lhs_dil, rhs_dil, groups, batch groups)
    ((2, 9, 9, 3), (3, 3, 3, 4), ("NHWC", "HWIO", "NHWC"), (1, 1), "SAME", (1, 1), (1, 1), 1, 1),
    ((2, 3, 9, 9), (4, 3, 3, 3), ("NCHW", "OIHW", "NCHW"), (2, 2), "VALID", (1, 1), (1, 1), 1, 1),
    (
        (2, 9, 8, 4),
        (3, 2, 2, 6),
        ("NHWC", "HWIO", "NCHW"),
        (1, 2),
        ((1, 0), (2, 1)),
        (1, 1),
        (2, 1),
        2,
        1,
    ),
    (
        (4, 9, 8, 2),
        (3, 3, 2, 6),
        ("NHWC", "HWIO", "NHWC"),
        (1, 1),
        ((1, 1), (0, 2)),
        (2, 1),
        (1, 1),
        1,
        2,
    ),
    ((3, 11, 5), (3, 5, 8), ("NWC", "WIO", "NWC"), (2,), "SAME", (1,), (1,), 1, 1),
    ((2, 6, 4), (4, 3, 4), ("NCW", "OIW", "NWC"), (1,), "VALID", (1,), (2,), 2, 1),
]


@pytest.mark.parametrize("case", CASES)
def test_conv_equals_xla_conv_for_any_layout_stride_dilation_and_groups(case):
    lhs_shape, rhs_shape, dn, strides, padding, lhs_dil, rhs_dil, groups, batches = case
    kx, kw = jax.random.split(jax.random.key(0))
    lhs, rhs = jax.random.normal(kx, lhs_shape), jax.random.normal(kw, rhs_shape)
    want = lax.conv_general_dilated(
        lhs, rhs, strides, padding, lhs_dil, rhs_dil, dn,
        feature_group_count=groups, batch_group_count=batches,
    )  # fmt: skip
    jaxpr = jax.make_jaxpr(
        lambda a, b: lax.conv_general_dilated(
            a,
            b,
            strides,
            padding,
            lhs_dil,
            rhs_dil,
            dn,
            feature_group_count=groups,
            batch_group_count=batches,
        )
    )(lhs, rhs).jaxpr
    (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == cpu_conv.CONV]
    got = cpu_conv.conv(lhs, rhs, **eqn.params)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


class _CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.tanh(nn.Conv(6, (3, 3), strides=2)(x.reshape(-1, 8, 8, 1)))
        x = nn.tanh(nn.Conv(6, (3, 3))(x))
        return nn.Dense(3)(x.reshape(len(x), -1))


def _grid_training(wrap):
    """4 SGD steps under lax.scan of a 3-cell vmapped CNN grid (grouped convolutions)."""
    model = _CNN()
    x = jax.random.normal(jax.random.key(1), (4, 5, 64))
    y = jnp.arange(20).reshape(4, 5) % 3
    cells = jax.vmap(lambda k: model.init(k, x[0]))(jax.random.split(jax.random.key(2), 3))

    def loss(p, xb, yb):
        logits = model.apply(p, xb)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], 1))

    grads = wrap(jax.vmap(jax.grad(loss), in_axes=(0, None, None)))

    def train_(p, x, y):
        def body(p, b):
            return jax.tree.map(lambda a, g: a - 0.1 * g, p, grads(p, *b)), None

        return lax.scan(body, p, (x, y))[0]

    return jax.jit(train_), (cells, x, y)


def _conv_dim_labels(compiled_text):
    return [
        (m.group(1), "feature_group_count" in line or "batch_group_count" in line)
        for line in compiled_text.splitlines()
        if (m := re.search(r"convolution\(.*dim_labels=(\S+?)[,\s]", line))
    ]


def test_a_conv_grid_trained_under_scan_is_unchanged_and_compiles_to_canonical_convs():
    raw, args = _grid_training(lambda f: f)
    fixed, _ = _grid_training(cpu_conv.canonical)
    for a, b in zip(jax.tree.leaves(raw(*args)), jax.tree.leaves(fixed(*args)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    before = _conv_dim_labels(raw.lower(*args).compile().as_text())
    after = _conv_dim_labels(fixed.lower(*args).compile().as_text())
    # without the rewrite: grouped convolutions and gradient layouts XLA:CPU runs slowly in loops
    assert any(label != "b01f_01io->b01f" or grouped for label, grouped in before)
    assert after and all(label == "b01f_01io->b01f" and not grouped for label, grouped in after)


def test_a_function_is_traced_once_and_without_convolutions_computes_the_same():
    calls = []

    def f(x):
        calls.append(1)
        return jnp.sin(x) @ x.T

    x = jnp.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(cpu_conv.canonical(f)(x), f(x))
    assert len(calls) == 2  # make_jaxpr once (its jaxpr is evaluated again), then the reference
    g = jax.jit(cpu_conv.canonical(f))
    assert g.lower(x).as_text() == jax.jit(f).lower(x).as_text()  # the same program


def test_a_cnn_run_compiles_to_canonical_convs_only(mnist1d_data):
    """The engine's step goes through cpu_conv on a CPU: one cnn run (its gradient convolutions
    inside lax.scan) compiles to canonical convolutions only."""
    cfg = train.Config(model="cnn", hidden=(4, 4), dataset="mnist1d", epochs=1, batch_size=500)
    arrays = train.DataArrays.from_dataset(mnist1d_data)
    args = (cfg, arrays, jnp.int32(0), jnp.float32(1.0), jnp.float32(0.1))
    labels = _conv_dim_labels(train._run_compiled.lower(*args).compile().as_text())
    assert len(labels) >= 6  # forward, input and kernel gradients of two layers (and evaluation)
    assert all(label == "b0f_0io->b0f" and not grouped for label, grouped in labels), labels


def test_the_conv_benchmark_runs_and_its_variants_train_alike(capsys):
    """experiments/_bench_conv.py (the figures in cpu_conv's docstring) at its smoke size: every
    variant trains cell 0 to the same parameters (checked inside) and a row is printed each."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    path = Path(os.environ["INITJAX_EXPERIMENTS"]) / "_bench_conv.py"  # set by conftest
    spec = importlib.util.spec_from_file_location("_bench_conv", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # flax modules (dataclasses) look their module up
    spec.loader.exec_module(bench)
    rows = bench.main(["--small"])
    assert len(rows) == 7 and all(r["ms_per_step"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert all(r["variant"] in out for r in rows)
