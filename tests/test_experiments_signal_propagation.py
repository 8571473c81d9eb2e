"""signal_propagation at quick scale (MNIST-1D, offline): claims C3 and C7."""

import math

import numpy as np
import pytest

from initjax import study

sp = study.load("signal_propagation")


@pytest.fixture(scope="module")
def sig(quick_runs):
    rows = quick_runs("signal_propagation")
    out = quick_runs.root / "signal_propagation"
    return rows, sp.load(out), out


def row(rows, start):
    (found,) = [r for r in rows if r.claim.startswith(start)]
    return found


def test_layer_slope_and_first_layer_kurtosis_formulas():
    assert sp.layer_slope(0.3 * 2.0 ** (-np.arange(30) / 2)) == pytest.approx(-0.5 * math.log(2))
    # equal norms: no scale mixture, so Gaussian W gives 0 and uniform W a negative kurtosis
    x = np.ones((8, 4))
    assert sp.first_layer_kurtosis(x, uniform=False) == pytest.approx(0.0)
    assert sp.first_layer_kurtosis(x, uniform=True) == pytest.approx(-1.2 / 4)
    # two norms: 3·Var(q)/E[q]² for a Gaussian scale mixture
    x = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert sp.first_layer_kurtosis(x, uniform=False) == pytest.approx(
        3 * (17 / 2) / (5 / 2) ** 2 - 3
    )


def test_every_quick_row_is_decided(sig):
    rows, _, _ = sig
    assert len(rows) == 8
    assert all(r.passed is not None for r in rows)
    failed = [r.claim for r in rows if not r.passed]
    # the one expected failure: pooled over examples, deep ReLU pre-activations are a
    # heavy-tailed scale mixture at width 256 (per example they are Gaussian, next row)
    assert failed == ["C7 (ReLU, 30 layers): pooled pre-activations ≈ Gaussian (layers ≥ 2)"]


def test_glorot_standard_vs_normalized(sig):
    rows, r, _ = sig
    assert row(rows, "C3 (Glorot 2010): mean layer-Jacobian").passed
    assert row(rows, "C3 (Glorot 2010): back-propagated").passed
    n = sp.inits(r)
    sv = {k: float(n[k].layer_jacobian_sv.isel(layer=slice(1, -1)).mean()) for k in sp.GLOROT_SV}
    assert abs(sv["standard"] - 0.5) < 0.1 and abs(sv["normalized"] - 0.8) < 0.1


def test_deep_relu_xavier_halves_the_second_moment_per_layer(sig):
    rows, r, _ = sig
    n = sp.inits(r)
    xavier = np.mean([sp.layer_slope(v) for v in n["xavier"].act_std.values])
    he = np.mean([sp.layer_slope(v) for v in n["he"].act_std.values])
    assert xavier == pytest.approx(-0.5 * math.log(2), rel=0.1)
    assert abs(he) < 0.035
    assert row(rows, "C3/C8 (He 2015").passed
    assert row(rows, "C3 (He 2015): Xavier's gradients").passed


def test_normality_per_example_and_first_layer(sig):
    rows, r, _ = sig
    n = sp.inits(r)
    assert float(np.abs(n["he"].example_kurtosis.mean("seed")).max()) < 1.0
    assert float(n["normalized"].preact_ks.max()) < 0.05
    assert row(rows, "C7 (tanh").passed
    assert row(rows, "C7: per example").passed
    assert row(rows, "C7: layer 1").passed


def test_measure_on_quick_results(sig):
    rows, r, _ = sig
    m = sp.measure(r)
    assert m["width"] == 256
    assert abs(np.mean(m["sv"]["standard"]) - 0.5) < 0.1
    assert np.mean(m["factor"]["standard"]) * math.sqrt(3) == pytest.approx(1, abs=0.1)
    assert np.mean(m["gslope"]["xavier"]) == pytest.approx(0.5 * math.log(2), rel=0.1)
    assert m["pooled"]["normalized"][0] < 0.05 and m["pooled"]["he"][1] > 1  # heavy tails
    assert set(m["per_example"]) == {"standard", "normalized", "xavier", "he"}
    assert sp.verdict(m) == rows
    m["pooled"]["he"] = (0.01, 0.1)  # a Gaussian deep ReLU net would pass that row
    assert row(sp.verdict(m), "C7 (ReLU").passed is True


def test_figures_exist(sig):
    _, _, out = sig
    assert (out / "signal_propagation.png").stat().st_size > 10_000
    assert (out / "signal_propagation.svg").exists()
