"""deep_cnn at quick scale: Gaussian vs orthogonal vs delta-orthogonal deep vanilla CNNs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from initjax import data, shard, study

exp = study.load("deep_cnn")


def _stack(w, x, phi):
    h = x
    for w_l in w:
        z = exp.conv(h[None], w_l)[0]
        h = phi(z)
    return z.ravel()


@pytest.mark.parametrize("init", exp.INITS)
def test_conv_jacobian_spectrum_matches_jacfwd(init):
    x = jax.random.normal(jax.random.key(0), (4, 4, 2))
    w = exp.kernels(jax.random.key(1), init, 3, 2)
    sv2 = exp.conv_jacobian_sv2(w, x, "tanh", (1, 3))
    for row, depth in enumerate((1, 3)):
        jac = jax.jacfwd(lambda x, d=depth: _stack(w[:d], x, jnp.tanh))(x).reshape(32, 32)
        s2 = np.linalg.svd(np.asarray(jac, np.float64), compute_uv=False) ** 2
        np.testing.assert_allclose(sv2[row], s2, rtol=1e-4, atol=1e-6)


def test_linear_delta_orthogonal_stack_is_an_exact_isometry_borders_included():
    # Only the centre tap is non-zero, so SAME padding's zeros are never read: every
    # singular value of the depth-L linear stack is gain^L, at the borders too.
    gain, depth = 1.1, 6
    w = gain * exp.kernels(jax.random.key(2), "delta_orthogonal", depth, 3)
    x = jax.random.normal(jax.random.key(3), (5, 5, 3))
    sv2 = exp.conv_jacobian_sv2(w, x, "linear", (depth,))
    np.testing.assert_allclose(sv2, gain ** (2 * depth), rtol=1e-5)
    # The flattened-orthogonal kernel of the same variance is not an isometry.
    w = gain * exp.kernels(jax.random.key(2), "orthogonal", depth, 3)
    assert exp.spread(exp.conv_jacobian_sv2(w, x, "linear", (depth,))) > 0.5


def test_kernels_have_the_critical_variance():
    for init in exp.INITS:
        w = exp.kernels(jax.random.key(4), init, 4, 16)
        assert w.shape == (4, 3, 3, 16, 16)
        # E[W²]·fan_in = σ_w² = 1 for all three (delta-orthogonal: c² entries of 1/c at the
        # centre, zero elsewhere)
        assert float(jnp.mean(w**2)) * 9 * 16 == pytest.approx(1.0, rel=0.05)
    centre = exp.kernels(jax.random.key(4), "delta_orthogonal", 1, 16)[0, 1, 1]
    np.testing.assert_allclose(centre.T @ centre, np.eye(16), atol=1e-5)


def test_subset_pools_images_and_keeps_the_dataset_name():
    rng = np.random.default_rng(0)
    x = rng.random((6, 784), dtype=np.float32)
    y = np.arange(6, dtype=np.int32) % 3
    full = data.Dataset("fashion_mnist", x, y, x[:4], y[:4], classes=10)
    small = exp.subset(full, 5, 2, 2)
    assert small.name == "fashion_mnist" and small.input_dim == 196
    assert (small.num_train, small.num_test) == (5, 2)
    np.testing.assert_allclose(small.x_train[0, 0], x[0, [0, 1, 28, 29]].mean(), rtol=1e-6)
    np.testing.assert_allclose(small.x_train.mean(axis=1), x[:5].mean(axis=1), rtol=1e-5)


def test_quick_rows_decided_and_figures(quick):
    assert len(quick.rows) == 6
    assert quick.row("Gaussian ones do not").passed is True
    assert quick.row("orthogonal in the flattened sense").passed is True
    assert quick.row("delta-orthogonal at criticality trains").passed is True
    # Delta-orthogonal's mean loss is the lowest; with 2 lrs (best lrs at the grid's ends) the
    # row is undecided at quick scale whatever the paired CIs.
    faster = quick.row("learns faster than Gaussian")
    assert faster.passed is None and "paired, n = 3" in faster.ours
    # At 32 layers and 6 epochs no Gaussian seed reaches the threshold (the anchor's claim),
    # but with 2 lrs every best lr is an end of the grid: undecided. With its best lr inside a
    # wider grid the same losses decide the row.
    gauss = quick.row("Gaussian kernels at criticality do not train")
    assert gauss.passed is None and "an end of the lr grid ([0.03, 0.1])" in gauss.why
    m = exp.measure(quick.results)
    inside = {i: {d: 0.03 for d in m["depths"]} for i in exp.TRAINED_INITS}
    decided = exp.verdict({**m, "lrs": [0.01, 0.03, 0.1], "tuned_lr": inside})
    assert decided[4].passed is True and decided[4].why != gauss.why
    # The ReLU + He baseline is trained on the same seeds, lrs and depths and has no
    # spectrum; at c = 8 and 32 layers (fan-in 72 < 16 × 32) its row is shown, not judged.
    he = quick.row("He-initialized plain ReLU conv nets")
    assert he.passed is None and "not judged: fan-in 9c = 72 < 16 × 32 layers" in he.why
    # With wide layers the same numbers would be judged: the 32-layer nets sit at chance
    # (a fail where their best lr lies inside the grid; undecided at its end, as here).
    wide = exp.verdict({**m, "channels": 64})[-1]
    assert wide.passed is None and wide.ours == he.ours and "an end of the lr grid" in wide.why
    wide = exp.verdict({**m, "channels": 64, "lrs": [0.01, 0.03, 0.1], "tuned_lr": inside})[-1]
    assert wide.passed is False
    assert list(quick.results.init.values) == [*exp.INITS, exp.BASELINE]
    assert np.isnan(quick.results.sv2.sel(init=exp.BASELINE)).all()
    assert np.isfinite(quick.results.train_loss.sel(init=exp.BASELINE).isel(epoch=0)).all()
    quick.assert_figures()


def test_measure_against_hand_computation(quick):
    res, m = quick.results, exp.measure(quick.results)
    assert m["depths"] == [4, 32] and m["jac_depth"] == 64 and res.sizes["seed"] == 3
    assert (m["channels"], m["side"]) == (8, 7) and res.sizes["k"] == 7 * 7 * 8
    # Spread of the delta-orthogonal Jacobian at depth 64, by hand from the saved s².
    s2 = res.sv2.sel(init="delta_orthogonal", kept_depth=64).values.astype(np.float64)
    np.testing.assert_allclose(m["spread"]["delta_orthogonal"], s2.var(-1) / s2.mean(-1) ** 2)
    # Depth 1, delta-orthogonal: one orthogonal map per position, an exact isometry.
    one = res.sv2.sel(init="delta_orthogonal", kept_depth=1).values
    np.testing.assert_allclose(one, 1.0, rtol=1e-4)
    # The deepest trained nets: the lr with the lowest seed-mean final loss, none diverged.
    for init in exp.TRAINED_INITS:
        last = res.train_loss.sel(init=init, depth=32).isel(epoch=-1)
        if res.diverged.sel(init=init, depth=32).any():
            continue
        best = int(last.mean("seed").argmin("lr"))
        np.testing.assert_allclose(m["final_loss"][init][32], last.isel(lr=best).values)
    assert exp.verdict(m) == quick.rows


@pytest.mark.e2e
def test_the_full_configs_evaluation_schedule_runs_end_to_end(tmp_path, monkeypatch, fashion_mnist):
    """The full config evaluates every 2 epochs on a subset and the last epoch on everything;
    shrunk to 2 layers, 4 channels and 64 images, it runs, measures and draws: the final
    epoch is finite, the epochs between evaluations are NaN, and the curves skip them."""
    base, grid = exp.CONFIGS["full"]
    assert (base.eval_every, base.epochs % base.eval_every) == (2, 0)
    tiny = {**grid, "depths": (2,), "channels": 4, "seeds": 2, "lrs": (0.03,),
            "train_examples": 64, "test_examples": 32,
            "jacobian": {"depth": 2, "keep": (1, 2), "seeds": 2}}  # fmt: skip
    monkeypatch.setitem(exp.CONFIGS, "full", (base.replace(epochs=4, eval_examples=16), tiny))
    with shard.on_devices(jax.devices()[:1]):  # one device, as `initjax run` trains
        exp.run(tmp_path, "full", progress=False)
    res = exp.load(tmp_path)
    loss = res.train_loss.sel(lr=0.03)
    assert np.isfinite(loss.sel(epoch=[0, 2, 4])).all()
    assert np.isnan(loss.sel(epoch=[1, 3])).all()
    rows = exp.verdict(exp.measure(res))
    assert len(rows) == 6 and np.isfinite(exp.measure(res)["final_loss"]["gaussian"][2]).all()
    assert all(p.exists() for p in exp.figures(tmp_path))


def test_learns_faster_is_a_paired_interval_per_kernel(quick):
    """The 'learns faster' row: paired 95% t-intervals of (other − delta-orthogonal) final
    loss, by hand; clear gaps over 5 seeds pass, a reversed one fails, a diverged net counts
    as chance."""
    from scipy import stats

    m = exp.measure(quick.results)
    deep = m["depths"][-1]
    delta = np.asarray(m["final_loss"]["delta_orthogonal"][deep])
    for other in ("gaussian", "orthogonal"):
        d = np.asarray(m["final_loss"][other][deep]) - delta
        half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
        assert f"[{d.mean() - half:+.4f}, {d.mean() + half:+.4f}]" in exp.verdict(m)[3].ours

    lr_in = {i: {d: 0.03 for d in m["depths"]} for i in exp.TRAINED_INITS}
    inside = {"lrs": [0.01, 0.03, 0.1], "tuned_lr": lr_in}

    def row(losses, grid=inside):
        final = {i: {**m["final_loss"][i], deep: v} for i, v in losses.items()}
        return exp.verdict({**m, **grid, "final_loss": {**m["final_loss"], **final}})[3]

    seeds = np.array([0.0, 0.01, -0.01, 0.02, -0.02])
    good = {
        "delta_orthogonal": 1.0 + seeds,
        "gaussian": 2.0 + seeds[::-1],
        "orthogonal": 1.5 - seeds,
    }
    assert row(good).passed is True
    edge = {
        "lrs": inside["lrs"],
        "tuned_lr": {**lr_in, "gaussian": {d: 0.01 for d in lr_in["gaussian"]}},
    }
    assert row(good, edge).passed is None  # a best lr at the grid's end: undecided
    assert row({**good, "orthogonal": 0.5 + seeds}).passed is False
    assert row({**good, "gaussian": np.full(5, np.nan)}).passed is True  # diverged: chance


def test_the_committed_full_run_is_judged_again_to_its_saved_verdict():
    """docs/deep_cnn (c = 16, depths 8/32/128, 5 seeds, 3 lrs, spectra to depth 256): judged
    again to its saved rows; the best lr and its final loss recomputed with plain loops, and
    the training rows undecided because the deep cells' best lr is the grid's smallest."""
    from pathlib import Path

    from initjax.verdict import load_verdict

    docs = Path(__file__).resolve().parents[1] / "docs" / "deep_cnn"
    rows = study.judge(exp, docs)
    assert rows == load_verdict(docs)
    assert [r.passed for r in rows] == [True, True, None, None, None, None]
    res = exp.load(docs)
    sizes = {d: res.sizes[d] for d in ("init", "depth", "seed", "lr", "epoch")}
    assert sizes == {"init": 4, "depth": 3, "seed": 5, "lr": 3, "epoch": 11}
    assert (res.attrs["channels"], int(res.kept_depth.max()), res.sizes["jac_seed"]) == (16, 256, 4)
    m = exp.measure(res)
    lrs = [float(v) for v in res.lr.values]
    for init in exp.TRAINED_INITS:
        for depth in m["depths"]:
            loss = res.train_loss.sel(init=init, depth=depth).isel(epoch=-1)
            div = res.diverged.sel(init=init, depth=depth).astype(bool)
            means = {}
            for j, lr in enumerate(lrs):  # by hand: seed-mean final loss of lrs with no divergence
                seeds = loss.isel(lr=j).values
                if not div.isel(lr=j).values.any():
                    means[lr] = float(np.mean(seeds))
            best = min(means, key=means.get)
            assert m["tuned_lr"][init][depth] == best
            np.testing.assert_allclose(
                m["final_loss"][init][depth], loss.sel(lr=best).values, rtol=1e-6
            )
    for init in exp.INITS:  # every 128-layer cell tuned to the smallest lr: the grid's end
        assert m["tuned_lr"][init][128] == min(lrs)
    assert "an end of the lr grid" in rows[2].why and "at lr 0.01" in rows[2].ours
