"""dynamical_isometry: Pennington 2017's Jacobian spectra at quick scale."""

import jax
import numpy as np
import pytest

from initjax import study

exp = study.load("dynamical_isometry")


def test_orthogonal_weights_of_every_draw_are_orthogonal():
    w = exp.weights(jax.random.key(0), "orthogonal", (2, 3, 8, 8))
    eye = np.broadcast_to(np.eye(8), (2, 3, 8, 8))
    np.testing.assert_allclose(np.swapaxes(w, -1, -2) @ w, eye, atol=1e-5)
    assert not np.allclose(w[0, 0], w[0, 1]) and not np.allclose(w[0, 0], w[1, 0])


def test_measure_on_quick_results(quick):
    for words in ("tanh reaches dynamical isometry", "ReLU nets cannot", "Free-probability"):
        assert quick.row(words).passed is True
    spec = quick.results
    m = exp.measure(spec)
    assert (m["depth"], m["width"], m["small_depth"]) == (32, 128, 8)
    assert m["theory_rel_error"] <= 0.15
    tanh = m["spread"]["tanh"]
    assert np.mean(tanh["orthogonal"]["runs"]) <= 2 <= np.mean(tanh["gaussian"]["runs"]) / 8
    assert m["spread"]["relu"]["orthogonal"]["theory"] == pytest.approx(31)  # L − 1
    one = spec.spread.sel(depth=1)  # J = (W^1)ᵀ: one orthogonal matrix is an exact isometry
    assert float(one.sel(scheme="orthogonal").max()) < 1e-4
    # One square Gaussian matrix: Marchenko–Pastur with ratio 1 has Var(λ)/E[λ]² = 1.
    np.testing.assert_allclose(one.sel(scheme="gaussian").mean(), 1.0, atol=0.15)


def test_verdict_fails_when_theory_is_off(quick):
    m = exp.measure(quick.results)
    m["theory_rel_error"] = 0.5
    assert quick.row("Free-probability", exp.verdict(m)).passed is False


def test_figures_exist(quick):
    quick.assert_figures()
