"""lsuv_unit_variance: Mishkin & Matas 2015 at quick scale."""

import math

import pytest

from initjax import study

exp = study.load("lsuv_unit_variance")


@pytest.fixture(scope="module")
def quick(quick_runs):
    rows = quick_runs("lsuv_unit_variance")
    out = quick_runs.root / "lsuv_unit_variance"
    return rows, exp.load(out), out


def test_measure_on_quick_results(quick):
    rows, lsv, _ = quick
    assert all(r.passed for r in rows) and len(rows) == 3
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
    _, lsv, _ = quick
    m = exp.measure(lsv)
    m["max_dev_fit"] = 0.2
    assert exp.verdict(m)[0].passed is False


def test_figures_exist(quick):
    _, _, out = quick
    assert (out / "lsuv_unit_variance.png").stat().st_size > 10_000
