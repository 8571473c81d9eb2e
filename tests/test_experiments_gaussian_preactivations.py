"""gaussian_preactivations at quick scale (MNIST-1D, offline): claim C7."""

import numpy as np
import pytest

from initjax import study

exp = study.load("gaussian_preactivations")


def test_first_layer_kurtosis_formula():
    # equal norms: no scale mixture, so Gaussian W gives 0 and uniform W a negative kurtosis
    x = np.ones((8, 4))
    assert exp.first_layer_kurtosis(x, uniform=False) == pytest.approx(0.0)
    assert exp.first_layer_kurtosis(x, uniform=True) == pytest.approx(-1.2 / 4)
    # two norms: 3·Var(q)/E[q]² for a Gaussian scale mixture
    x = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert exp.first_layer_kurtosis(x, uniform=False) == pytest.approx(
        3 * (17 / 2) / (5 / 2) ** 2 - 3
    )


def test_every_quick_row_but_the_deep_relu_one_is_decided(quick):
    assert len(quick.rows) == 5
    assert all(r.passed is not None for r in quick.rows if "ReLU, 30" not in r.claim)
    # exact for Gaussian W, and an identity of the inputs: sanity checks, not evidence
    assert [r.claim for r in quick.rows if r.kind == "sanity"] == [
        "C7: per example, Gaussian W: pre-activations Gaussian",
        "C7: layer 1's pooled kurtosis is the spread of ‖x‖",
    ]
    # the one row that does not pass: pooled over examples, deep ReLU pre-activations are a
    # heavy-tailed scale mixture at width 256 (per example they are Gaussian, next row); with
    # 3 seeds and a Bonferroni bound over 58 layer statistics it may stay undecided
    assert quick.failed == ["C7 (ReLU, 30 layers): pooled pre-activations ≈ Gaussian (layers ≥ 2)"]


def test_normality_per_example_and_first_layer(quick):
    n = quick.results
    assert float(np.abs(n["he"].example_kurtosis.mean("seed")).max()) < 1.0
    assert float(n["normalized"].preact_ks.max()) < 0.05
    assert quick.row("C7 (tanh").passed
    assert quick.row("C7: per example (the CLT's own claim), uniform W").passed
    assert quick.row("C7: per example, Gaussian W").passed
    assert quick.row("C7: layer 1").passed


def test_measure_on_quick_results(quick):
    m = exp.measure(quick.results)
    tanh, relu = (
        {k: np.asarray(v) for k, v in m["pooled"][n].items()} for n in ("normalized", "he")
    )
    assert tanh["ks"].mean(axis=0).max() < 0.05  # (seed, layer)
    assert np.abs(relu["kurtosis"].mean(axis=0)).max() > 1  # heavy tails
    assert set(m["per_example"]) == set(m["first_kurtosis"]) == set(exp.LABELS)
    assert exp.verdict(m) == quick.rows
    seeds, layers = relu["ks"].shape
    gaussian = {"ks": np.full((seeds, layers), 0.01), "kurtosis": np.zeros((seeds, layers))}
    m["pooled"]["he"] = gaussian  # a Gaussian deep ReLU net would pass that row
    assert quick.row("C7 (ReLU", exp.verdict(m)).passed is True
    # One layer's kurtosis far above the band on every seed fails it (Bonferroni or not) ...
    heavy = gaussian["kurtosis"].copy()
    heavy[:, 3] = 5.0 + np.arange(seeds) * 0.01
    m["pooled"]["he"] = dict(gaussian, kurtosis=heavy)
    assert quick.row("C7 (ReLU", exp.verdict(m)).passed is False
    # ... while one layer straddling the band's edge leaves it undecided.
    heavy[:, 3] = 1.0 + np.linspace(-0.5, 0.5, seeds)
    m["pooled"]["he"] = dict(gaussian, kurtosis=heavy)
    assert quick.row("C7 (ReLU", exp.verdict(m)).passed is None


def test_figures_exist(quick):
    quick.assert_figures()
