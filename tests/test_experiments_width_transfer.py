"""width_transfer at quick scale (MNIST-1D, offline): SP vs µP, best lr across width."""

import math

import numpy as np
import scipy.stats

from initjax import study

exp = study.load("width_transfer")


def test_best_index_never_picks_an_lr_where_a_seed_diverged():
    loss = np.array([[1.0, 0.5, 0.1], [1.0, 0.6, np.nan]])
    assert exp.best_index(loss) == 1
    assert exp.best_index(np.full((2, 3), np.nan)) == -1


def test_configs_sweep_parametrization_and_width_as_outer_axes():
    for cfg, grid in exp.CONFIGS.values():
        widths = [h[0] for h in grid["over"]["hidden"]]
        assert grid["over"]["parametrization"] == ("sp", "mup")
        assert cfg.base_width == min(widths) and cfg.order == "per_seed"
        assert np.allclose(np.diff(np.log2(grid["lrs"])), 1.0)  # one grid step = ×2
    assert exp.CONFIGS["full"][1]["seeds"] >= 5


def test_every_quick_row_is_decided_and_passes(quick):
    assert len(quick.rows) == 4
    assert all(r.passed is not None for r in quick.rows), [r.ours for r in quick.rows]
    assert quick.failed == [], [r.ours for r in quick.rows]


def test_mup_drifts_less_than_sp(quick):
    m = exp.measure(quick.results)
    assert m["mup"]["drift"] <= exp.MUP_MAX_DRIFT < m["sp"]["drift"]
    assert not any(m["sp"]["at_edge"] + m["mup"]["at_edge"])
    assert m["base_max_diff"] <= exp.SANITY_ATOL
    assert max(abs(v) for v in m["coord"]["mup"].values()) <= exp.COORD_TOL
    assert m["coord"]["sp"]["logits"] >= exp.SP_LOGIT_SLOPE


def test_measure_against_a_hand_computation(quick):
    ds = quick.results["sweep"]
    m = exp.measure(quick.results)
    log2_lrs = np.log2(ds.lr.values)
    assert m["widths"] == [32, 128, 512]
    for par in ("sp", "mup"):
        best = []
        for i, h in enumerate(ds.hidden.values):
            # train_loss: (parametrization, hidden, seed, sigma, lr, epoch)
            loss = ds.train_loss.sel(parametrization=par, hidden=h).values[:, 0, :, -1]
            mean = loss.mean(axis=0)
            assert np.all(np.isfinite(mean))  # no diverged seed at these lrs
            best.append(log2_lrs[np.argmin(mean)])
            half = scipy.stats.t.ppf(0.975, loss.shape[0] - 1) * loss.std(0, ddof=1)
            half /= math.sqrt(loss.shape[0])
            curve = m[par]["curves"][i]
            np.testing.assert_allclose(curve["mean"], mean, rtol=1e-6)
            np.testing.assert_allclose(curve["ci_high"], mean + half, rtol=1e-6)
            lo, hi = m[par]["best_ci"][i]
            assert lo <= best[-1] <= hi
        assert m[par]["best_log2_lr"] == best
        assert m[par]["drift"] == abs(best[-1] - best[0])
    assert exp.verdict(m) == quick.rows


def test_verdict_can_fail_and_stays_undecided_at_the_grid_edge(quick):
    m = exp.measure(quick.results)
    m["mup"]["drift"] = 3.0
    rows = exp.verdict(m)
    assert quick.row("µP: the best lr transfers", rows).passed is False
    assert quick.row("SP: the best lr drifts", rows).passed is False
    m["mup"]["at_edge"] = [False, False, True]
    assert quick.row("µP: the best lr transfers", exp.verdict(m)).passed is None
    m["coord"]["mup"]["hidden_1"] = 0.5
    assert quick.row("coordinate check", exp.verdict(m)).passed is False


def test_figures_exist(quick):
    quick.assert_figures()
