"""signal_propagation at quick scale (MNIST-1D, offline): claims C3 and C8."""

import math

import numpy as np
import pytest

from initjax import study

exp = study.load("signal_propagation")


def test_layer_slope_fits_the_log_per_layer_factor():
    assert exp.layer_slope(0.3 * 2.0 ** (-np.arange(30) / 2)) == pytest.approx(-0.5 * math.log(2))
    # from layer 0 on, a change in layer 0 counts; from layer 1 on (the default) it does not
    values = 2.0 ** np.arange(5.0)
    values[0] = 100.0
    assert exp.layer_slope(values) == pytest.approx(math.log(2))
    assert exp.layer_slope(values, first=0) < 0


def test_every_quick_row_is_decided_and_passes(quick):
    assert len(quick.rows) == 4
    assert quick.failed == []


def test_glorot_standard_vs_normalized(quick):
    assert quick.row("C3 (Glorot 2010): mean layer-Jacobian").passed
    assert quick.row("C3 (Glorot 2010): back-propagated").passed
    n = exp.inits(quick.results)
    sv = {k: float(n[k].layer_jacobian_sv.isel(layer=slice(1, -1)).mean()) for k in exp.GLOROT_SV}
    assert abs(sv["standard"] - 0.5) < 0.1 and abs(sv["normalized"] - 0.8) < 0.1


def test_deep_relu_xavier_halves_the_second_moment_per_layer(quick):
    n = exp.inits(quick.results)
    xavier = np.mean([exp.layer_slope(v) for v in n["xavier"].act_std.values])
    he = np.mean([exp.layer_slope(v) for v in n["he"].act_std.values])
    assert xavier == pytest.approx(-0.5 * math.log(2), rel=0.1)
    assert abs(he) < 0.035
    assert quick.row("C3/C8 (He 2015").passed
    assert quick.row("C3 (He 2015): Xavier's gradients").passed


def test_measure_on_quick_results(quick):
    m = exp.measure(quick.results)
    assert m["width"] == 256
    assert abs(np.mean(m["sv"]["standard"]) - 0.5) < 0.1
    assert np.mean(m["factor"]["standard"]) * math.sqrt(3) == pytest.approx(1, abs=0.1)
    assert np.mean(m["gslope"]["xavier"]) == pytest.approx(0.5 * math.log(2), rel=0.1)
    assert exp.verdict(m) == quick.rows
    m["slope"]["he"] = [-0.1] * len(m["slope"]["he"])  # He's activations shrinking fails C3/C8
    assert quick.row("C3/C8 (He 2015", exp.verdict(m)).passed is False


def test_figures_exist(quick):
    quick.assert_figures()
