"""variance_formulas at quick scale: the note's variance table (claim C5)."""

import numpy as np
import pytest

from initjax import study

vf = study.load("variance_formulas")


@pytest.fixture(scope="module")
def quick(quick_runs):
    return quick_runs("variance_formulas"), vf.load(quick_runs.root / "variance_formulas")


def test_note_variance_table_is_wrong_by_a_factor_two(quick):
    rows, v = quick
    xavier = (v["var"] * (v.n_in + v.n_out)).sel(scheme=["xavier_normal", "xavier_uniform"])
    np.testing.assert_allclose(xavier, 2.0, rtol=0.02)  # the note's table says 1
    he = (v["var"] * v.n_in).sel(scheme=["he_normal", "he_uniform"])
    np.testing.assert_allclose(he, 2.0, rtol=0.02)
    assert [r.passed for r in rows] == [True, True]


def test_measure_on_quick_results(quick):
    rows, v = quick
    m = vf.measure(v)
    assert len(m["xavier_ratio"]) == len(m["he_ratio"]) == 2 * len(vf.PAIRS)
    np.testing.assert_allclose(m["xavier_sum_var"], 2.0, rtol=0.02)
    assert 0.99 < min(m["fill"]) and max(m["fill"]) <= 1 + 1e-6
    assert vf.verdict(m) == rows
    m["xavier_ratio"] = [0.5] * len(m["xavier_ratio"])  # the note's 1/(n_in + n_out)
    assert vf.verdict(m)[0].passed is False
