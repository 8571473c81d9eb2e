"""symmetry at quick scale (MNIST-1D, offline): claims C1 and C6."""

import math

import numpy as np
import pytest

from initjax import results, study

symmetry = study.load("symmetry")


@pytest.fixture(scope="module")
def sym(quick_runs):
    rows = quick_runs("symmetry")
    out = quick_runs.root / "symmetry"
    return rows, {p: results.load(out / f"{p}.nc") for p in symmetry.PARTS}, out


def row(rows, start):
    (found,) = [r for r in rows if r.claim.startswith(start)]
    return found


def test_every_quick_row_is_decided_and_passes(sym):
    rows, _, _ = sym
    assert len(rows) >= 7
    assert all(r.passed is not None for r in rows), [r.claim for r in rows if r.passed is None]
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


def test_softmax_zero_init_reaches_the_same_accuracy(sym):
    rows, r, _ = sym
    acc = r["softmax"].test_acc.isel(epoch=-1)
    assert abs(float(acc.sel(sigma=0.0).mean() - acc.sel(sigma=0.01).mean())) <= 0.005
    assert float(acc.sel(sigma=0.0).mean()) > 0.2  # it learned (chance is 0.1)
    assert row(rows, "C1 (softmax").passed


def test_constant_hidden_weights_stay_exactly_identical(sym):
    rows, r, _ = sym
    const = r["constant"].sel(layer="hidden_0")
    pos = const.where(const.sigma > 0, drop=True)
    # exactly zero, not merely small: every hidden column equals every other, every epoch
    assert float(pos.symmetry_distance.max()) == 0.0
    np.testing.assert_array_equal(pos.weight_rank.values, 1.0)
    assert pos.sizes["epoch"] == symmetry.CONFIGS["quick"].epochs + 1
    assert row(rows, "C1 (MLP, constant W): hidden").passed
    assert row(rows, "C1 (MLP, constant W): a one-unit").passed


def test_all_zero_relu_net_moves_only_its_output_bias(sym):
    rows, r, _ = sym
    zero = r["constant"].sel(sigma=0.0)
    assert float(np.abs(zero.weight_std).max()) == 0.0
    assert float(np.abs(zero.grad_norm).max()) == 0.0
    np.testing.assert_array_equal(zero.weight_rank.values, 0.0)
    # the loss starts at ln 10 and ends at the entropy of the training labels
    np.testing.assert_allclose(zero.train_loss.isel(epoch=0), math.log(10), rtol=1e-6)
    np.testing.assert_allclose(zero.train_loss.isel(epoch=-1), float(zero.prior_entropy), atol=1e-3)
    # it predicts one class for every input: its accuracy is that class's test frequency
    predicted = symmetry.constant_prediction(zero.test_acc.isel(epoch=-1), zero.test_class_freq)
    assert (predicted >= 0).all()
    assert row(rows, "C1 (ReLU MLP, W = 0): no kernel").passed
    assert row(rows, "C1 (ReLU MLP, W = 0): only").passed


def test_constant_prediction_finds_the_predicted_class():
    freq = np.array([0.102, 0.098, 0.089, 0.711])
    np.testing.assert_array_equal(
        symmetry.constant_prediction(np.array([0.089, 0.5, 0.102]), freq), [2, -1, 0]
    )


def test_biases_zero_or_random_and_random_bias_breaks_symmetry(sym):
    rows, r, _ = sym
    bias_rows = [x for x in rows if x.claim.startswith("C6: zero vs random bias")]
    assert len(bias_rows) == len(symmetry.CONFIGS["quick"].sigmas)
    assert all(x.passed for x in bias_rows)
    noisy = r["constant_random_bias"].sel(layer="hidden_0")
    assert float(noisy.symmetry_distance.isel(epoch=0).max()) == 0.0  # constant W at init
    assert float(noisy.symmetry_distance.isel(epoch=-1).min()) > 0.0
    assert row(rows, "C6: random biases alone").passed


def test_figures_exist(sym):
    _, _, out = sym
    assert (out / "symmetry.png").stat().st_size > 10_000
    assert (out / "symmetry.svg").exists()


def test_measure_on_quick_results(sym):
    rows, r, _ = sym
    m = symmetry.measure(r)
    assert m["data"] == "MNIST-1D" and m["hidden"] == 128
    assert m["dist"].max() == 0.0 and np.all(m["rank"] == 1)
    assert m["moved"].max() == 0.0
    assert np.all(np.abs(m["zero_loss"] - m["prior_entropy"]) <= 1e-3)
    assert [c["sigma"] for c in m["bias"]] == [0.01, 0.1]
    assert symmetry.verdict(m) == rows
    m["dist"] = m["dist"] + 1e-3  # hidden units drifting apart would fail the C1 row
    assert row(symmetry.verdict(m), "C1 (MLP, constant W): hidden units").passed is False
