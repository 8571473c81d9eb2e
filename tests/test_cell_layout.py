"""The grid's cell layouts (issue 18): where the cell axis goes, and that it changes no number."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from initjax import cell_layout, grid, train
from initjax.data import Dataset


def _tiny(n_train=96, n_test=32, dim=12, classes=4) -> Dataset:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(dim, classes))
    x = rng.normal(size=(n_train + n_test, dim)).astype(np.float32)
    y = np.argmax(x @ w, axis=1).astype(np.int32)
    return Dataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def test_gemm_layout_puts_the_cell_axis_before_the_last_axis_of_kernels_only():
    tree = {
        "kernel": jnp.zeros((5, 7, 3)),  # (cells, D, K)
        "conv": jnp.zeros((5, 3, 3, 2, 4)),  # (cells, h, w, in, out)
        "bias": jnp.zeros((5, 3)),
        "key": jnp.zeros((5, 2), jnp.uint32),
        "count": jnp.zeros((5,)),
    }
    axes = cell_layout.axes(tree, "gemm")
    assert axes == {"kernel": 1, "conv": 3, "bias": 0, "key": 0, "count": 0}
    laid = cell_layout.to_layout(tree, axes)
    assert laid["kernel"].shape == (7, 5, 3) and laid["conv"].shape == (3, 3, 2, 5, 4)
    x = jnp.arange(5 * 7 * 3.0).reshape(5, 7, 3)
    back = cell_layout.from_layout(cell_layout.to_layout({"k": x}, {"k": 1}), {"k": 1})
    np.testing.assert_array_equal(back["k"], x)
    assert jax.tree.leaves(cell_layout.axes(tree, "front")) == [0] * 5
    with pytest.raises(ValueError, match="valid layouts: front, gemm, map"):
        cell_layout.axes(tree, "rows")


def test_dense_dot_general_gradient_is_lax_dot_generals_and_forward_mode_still_works():
    k1, k2 = jax.random.split(jax.random.key(0))
    x, w = jax.random.normal(k1, (6, 5)), jax.random.normal(k2, (5, 3))
    dims = (((1,), (0,)), ((), ()))

    def loss(dot, x, w):
        return jnp.sum(jnp.tanh(dot(x, w, dims)) ** 2)

    want = jax.grad(loss, argnums=(1, 2))(jax.lax.dot_general, x, w)
    with cell_layout.kernel_order_gradients():
        got = jax.grad(loss, argnums=(1, 2))(cell_layout.dense_dot_general, x, w)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    # Outside the block it is lax.dot_general: forward-mode Jacobians (diagnostics) work.
    jac = jax.jacfwd(lambda x: cell_layout.dense_dot_general(x, w, dims))(x)
    assert jac.shape == (6, 3, 6, 5)


@pytest.mark.parametrize(
    "cfg",
    [
        dict(model="softmax", optimizer="sgd"),
        dict(model="mlp", hidden=(16, 8), activation="tanh", optimizer="momentum"),
        dict(model="mlp", hidden=(16,), optimizer="adam", weight_decay=1e-3),
    ],
    ids=["softmax-sgd", "mlp-momentum", "mlp-adam"],
)
def test_both_layouts_train_a_grid_to_the_same_state_and_metrics(cfg):
    data = _tiny()
    config = train.Config(
        dataset="synthetic", num_classes=4, batch_size=16, epochs=2, scheme="he_normal", **cfg
    )
    arrays = train.DataArrays.from_dataset(data)
    g = grid.Grid.make([0, 1], [0.5, 1.0], [0.05])
    seeds, sigmas, lrs = (jnp.asarray(c) for c in g.cells())
    state, _ = grid.init_grid(config, arrays, seeds, sigmas, lrs)
    out = {
        layout: train.train_epochs_grid(config, arrays, state, 2, layout=layout)
        for layout in cell_layout.LAYOUTS
    }
    (s_front, m_front), s_gemm = out["front"], out["gemm"][0]
    # All hand the state back with the cell axis in front, as results and checkpoints expect.
    for s_other, m_other in (out["gemm"], out["map"]):
        assert jax.tree.map(jnp.shape, s_front) == jax.tree.map(jnp.shape, s_other)
        for a, b in zip(jax.tree.leaves(s_front), jax.tree.leaves(s_other), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for name in m_front:
            np.testing.assert_allclose(m_front[name], m_other[name], rtol=1e-5, atol=1e-6)
    # and the states really trained (not the initial state handed back)
    before = jax.tree.leaves(state.params)[0]
    assert not np.allclose(before, jax.tree.leaves(s_gemm.params)[0])


def test_layout_choice_follows_the_measured_table_and_defaults_to_front():
    for model, least in cell_layout.GEMM_FROM.items():
        assert cell_layout.layout_for(model, least) == "gemm"
        assert cell_layout.layout_for(model, least - 1) == "front"
    assert cell_layout.layout_for("cnn", 4096) == "front"  # not measured: the safe default
    assert cell_layout.layout_for(lambda *a: None, 4096) == "front"  # a user model factory


@pytest.mark.parametrize("order", ["shared", "per_seed"])
def test_a_conv_grid_on_a_cpu_trains_cell_by_cell_and_equals_the_vmapped_grid(order):
    """Conv kernels (rank >= 3 per cell) pick "map" on a CPU (vmapped convs compile to slow
    grouped convolutions there); the numbers are those of the vmapped grid."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 16)).astype(np.float32)  # 4x4 "images"
    y = (x.sum(1) > 0).astype(np.int32)
    data = Dataset("synthetic", x[:32], y[:32], x[32:], y[32:])
    config = train.Config(model="cnn", hidden=(4, 4), dataset="synthetic", num_classes=2,
                          batch_size=8, epochs=2, scheme="he_normal", order=order)  # fmt: skip
    arrays = train.DataArrays.from_dataset(data)
    g = grid.Grid.make([0, 1], [1.0], [0.1])
    state, _ = grid.init_grid(config, arrays, *(jnp.asarray(c) for c in g.cells()))
    assert cell_layout.layout_for("cnn", 2, state.params) == "map"
    assert cell_layout.layout_for("cnn", 1, state.params) == "front"  # one cell: nothing to map
    assert cell_layout.layout_for("mlp", 64, {"k": jnp.zeros((64, 3, 2))}) == "gemm"
    (s_map, m_map), (s_vmap, m_vmap) = (
        train.train_epochs_grid(config, arrays, state, 2, layout=lay) for lay in ("map", "front")
    )
    for a, b in zip(jax.tree.leaves(s_map), jax.tree.leaves(s_vmap), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for name in m_map:
        np.testing.assert_allclose(m_map[name], m_vmap[name], rtol=1e-5, atol=1e-6)
    assert not np.allclose(jax.tree.leaves(state.params)[0], jax.tree.leaves(s_map.params)[0])


def test_the_layout_benchmark_times_both_layouts_and_refuses_bad_sizes(fashion_mnist, capsys):
    """experiments/_bench_layouts.py (the figures behind GEMM_FROM) at a smoke size: per M a
    row with both layouts' times and their ratio, printed; bad sizes are refused."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    path = Path(os.environ["INITJAX_EXPERIMENTS"]) / "_bench_layouts.py"  # set by conftest
    spec = importlib.util.spec_from_file_location("_bench_layouts", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    rows = bench.compare("softmax", [2, 3], steps=2, repeats=2)
    assert [(r["M"], r["steps"]) for r in rows] == [(2, 2), (3, 2)]
    for r in rows:
        assert r["front_s_per_step"] > 0 and r["gemm_s_per_step"] > 0
        assert r["gemm_over_front"] == pytest.approx(r["gemm_s_per_step"] / r["front_s_per_step"])
    assert bench.main(["mlp", "--ms", "2", "--steps", "1", "--repeats", "1"]) == 0
    assert "mlp      M =    2: front" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["softmax", "--steps", "0"])
    assert "must be ≥ 1" in capsys.readouterr().err


def test_the_mlp_memory_benchmark_times_each_piece_and_updates_each_run_with_its_lr(
    fashion_mnist, capsys
):
    """experiments/_bench_mlp_memory.py at a smoke size: a row per M with every piece timed
    and the update's bandwidth from its bytes; the update it times is SGD with each run's lr
    on that run's block of columns (checked by hand)."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    path = Path(os.environ["INITJAX_EXPERIMENTS"]) / "_bench_mlp_memory.py"
    spec = importlib.util.spec_from_file_location("_bench_mlp_memory", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    rows = bench.measure([2], steps=1, repeats=2)  # (main below runs M = 1)
    assert [r["M"] for r in rows] == [2]
    for r in rows:
        assert r["w_mb"] == pytest.approx(784 * 256 * r["M"] * 4 / 1e6)
        assert all(r[f"{p}_ms_per_model"] > 0 for p in bench.PIECES)
        assert r["grid_compile_s"] > 0 and r["grouped_compile_s"] > 0
        seconds = r["update_ms_per_model"] * r["M"] / 1e3
        assert r["update_gb_per_s"] == pytest.approx(3 * r["w_mb"] / 1e3 / seconds)
    w = np.arange(12, dtype=np.float32).reshape(2, 6)  # 2 runs of 3 columns each
    g = np.ones((2, 6), np.float32)
    got = bench.update(jnp.asarray(w), jnp.asarray(g), jnp.asarray([0.5, 2.0]))
    np.testing.assert_allclose(got, w - np.array([0.5] * 3 + [2.0] * 3) * g)
    assert bench.main(["--ms", "1", "--steps", "1", "--repeats", "1"]) == 0
    assert "M =    1: W    0.8 MB" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--ms", "0"])
    assert "must be ≥ 1" in capsys.readouterr().err


def test_group_size_splits_a_cpu_mlp_grid_past_the_cache_into_equal_groups():
    # MLP 784-256-10: 784·256 + 256 + 256·10 + 10 = 203,530 float32 per cell, 814,120 bytes;
    # 16 MiB hold 20 cells. A group is the largest divisor of M from 20 down to 16.
    def params(m):
        return {"w": jax.ShapeDtypeStruct((m, 203_530), jnp.float32)}

    assert cell_layout.GROUP_BYTES == 16 << 20
    sizes = {m: cell_layout.group_size("mlp", m, params(m)) for m in (8, 20, 37, 40, 64, 128)}
    assert sizes == {8: 8, 20: 20, 37: 37, 40: 20, 64: 16, 128: 16}
    assert cell_layout.group_size("softmax", 64, params(64)) == 64  # not measured: at once
    # group g holds cells g, g + G, …: blocks of cells over devices stay split over all
    x = jnp.arange(12.0)
    seen = []
    out = cell_layout.grouped(lambda c: seen.append(c.shape) or 10 * c, x, 4)
    np.testing.assert_array_equal(out, 10 * x)
    assert seen == [(4,)]
    # each cell gets its group's first cell: 3 groups of 4, cell i in group i % 3
    first = cell_layout.grouped(lambda c: jnp.full_like(c, c[0]), x, 4)
    np.testing.assert_array_equal(first, np.arange(12) % 3)
    with pytest.raises(ValueError, match="12 cells do not split into groups of 5"):
        cell_layout.grouped(lambda c: c, x, 5)


def test_an_mlp_grid_in_groups_equals_the_grid_at_once(monkeypatch):
    """Sharded over the 2 devices, 32 cells in 2 groups of 16 against all 32 at once."""
    from initjax import sweep

    data = _tiny()
    cfg = train.Config(
        model="mlp", hidden=(16,), dataset="synthetic", num_classes=4, batch_size=16, epochs=2
    )
    cells = dict(seeds=4, sigmas=[0.5, 1.0], lrs=[0.05, 0.1, 0.2, 0.4], progress=False)
    per_cell = 4 * (12 * 16 + 16 + 16 * 4 + 4)
    calls = []
    real = cell_layout.grouped
    monkeypatch.setattr(cell_layout, "grouped", lambda *a: calls.append(a[2]) or real(*a))
    jax.clear_caches()
    at_once = sweep.run(cfg, data, **cells)
    assert calls == []
    monkeypatch.setattr(cell_layout, "GROUP_BYTES", 16 * per_cell)
    jax.clear_caches()
    in_groups = sweep.run(cfg, data, **cells)
    assert calls == [16]
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss"):
        np.testing.assert_allclose(in_groups[name], at_once[name], rtol=1e-5, err_msg=name)
    assert float(in_groups.train_loss.isel(epoch=-1).std()) > 0.01  # the cells differ
    jax.clear_caches()
