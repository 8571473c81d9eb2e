"""schemes_mnist1d at quick scale: MNIST-1D's published accuracies and init schemes."""

import math

import jax
import numpy as np

from initjax import init, study

exp = study.load("schemes_mnist1d")


def test_folded_schemes_are_the_same_draws():
    # The experiment runs he_* as lecun_*(gain √2) and zeros as normal(0): check it is exact.
    key, shape = jax.random.key(1), (40, 100)
    np.testing.assert_array_equal(
        init.he_uniform()(key, shape), init.lecun_uniform(math.sqrt(2))(key, shape)
    )
    np.testing.assert_array_equal(
        init.he_normal()(key, shape), init.lecun_normal(math.sqrt(2))(key, shape)
    )
    np.testing.assert_array_equal(init.normal(0.0)(key, shape), init.zeros()(key, shape))
    # torch nn.Linear's default U(±1/√n_in) is lecun_uniform with gain 1/√3.
    w = init.lecun_uniform(1 / math.sqrt(3))(key, shape)
    assert float(abs(w).max()) <= 1 / math.sqrt(40)
    assert float(abs(w).max()) > 0.99 / math.sqrt(40)


def test_published_accuracies(quick):
    res = quick.results
    last = res.test_acc.isel(epoch=-1)
    assert int(res.epoch.max()) * 40 == 6000  # the quickstart's 6000 steps of 100 examples
    assert abs(float(last.sel(run="logistic").mean()) - 0.32) <= 0.03
    mlp = float(last.sel(run="torch default").mean())
    assert min(abs(mlp - 0.68), abs(mlp - 0.646)) <= 0.04
    assert quick.row("MNIST-1D logistic").passed is True  # a convex problem: the seeds agree
    # Two seeds give a 95% t-interval of ±12.7 SE: the MLP row may stay undecided at quick.
    assert quick.row("MNIST-1D MLP").passed is not False


def test_zero_init_mlp_predicts_one_class(quick):
    res = quick.results
    zeros = res.test_acc.sel(run="zeros")
    # Only the output bias learns: every epoch predicts a single class.
    assert float(zeros.max()) <= res.attrs["majority_test_share"] + 1e-6
    assert quick.row("C1: an all-zero").passed is True


def test_quick_rows_agree_or_wait_for_seeds_and_figures_exist(quick):
    assert [r.passed for r in quick.rows if r.passed is not True] == [None] * len(quick.failed)
    assert set(quick.failed) <= {quick.row(k).claim for k in ("MNIST-1D MLP", "C8 (2 hidden")}
    quick.assert_figures()


def test_measure_on_quick_results(quick):
    res = quick.results
    m = exp.measure(res)
    assert set(m["acc"]) == {str(r) for r in res.run.values} and m["steps"] > 0
    assert np.all(m["acc"]["zeros"] <= m["majority"] + 1e-6)
    assert exp.verdict(m) == quick.rows
    m["acc"]["zeros"] = m["acc"]["zeros"] + 0.5  # an all-zero net that learned fails C1
    assert quick.row("C1: an all-zero", exp.verdict(m)).passed is False


def test_anchor_rows_read_intervals_against_the_published_band(quick):
    m = exp.measure(quick.results)
    m["acc"] = {k: np.asarray(v, dtype=float) for k, v in m["acc"].items()}
    fan = [lab for lab in exp.FAN_BASED if lab in m["acc"]]
    for lab in ["torch default", *fan]:
        m["acc"][lab] = np.array([0.66, 0.67, 0.665])  # CI ±0.012 inside [0.606, 0.72]
    assert quick.row("MNIST-1D MLP", exp.verdict(m)).passed is True
    assert quick.row("C8 (2 hidden", exp.verdict(m)).passed is True
    m["acc"][fan[0]] = np.array([0.50, 0.52, 0.51])  # one scheme wholly below the band
    assert quick.row("C8 (2 hidden", exp.verdict(m)).passed is False
    m["acc"][fan[0]] = np.array([0.58, 0.64, 0.61])  # one straddling its lower edge
    row = quick.row("C8 (2 hidden", exp.verdict(m))
    assert row.passed is None and fan[0] in row.ours
    m["acc"]["torch default"] = np.array([0.75, 0.76, 0.74])  # above the README's 68% + 4
    assert quick.row("MNIST-1D MLP", exp.verdict(m)).passed is False
    best = max((m["acc"][lab] for lab in fan), key=np.mean)  # torch default, at 0.75
    m["acc"]["constant(0.01)"] = best - np.array([0.30, 0.31, 0.29])  # a full run's constant arm
    assert quick.row("C1: constant weights", exp.verdict(m)).passed is True
    m["acc"]["constant(0.01)"] = best - np.array([0.10, 0.11, 0.09])  # only 10 points under
    assert quick.row("C1: constant weights", exp.verdict(m)).passed is False
