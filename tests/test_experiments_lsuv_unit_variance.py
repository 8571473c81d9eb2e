"""lsuv_unit_variance: Mishkin & Matas 2015 at quick scale."""

import math

from initjax import study

exp = study.load("lsuv_unit_variance")


def test_measure_on_quick_results(quick):
    assert quick.failed == [] and len(quick.rows) == 3
    assert [r.kind for r in quick.rows] == ["sanity", "evidence", "evidence"]  # LSUV makes it 1
    lsv = quick.results
    m = exp.measure(lsv)
    assert m["max_dev_fit"] <= exp.LSUV_TOL
    assert max(max(r) for r in m["iterations"]) <= 10
    for f in m["factor"].values():
        assert all(abs(v - 1 / math.sqrt(2)) <= 0.05 for v in f)
    # Plain orthogonal gain 1: the logits end up ~2^(-depth/2) smaller than the first layer.
    orth = lsv.output_std.sel(init="orthogonal", batch="fit").mean("seed")
    ratio = float(orth.isel(layer=-2) / orth.isel(layer=0))
    assert abs(math.log2(ratio) + (m["depth"] - 1) / 2) < 0.5


def test_verdict_fails_beyond_the_tolerance(quick):
    m = exp.measure(quick.results)
    m["max_dev_fit"] = 0.2
    assert exp.verdict(m)[0].passed is False


def test_figures_exist(quick):
    quick.assert_figures()
