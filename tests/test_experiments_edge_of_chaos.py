"""edge_of_chaos at quick scale: mean-field theory of tanh nets (claim C3; Schoenholz 2017)."""

import numpy as np

from initjax import data, study, theory

exp = study.load("edge_of_chaos")


def test_length_map_simulation_matches_theory(quick):
    assert quick.row("length map").passed is True
    qmap = quick.results["qmap"]
    rel = qmap.q_measured.mean("seed") / qmap.q_predicted - 1
    assert float(abs(rel).max()) <= 0.05
    # Layer 1 by hand: q^1 = σ_w² |x|²/N + σ_b², averaged over the probe examples.
    _, q = exp.CONFIGS["quick"]["qmap"]
    x = data.load("mnist1d").x_train[: q["examples"]]
    q1 = qmap.sigma_w2.values * float((x.astype(np.float64) ** 2).mean()) + exp.SIGMA_B2
    np.testing.assert_allclose(qmap.q_predicted.sel(layer=1), q1, rtol=1e-4)


def test_critical_point_is_the_published_one(quick):
    assert quick.row("critical init").passed is True
    assert quick.row("critical init").sanity  # it checks our quadrature, not the claim
    heat = quick.results["trainability"]
    assert abs(heat.attrs["critical_sigma_w2"] - 1.76) < 0.01
    # 6ξ_c is infinite (or huge) at the critical point and ~22 at σ_w² = 1.
    xi = float(theory.trainable_depth(1.0, exp.SIGMA_B2**0.5))
    np.testing.assert_allclose(heat.six_xi_c_at_sigma.sel(sigma=1.0), xi, rtol=1e-5)
    assert 20 < xi < 24


def test_only_near_critical_nets_train_deep(quick):
    # At one lr the σ_w² are not compared at a tuned lr: the row waits for the full grid.
    row = quick.row("deepest nets")
    assert row.passed is None and "one lr" in row.why and "resampled seeds" in row.ours
    heat = quick.results["trainability"]
    acc = heat.train_acc.isel(epoch=-1).mean("seed")
    deep = acc.sel(depth=heat.depth.max())
    assert float(deep.sel(sigma=1.76)) > float(deep.sel(sigma=1.0)) + 0.1
    # Every σ_w² trains the shallow net; the ordered deep net is the untrainable cell.
    ok = exp.trainable(heat)
    assert bool(ok.sel(depth=heat.depth.min()).all())
    assert not bool(ok.sel(depth=heat.depth.max(), sigma=1.0))
    # One cell beyond 6ξ_c at quick scale: the rows say n/a rather than deciding; so do the
    # fits (too few uncensored σ_w²).
    for b in exp.budgets(heat):
        assert quick.row(f"deeper than 6 ξ_c do not train ({b} epoch").passed is None
        assert quick.row(f"≈ 6 ξ_c ({b} epoch").passed is None
    assert quick.row("scales as ξ_c").passed is None


def test_figures_exist(quick):
    quick.assert_figures()


def test_measure_on_quick_results(quick):
    m = exp.measure(quick.results)
    assert m["q_worst_rel_error"] <= exp.Q_TOLERANCE
    assert abs(m["critical_sigma_w2"] - exp.PUBLISHED_CRITICAL_SW2) < 0.01
    long = str(m["budgets"][-1])
    assert len(m["per_budget"][long]["deepest_trainable"]) == len(m["sigma_w2"]) == 4
    assert m["sigma_w2"][m["best"]] == m["sigma_w2"][m["nearest_critical"]] == 1.76
    assert exp.verdict(m) == quick.rows
    # With an lr grid, "deepest nets" reads where the best σ_w² lands over resampled seeds.
    tuned = dict(m, lrs=[0.005, 0.02, 0.08])
    for best_range, outcome in (((1.76, 1.76), True), ((3.0, 4.0), False), ((1.76, 3.0), None)):
        row = quick.row("deepest nets", exp.verdict(dict(tuned, best_range=best_range)))
        assert row.passed is outcome, best_range
    m["critical_sigma_w2"] = 2.0  # a wrong critical point fails its row
    assert quick.row("critical init", exp.verdict(m)).passed is False
    # A decided fit: its row agrees iff the CI meets [6/√2, 6·√2].
    m["fits"][long] = {"n": 8, "c": 2.0, "c_lo": 1.5, "c_hi": 2.6, "slope": 1.1, "slope_half": 0.3}
    assert quick.row(f"≈ 6 ξ_c ({long} epoch", exp.verdict(m)).passed is False
    m["fits"][long].update(c=5.0, c_lo=4.0, c_hi=6.3)
    assert quick.row(f"≈ 6 ξ_c ({long} epoch", exp.verdict(m)).passed is True
    assert quick.row("scales as ξ_c", exp.verdict(m)).passed is True


def test_the_committed_full_run_is_judged_again_to_its_saved_verdict():
    """docs/edge_of_chaos: at depth 256 no σ_w² trains (every seed-mean train accuracy at
    chance), so "the deepest nets train only near the critical point" is undecided there."""
    from pathlib import Path

    from initjax.verdict import load_verdict

    docs = Path(__file__).resolve().parents[1] / "docs" / "edge_of_chaos"
    rows = study.judge(exp, docs)
    assert rows == load_verdict(docs)
    m = exp.measure(exp.load(docs))
    deepest = m["per_budget"][str(m["budgets"][-1])]["deepest_trainable"]
    assert max(deepest) < m["depth_max"]
    row = next(r for r in rows if "deepest nets" in r.claim)
    assert row.passed is None and "no σ_w² trains" in row.why


def test_a_tuned_lr_grid_takes_each_cells_best_lr_per_budget():
    import xarray as xr

    # (seed, depth, sigma, lr, epoch): at epoch 1 lr 0.08 is best in cell (0, 0), lr 0.005 in
    # cell (0, 1); at epoch 2 the other way round; a diverged run (NaN) counts as chance.
    acc = np.full((2, 1, 2, 2, 2), 0.2)
    acc[:, 0, 0, 1, 0], acc[:, 0, 1, 0, 0] = 0.9, 0.7
    acc[:, 0, 0, 0, 1], acc[:, 0, 1, 1, 1] = 0.8, 0.6
    acc[0, 0, 1, 0, 0] = np.nan  # one seed of the best lr of cell (0, 1) diverged at epoch 1
    heat = xr.Dataset(
        {"train_acc": (("seed", "depth", "sigma", "lr", "epoch"), acc)},
        coords={"depth": [8], "sigma": [1.0, 2.0], "lr": [0.005, 0.08], "epoch": [1, 2]},
        attrs={"budgets": "[1, 2]", "config_deepest": '{"lr": 0.02}'},
    )
    e1 = exp.accuracy(heat, 1).values[0]
    np.testing.assert_allclose(e1, [0.9, (0.1 + 0.7) / 2])
    np.testing.assert_allclose(exp.accuracy(heat, 2).values[0], [0.8, 0.6])
    assert exp.per_seed_accuracy(heat, 1).dims == ("seed", "depth", "sigma")
    assert exp.tuned_lrs(heat, 1) == [0.005, 0.08] and exp.tuned_lrs(heat, 2) == [0.005, 0.08]
    one = heat.isel(lr=0, drop=True)  # a one-lr run has no lr axis: its config's lr
    assert exp.tuned_lrs(one, 1) == [0.02]
    np.testing.assert_allclose(exp.accuracy(one, 2).values[0], [0.8, 0.2])


def test_the_multiple_rows_why_says_which_way_it_went():
    from _edge_of_chaos_rows import multiple_why

    assert "2 uncensored σ_w², needs ≥ 4" in multiple_why({"n": 2, "c_lo": 1, "c_hi": 9}, False)
    assert "CI ratio 5.00 > 4" in multiple_why({"n": 6, "c_lo": 1.0, "c_hi": 5.0}, False)
    assert "shorter than 6 ξ_c" in multiple_why({"n": 6, "c_lo": 1.0, "c_hi": 2.0}, True)
    assert "deeper than 6 ξ_c" in multiple_why({"n": 6, "c_lo": 9.0, "c_hi": 12.0}, True)
    assert "is the paper's" in multiple_why({"n": 6, "c_lo": 5.0, "c_hi": 7.0}, True)


def test_every_budget_epoch_is_evaluated_at_every_scale():
    """Trainability is read at the budgets' epochs: the evaluation schedule must include them
    (full scale evaluates only at init and the budgets)."""
    for scale, parts in exp.CONFIGS.items():
        cfg, grid = parts["trainability"]
        evaluated = {
            e for e in range(cfg.epochs + 1)
            if e % cfg.eval_every == 0 or e in cfg.eval_epochs or e == cfg.epochs
        }  # fmt: skip
        assert set(grid["budgets"]) <= evaluated, scale
        assert max(grid["budgets"]) == cfg.epochs, scale
    full = exp.CONFIGS["full"]["trainability"][0]
    assert (full.eval_every, full.eval_epochs) == (5, (1,))
