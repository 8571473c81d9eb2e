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
    assert quick.row("MNIST-1D logistic").passed is True
    assert quick.row("MNIST-1D MLP").passed is True


def test_zero_init_mlp_predicts_one_class(quick):
    res = quick.results
    zeros = res.test_acc.sel(run="zeros")
    # Only the output bias learns: every epoch predicts a single class.
    assert float(zeros.max()) <= res.attrs["majority_test_share"] + 1e-6
    assert quick.row("C1: an all-zero").passed is True


def test_quick_rows_all_pass_and_figures_exist(quick):
    assert quick.failed == []
    quick.assert_figures()


def test_measure_on_quick_results(quick):
    res = quick.results
    m = exp.measure(res)
    assert set(m["acc"]) == {str(r) for r in res.run.values} and m["steps"] > 0
    assert np.all(m["acc"]["zeros"] <= m["majority"] + 1e-6)
    assert exp.verdict(m) == quick.rows
    m["acc"]["zeros"] = m["acc"]["zeros"] + 0.5  # an all-zero net that learned fails C1
    assert quick.row("C1: an all-zero", exp.verdict(m)).passed is False
