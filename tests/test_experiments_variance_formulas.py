"""variance_formulas at quick scale: the note's variance table (claim C5)."""

import numpy as np

from initjax import study

exp = study.load("variance_formulas")


def test_note_variance_table_is_wrong_by_a_factor_two(quick):
    v = quick.results
    xavier = (v["var"] * (v.n_in + v.n_out)).sel(scheme=["xavier_normal", "xavier_uniform"])
    np.testing.assert_allclose(xavier, 2.0, rtol=0.02)  # the note's table says 1
    he = (v["var"] * v.n_in).sel(scheme=["he_normal", "he_uniform"])
    np.testing.assert_allclose(he, 2.0, rtol=0.02)
    assert [r.passed for r in quick.rows] == [True, True]
    # sampled variances against the formulas they were drawn from: sanity checks
    assert [r.kind for r in quick.rows] == ["sanity", "sanity"]


def test_measure_on_quick_results(quick):
    m = exp.measure(quick.results)
    assert len(m["xavier_ratio"]) == len(m["he_ratio"]) == 2 * len(exp.PAIRS)
    np.testing.assert_allclose(m["xavier_sum_var"], 2.0, rtol=0.02)
    assert 0.99 < min(m["fill"]) and max(m["fill"]) <= 1 + 1e-6
    assert exp.verdict(m) == quick.rows
    m["xavier_ratio"] = [0.5] * len(m["xavier_ratio"])  # the note's 1/(n_in + n_out)
    assert exp.verdict(m)[0].passed is False
