"""saturation at quick scale (MNIST-1D, offline): claims C2 and C4."""

import math
from pathlib import Path

import numpy as np
import pytest

from initjax import study

exp = study.load("saturation")


def test_saturating_scale_solves_max_softmax_equal_to_099():
    g = np.random.default_rng(1).standard_normal((50, 10))
    s = exp.saturating_scale(g)
    p = np.exp(s[:, None] * g)
    np.testing.assert_allclose((p / p.sum(1, keepdims=True)).max(1), 0.99, rtol=1e-9)


def test_crossing_interpolates_in_log_sigma():
    sig = np.array([0.1, 1.0, 10.0])
    assert exp.crossing(sig, np.array([0.0, 0.25, 0.75])) == pytest.approx(math.sqrt(10))
    assert math.isnan(exp.crossing(sig, np.array([0.0, 0.1, 0.2])))


def test_configs_are_one_config_per_net_and_a_sigma_grid():
    for nets in exp.CONFIGS.values():
        for name, (cfg, grid) in nets.items():
            depth = 0 if cfg.model == "softmax" else len(cfg.hidden)
            assert name == ("softmax" if depth == 0 else f"{cfg.activation}_{depth}")
            assert grid["sigmas"][0] == 1e-3 and grid["sigmas"][-1] == 10.0
    assert exp.sigma_grid(2) == (0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16, 10.0)


def test_quick_rows_decided_where_the_data_decide_them(quick):
    assert len(quick.rows) == 6
    # ln 10 and the Monte-Carlo anchors hold by construction; the training costs are evidence
    assert [r.kind for r in quick.rows] == ["sanity"] * 4 + ["evidence"] * 2
    assert [r.passed for r in quick.rows[:5]] == [True] * 5
    # σ = 1e-3 stalls the tanh net (decided); with lr tuned up to 30 it costs the sigmoid net
    # only ~6 points at quick scale, too close to the 5-point margin for 5 seeds to decide
    m = exp.measure(quick.results)
    assert exp.costs(m, "smallest", ["tanh_2"])[0] is True
    assert quick.rows[5].passed is not False  # None here; True would not contradict it


def test_grid_spans_four_decades_and_small_sigma_starts_at_ln10(quick):
    nets = quick.results
    sig = nets["softmax"].sigma.values
    assert sig.max() / sig.min() >= 1e4
    for res in nets.values():
        loss = exp.at_init(res).train_loss.sel(sigma=sig.min()).mean()
        assert abs(float(loss) - math.log(10)) < 2e-3
        # the recorded probe loss agrees with the full-training-set loss at init
        assert set(res.data_vars) >= {"softmax_saturation", "saturation", "loss"}


def test_softmax_saturation_matches_the_gaussian_logit_prediction(quick):
    sm = quick.results["softmax"]
    measured = exp.at_init(sm).softmax_saturation.mean("seed").values
    assert measured[0] == 0.0 and measured[-1] > 0.8
    np.testing.assert_allclose(measured, sm.pred_softmax_saturation.values, atol=0.1)
    assert quick.row("C2: large σ saturates the softmax").passed
    assert quick.row("C2: saturated initial loss").passed


def test_hidden_saturation_and_accuracy_cost(quick):
    nets = quick.results
    for name in ("tanh_2", "sigmoid_2"):
        first = exp.at_init(nets[name]).saturation.isel(hidden_layer=0).mean("seed")
        np.testing.assert_allclose(first, nets[name].pred_first_layer_saturation, atol=0.05)
    assert quick.row("C2: large σ saturates tanh").passed
    assert quick.row("C2: saturation at init costs").passed


def test_figures_exist(quick):
    quick.assert_figures()


def test_measure_on_quick_results(quick):
    m = exp.measure(quick.results)
    assert m["smallest"] * 1e4 <= m["largest"]
    assert max(m["dev"].values()) <= m["tol"]
    assert abs(math.log(m["s50"] / m["p50"])) <= math.log(1.25)
    assert set(m["first_err"]) == {"tanh_2", "sigmoid_2"} == set(m["deep"])
    assert exp.verdict(m) == quick.rows
    m["first_err"]["tanh_2"] = 0.2  # a first layer off its prediction fails the row
    assert quick.row("C2: large σ saturates tanh", exp.verdict(m)).passed is False


DOCS = Path(__file__).resolve().parents[1] / "docs" / "saturation"


def test_the_committed_full_run_loads_and_its_sanity_checks_pass():
    nets = exp.load(DOCS)
    assert set(nets) == {"softmax", "tanh_1", "tanh_2", "sigmoid_1", "sigmoid_2"}
    rows = exp.verdict(exp.measure(nets))
    assert [r.passed for r in rows if r.kind == "sanity"] == [True] * 4
    # lr ∈ {0.1, …, 10}, the softmax's up to 100 and tanh_2's down to 0.01 (joined onto the
    # 5-lr run by _saturation_extend.py): σ = 10 costs every net > 5 points with its most
    # accurate lr inside the grid (softmax 30, tanh_2 0.1); σ = 10⁻³ costs the 2-layer nets
    # ~2 points with lr tuned inside the grid: "cuts both ways" is contradicted
    assert [list(r.lr.values) for r in (nets["softmax"], nets["tanh_2"])] == [
        [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    ]  # fmt: skip
    assert [r.passed for r in rows if r.kind == "evidence"] == [True, False]
    assert "(most accurate lr at the edge σ: 30, 0.773)" in rows[4].ours
    assert "(most accurate lr at the edge σ: 0.1, 0.589)" in rows[4].ours
    assert "sigmoid_2: 0.828 (lr 3)" in rows[5].ours


GRID = (0.1, 1.0, 10.0)


@pytest.mark.parametrize(
    ("ok", "lrs", "best_lr", "edge_lr", "edge_acc", "backed"),
    [
        (True, GRID, 1.0, 1.0, 0.5, True),  # the edge σ's most accurate lr inside, 30 points down
        (True, GRID, 1.0, 10.0, 0.5, False),  # ... at the top: a larger lr might close the gap
        (True, GRID, 1.0, 0.1, 0.5, False),  # ... at the bottom: a smaller one might
        (True, GRID, 1.0, math.nan, 0.1, False),  # every lr diverged at the edge σ
        (True, GRID, 1.0, 1.0, 0.76, False),  # at its most accurate lr within 5 points of 0.8
        (True, (0.1,), 0.1, 0.1, 0.5, False),  # one lr: nothing was tuned
        (False, GRID, 1.0, 10.0, 0.79, True),  # the best σ's tuned lr inside
        (False, GRID, 0.1, 1.0, 0.79, False),  # ... at an end
        (False, GRID, 10.0, 1.0, 0.79, False),
        (False, GRID, math.nan, 1.0, 0.79, False),
        (False, (1.0,), 1.0, 1.0, 0.79, False),
        (None, GRID, 10.0, 10.0, 0.5, True),  # undecided stays undecided
    ],
)
def test_the_lr_grid_must_back_a_cost_outcome(ok, lrs, best_lr, edge_lr, edge_acc, backed):
    assert exp.grid_backs(ok, lrs, best_lr, 0.8, edge_lr, edge_acc)[0] is backed


def test_a_stalled_net_is_judged_at_its_most_accurate_lr(quick):
    # tuned on train loss, the tanh net stalled at σ = 1e-3 picks the grid's smallest lr (its
    # loss stays at ln 10); the backing check reads the lr where it is most accurate instead
    m = exp.measure(quick.results)
    lrs = m["lrs"]["tanh_2"]
    assert m["tuned_lr"]["tanh_2"]["smallest"] == min(lrs)
    lr, acc = m["oracle"]["tanh_2"]["smallest"]
    assert min(lrs) < lr < max(lrs)
    res = quick.results["tanh_2"].sel(sigma=m["smallest"], lr=lr).isel(epoch=-1)
    assert acc == pytest.approx(float(res.test_acc.mean()))


def test_widening_a_saved_lr_grid_equals_sweeping_the_wide_grid(mnist1d_data):
    """experiments/_saturation_extend.py: the missing lrs, trained alone and joined along lr,
    equal one sweep over the whole grid; a saved net that is not the same net is refused."""
    import importlib.util
    import os
    import sys
    from pathlib import Path

    from initjax import sweep, train

    path = Path(os.environ["INITJAX_EXPERIMENTS"]) / "_saturation_extend.py"
    spec = importlib.util.spec_from_file_location("_saturation_extend", path)
    ext = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ext
    spec.loader.exec_module(ext)
    cfg = train.Config(model="softmax", scheme="normal", dataset="mnist1d", batch_size=128,
                       epochs=2, record=("saturation",), probe_size=64)  # fmt: skip
    sigmas = (0.01, 10.0)
    saved = sweep.run(cfg, mnist1d_data, 2, sigmas=sigmas, lrs=(0.3,), progress=False)
    saved["pred"] = ("sigma", np.array([1.0, 2.0]))  # a σ-only variable rides along
    grid = {"seeds": 2, "sigmas": sigmas, "lrs": (0.1, 0.3, 3.0)}
    assert ext.missing_lrs(saved, cfg, grid) == [0.1, 3.0]
    wide = ext.extend(saved, cfg, grid, mnist1d_data)
    direct = sweep.run(cfg, mnist1d_data, 2, sigmas=sigmas, lrs=grid["lrs"], progress=False)
    assert list(wide.lr.values) == [0.1, 0.3, 3.0] and wide.attrs["lrs_added"] == "[0.1, 3.0]"
    for name in ("train_loss", "test_acc", "saturation"):
        np.testing.assert_allclose(wide[name], direct[name], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(wide.train_loss.sel(lr=0.3), saved.train_loss.sel(lr=0.3))
    np.testing.assert_array_equal(wide.pred, [1.0, 2.0])
    assert ext.extend(wide, cfg, grid, mnist1d_data) is wide  # nothing missing: as it was
    for bad, words in (
        ((cfg.replace(epochs=3), grid), "config differs"),
        ((cfg, grid | {"seeds": 3}), "seeds"),
        ((cfg, grid | {"sigmas": (0.01, 1.0)}), "σ"),
        ((cfg, grid | {"lrs": (0.1, 1.0)}), "not all in the new grid"),
    ):
        with pytest.raises(ValueError, match=words):
            ext.missing_lrs(saved, *bad)
