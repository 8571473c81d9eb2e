"""symmetry at quick scale (MNIST-1D, offline): claims C1 and C6."""

import math

import numpy as np

from initjax import study

exp = study.load("symmetry")


def test_every_quick_row_but_one_is_decided(quick):
    assert len(quick.rows) >= 7
    # The one row that does not pass: with W ~ N(0, 0.01²), random biases raise the test
    # accuracy by about a point after 10 epochs, the margin itself (see below): undecided.
    assert quick.failed == ["C6: zero vs random bias (W ~ N(0, 0.01²))"]
    assert all(r.passed is not None for r in quick.rows if r.claim not in quick.failed)


def test_softmax_zero_init_reaches_the_same_accuracy(quick):
    acc = quick.results["softmax"].test_acc.isel(epoch=-1)
    assert abs(float(acc.sel(sigma=0.0).mean() - acc.sel(sigma=0.01).mean())) <= 0.005
    assert float(acc.sel(sigma=0.0).mean()) > 0.2  # it learned (chance is 0.1)
    assert quick.row("C1 (softmax").passed


def test_constant_hidden_weights_stay_exactly_identical(quick):
    const = quick.results["constant"].sel(layer="hidden_0")
    pos = const.where(const.sigma > 0, drop=True)
    # exactly zero, not merely small: every hidden column equals every other, every epoch
    assert float(pos.symmetry_distance.max()) == 0.0
    np.testing.assert_array_equal(pos.weight_rank.values, 1.0)
    cfg, _ = exp.CONFIGS["quick"]["constant"]
    assert pos.sizes["epoch"] == cfg.epochs + 1
    assert quick.row("C1 (MLP, constant W): hidden").passed
    assert quick.row("C1 (MLP, constant W): a one-unit").passed


def test_all_zero_relu_net_moves_only_its_output_bias(quick):
    zero = quick.results["constant"].sel(sigma=0.0)
    assert float(np.abs(zero.weight_std).max()) == 0.0
    assert float(np.abs(zero.grad_norm).max()) == 0.0
    np.testing.assert_array_equal(zero.weight_rank.values, 0.0)
    # the loss starts at ln 10 and ends at the entropy of the training labels
    np.testing.assert_allclose(zero.train_loss.isel(epoch=0), math.log(10), rtol=1e-6)
    np.testing.assert_allclose(zero.train_loss.isel(epoch=-1), float(zero.prior_entropy), atol=1e-3)
    # it predicts one class for every input: its accuracy is that class's test frequency
    predicted = exp.constant_prediction(zero.test_acc.isel(epoch=-1), zero.test_class_freq)
    assert (predicted >= 0).all()
    assert quick.row("C1 (ReLU MLP, W = 0): no kernel").passed
    assert quick.row("C1 (ReLU MLP, W = 0): only").passed


def test_constant_prediction_finds_the_predicted_class():
    freq = np.array([0.102, 0.098, 0.089, 0.711])
    np.testing.assert_array_equal(
        exp.constant_prediction(np.array([0.089, 0.5, 0.102]), freq), [2, -1, 0]
    )


def test_bias_row_is_an_equivalence_test_with_three_outcomes():
    zero = np.array([0.80, 0.82, 0.79, 0.81, 0.80, 0.83, 0.78, 0.80])
    tiny = np.array([0.001, -0.002, 0.0, 0.002, -0.001, 0.001, 0.0, -0.001])
    noisy = np.array([0.02, -0.03, 0.01, 0.03, -0.02, 0.0, 0.025, -0.03])

    def row(random):
        return exp.bias_row({"sigma": 0.01, "zero": zero, "random": random}, 0.1)

    same = row(zero + tiny)
    assert same.passed is True and "equivalent" in same.ours and "90% CI" in same.ours
    assert "±0.01" in same.anchor and "TOST" in same.anchor
    assert row(zero + 0.03 + tiny).passed is False  # a 3-point effect is shown
    # n = 8 noisy pairs: |Δ| ≤ 2.4 points would have passed the old fixed tolerance, but
    # neither equivalence nor a difference is shown: undecided
    undecided = row(zero + noisy)
    assert undecided.passed is None and "inconclusive" in undecided.ours


def test_biases_zero_or_random_and_random_bias_breaks_symmetry(quick):
    bias_rows = [x for x in quick.rows if x.claim.startswith("C6: zero vs random bias")]
    _, grid = exp.CONFIGS["quick"]["gaussian_zero_bias"]
    assert len(bias_rows) == len(grid["sigmas"]) and grid["seeds"] >= 5
    # A paired TOST with a 1-point margin over 10 seeds: at σ = 0.1 zero and random biases
    # are equivalent; at σ = 0.01 random biases help (Δ ≈ +1 point, 90% CI about [+0.5,
    # +1.5]): a difference from 0 is shown, but not one beyond the margin: undecided.
    scaled = quick.row("C6: zero vs random bias (W ~ N(0, 0.1²))")
    assert scaled.passed is True and ": equivalent (TOST p" in scaled.ours
    tiny = quick.row("C6: zero vs random bias (W ~ N(0, 0.01²))")
    assert tiny.passed is None and ": different (TOST p" in tiny.ours and "Δ = +" in tiny.ours
    noisy = quick.results["constant_random_bias"].sel(layer="hidden_0")
    assert float(noisy.symmetry_distance.isel(epoch=0).max()) == 0.0  # constant W at init
    assert float(noisy.symmetry_distance.isel(epoch=-1).min()) > 0.0
    assert quick.row("C6: random biases alone").passed


def test_figures_exist(quick):
    quick.assert_figures()


def test_measure_on_quick_results(quick):
    m = exp.measure(quick.results)
    assert m["data"] == "MNIST-1D" and m["hidden"] == 128
    assert m["dist"].max() == 0.0 and np.all(m["rank"] == 1)
    assert m["moved"].max() == 0.0
    assert np.all(np.abs(m["zero_loss"] - m["prior_entropy"]) <= 1e-3)
    assert [c["sigma"] for c in m["bias"]] == [0.01, 0.1]
    assert exp.verdict(m) == quick.rows
    m["dist"] = m["dist"] + 1e-3  # hidden units drifting apart would fail the C1 row
    assert quick.row("C1 (MLP, constant W): hidden units", exp.verdict(m)).passed is False


def test_the_c1_rows_are_judged_by_intervals_and_can_fail(quick):
    m = exp.measure(quick.results)
    n = len(m["acc0"])
    rows = exp.verdict(m)
    assert "TOST" in rows[0].ours and "95% CI" in quick.row("one-unit net").ours
    far = dict(m, acc0=np.asarray(m["acc1"]) - 0.05)  # W = 0 five points behind on every seed
    assert exp.verdict(far)[0].passed is False
    wobble = np.resize([0.02, -0.02], n)
    noisy = dict(m, acc0=np.asarray(m["acc1"]) + wobble)  # 0 ± 2 points: not shown either way
    assert exp.verdict(noisy)[0].passed is None
    gauss = 0.5 + np.resize([0.001, -0.001], len(m["gauss_acc"]))
    const = 0.49 + np.resize([0.001, -0.001], len(m["const_acc"]))
    close = dict(m, gauss_acc=gauss, const_acc=const)  # one point behind, tightly: fails
    assert quick.row("one-unit net", exp.verdict(close)).passed is False
