"""deep_linear_orthogonal: Saxe 2013's depth-independent learning time at quick scale."""

import numpy as np

from initjax import study

exp = study.load("deep_linear_orthogonal")


def test_measure_on_quick_results(quick):
    linear = quick.results
    m = exp.measure(linear)
    assert (m["depth_min"], m["depth_max"], m["epochs"]) == (1, 16, 30)
    # At depth 1 the two inits learn equally fast; at depth 16 only orthogonal learns in time.
    shallow = np.subtract(m["orthogonal"]["shallow"], m["gaussian"]["shallow"])
    assert np.abs(shallow).max() <= 1
    assert m["orthogonal"]["never"] == 0 and m["orthogonal"]["growth"] <= 2
    assert m["gaussian"]["never"] == 2 and m["gaussian"]["growth"] >= 2
    t = exp.learning_time(linear)
    assert bool(np.isnan(t.sel(scheme="gaussian").isel(depth=-1)).all())


def test_verdict_rows_pass_and_flip_with_the_anchor(quick):
    assert [r.passed for r in quick.rows] == [True, True]
    m = exp.measure(quick.results)
    m["orthogonal"]["growth"] = 3.0  # orthogonal slowing down with depth would fail the row
    assert exp.verdict(m)[0].passed is False


def test_figures_exist(quick):
    quick.assert_figures()
