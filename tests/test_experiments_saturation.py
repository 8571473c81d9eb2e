"""saturation at quick scale (MNIST-1D, offline): claims C2 and C4."""

import math

import numpy as np
import pytest

from initjax import study

saturation = study.load("saturation")


@pytest.fixture(scope="module")
def sat(quick_runs):
    rows = quick_runs("saturation")
    out = quick_runs.root / "saturation"
    return rows, saturation.load(out), out


def row(rows, start):
    (found,) = [r for r in rows if r.claim.startswith(start)]
    return found


def test_saturating_scale_solves_max_softmax_equal_to_099():
    g = np.random.default_rng(1).standard_normal((50, 10))
    s = saturation.saturating_scale(g)
    p = np.exp(s[:, None] * g)
    np.testing.assert_allclose((p / p.sum(1, keepdims=True)).max(1), 0.99, rtol=1e-9)


def test_crossing_interpolates_in_log_sigma():
    sig = np.array([0.1, 1.0, 10.0])
    assert saturation.crossing(sig, np.array([0.0, 0.25, 0.75])) == pytest.approx(math.sqrt(10))
    assert math.isnan(saturation.crossing(sig, np.array([0.0, 0.1, 0.2])))


def test_every_quick_row_is_decided_and_passes(sat):
    rows, _, _ = sat
    assert len(rows) == 6
    assert all(r.passed is not None for r in rows)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


def test_grid_spans_four_decades_and_small_sigma_starts_at_ln10(sat):
    _, nets, _ = sat
    sig = nets["softmax"].sigma.values
    assert sig.max() / sig.min() >= 1e4
    for res in nets.values():
        loss = res.train_loss.isel(epoch=0).sel(sigma=sig.min()).mean()
        assert abs(float(loss) - math.log(10)) < 2e-3
        # the recorded probe loss agrees with the full-training-set loss at init
        assert set(res.data_vars) >= {"softmax_saturation", "saturation", "loss"}


def test_softmax_saturation_matches_the_gaussian_logit_prediction(sat):
    rows, nets, _ = sat
    sm = nets["softmax"]
    measured = sm.softmax_saturation.isel(epoch=0).mean("seed").values
    assert measured[0] == 0.0 and measured[-1] > 0.8
    np.testing.assert_allclose(measured, sm.pred_softmax_saturation.values, atol=0.1)
    assert row(rows, "C2: large σ saturates the softmax").passed
    assert row(rows, "C2: saturated initial loss").passed


def test_hidden_saturation_and_accuracy_cost(sat):
    rows, nets, _ = sat
    for name in ("tanh_2", "sigmoid_2"):
        first = nets[name].saturation.isel(epoch=0, hidden_layer=0).mean("seed")
        np.testing.assert_allclose(first, nets[name].pred_first_layer_saturation, atol=0.05)
    assert row(rows, "C2: large σ saturates tanh").passed
    assert row(rows, "C2: saturation at init costs").passed
    assert row(rows, "C4: 'suitably scaled'").passed


def test_figures_exist(sat):
    _, _, out = sat
    assert (out / "saturation.png").stat().st_size > 10_000
    assert (out / "saturation.svg").exists()


def test_measure_on_quick_results(sat):
    rows, nets, _ = sat
    m = saturation.measure(nets)
    assert m["smallest"] * 1e4 <= m["largest"]
    assert max(m["dev"].values()) <= m["tol"]
    assert abs(math.log(m["s50"] / m["p50"])) <= math.log(1.25)
    assert set(m["first_err"]) == {"tanh_2", "sigmoid_2"} == set(m["deep"])
    assert saturation.verdict(m) == rows
    m["first_err"]["tanh_2"] = 0.2  # a first layer off its prediction fails the row
    assert row(saturation.verdict(m), "C2: large σ saturates tanh").passed is False
