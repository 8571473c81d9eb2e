"""sigma_map at quick scale: the σ × width × depth map of issue 15 (a smoke run)."""

import math

import numpy as np
import pytest
import xarray as xr

from initjax import study

exp = study.load("sigma_map")


def test_fan_stds_on_a_square_layer():
    assert exp.std_of("he_normal", 128) == pytest.approx(math.sqrt(2 / 128))
    assert exp.std_of("xavier_normal", 128) == pytest.approx(math.sqrt(1 / 128))


@pytest.mark.parametrize("dataset", ["mnist1d", "fashion_mnist"])
def test_each_map_has_width_and_depth_dims_and_every_cell(quick, dataset):
    sig, sch = quick.results[dataset]["sigma"], quick.results[dataset]["schemes"]
    base, grid = exp.maps("quick")[dataset]
    assert base.dataset == dataset and sig.attrs["dataset"] == dataset
    assert sig.test_acc.sizes == {
        "width": len(grid["widths"]), "depth": len(grid["depths"]), "seed": grid["seeds"],
        "sigma": len(grid["sigmas"]), "lr": len(grid["lrs"]), "epoch": base.epochs + 1,
    }  # fmt: skip
    assert list(sch.scheme.values) == list(exp.SCHEMES)
    assert sch.test_acc.sizes["width"] == len(grid["widths"])
    # Depth 4 at σ = 0.01: 0.01·√(n/2) ≤ 0.12 per layer, the signal vanishes: chance or below.
    acc = exp.tuned_acc(sig).mean("seed")
    assert float(acc.sel(depth=4, sigma=0.01, method="nearest").max()) < 0.15
    assert float(acc.sel(depth=4).max()) > 0.25  # some σ trains


def test_the_fashion_map_trains_on_its_subset_with_its_own_epochs(quick):
    base, grid = exp.maps("quick")["fashion_mnist"]
    mnist1d, _ = exp.maps("quick")["mnist1d"]
    assert base == mnist1d.replace(dataset="fashion_mnist", epochs=3)
    data = exp._first(exp.datasets.load("fashion_mnist"), grid["examples"])
    assert data.x_train.shape == (4000, 784) and data.x_test.shape == (4000, 784)
    full, _ = exp.maps("full")["fashion_mnist"]
    assert full.dataset == "fashion_mnist" and exp.maps("full")["fashion_mnist"][1]["examples"] == 0
    # Fashion-MNIST's shallow net is far above MNIST-1D's at the best σ (a harder 40-dim task).
    best = {n: float(exp.tuned_acc(r["sigma"]).mean("seed").sel(depth=1).max())
            for n, r in quick.results.items()}  # fmt: skip
    assert best["fashion_mnist"] > 0.6 > best["mnist1d"]


def test_smoke_rows_are_undecided_and_the_figure_exists(quick):
    assert len(quick.rows) == 8 and all(r.passed is None for r in quick.rows)
    assert all("full scale decides" in r.ours for r in quick.rows)
    assert [r.claim.endswith("(MNIST-1D)") for r in quick.rows] == [True] * 4 + [False] * 4
    assert all(r.claim.endswith("(Fashion-MNIST)") for r in quick.rows[4:])
    quick.assert_figures()


@pytest.mark.parametrize("dataset", ["mnist1d", "fashion_mnist"])
def test_rows_decide_at_full_scale_both_ways(quick, dataset):
    ms = exp.measure(quick.results)
    assert exp.verdict(ms) == quick.rows
    noise = np.array([-0.004, 0.002, 0.0, 0.003, -0.001])  # seed to seed, paired
    m = dict(ms[dataset], seeds=5, lrs=[0.01, 0.03, 0.1])
    for c in m["cells"].values():
        c["best"], c["best_runs"] = 0.6, 0.6 + noise
        c["best_sigma"] = exp.std_of("he_normal", c["width"]) if c["depth"] > 1 else 0.1
        c["best_sigma_ci"] = (c["best_sigma"] / 1.5, c["best_sigma"] * 1.5)
        c["d2l"] = 0.6 + noise if c["depth"] == 1 else np.full(5, 0.1)
        c["schemes"] = {s: 0.595 + noise[::-1] for s in exp.SCHEMES}
    assert all(r.passed is True for r in exp.map_rows(m))
    for c in m["cells"].values():
        c["best_sigma"] *= 4  # the best σ far from He's, and so is all of its interval
        c["best_sigma_ci"] = (c["best_sigma"] / 1.5, c["best_sigma"] * 1.5)
        c["schemes"]["he_normal"] = np.full(5, 0.5)
    rows = exp.map_rows(m)
    assert quick.row("the best σ is He", rows).passed is False
    for c in m["cells"].values():  # an interval reaching from He's σ to 4× it: undecided
        c["best_sigma_ci"] = (c["best_sigma"] / 4, c["best_sigma"])
    assert quick.row("the best σ is He", exp.map_rows(m)).passed is None
    assert quick.row("He is within a point", rows).passed is False
    # Only this dataset's rows decide: the other map is still a quick smoke run.
    both = exp.verdict({**ms, dataset: m})
    assert sum(r.passed is not None for r in both) == 3  # He's σ row is undecided now


def test_a_noisy_lead_leaves_the_row_undecided_and_one_failing_cell_fails_it():
    best = {"best_runs": np.array([0.60, 0.62, 0.58, 0.61, 0.59])}
    # Lead 0.0 ± 0.01 (sd over seeds ~0.016): the 90% CI reaches past the 1-point margin.
    ok, text = exp.within(best, best["best_runs"] + np.array([0.02, -0.02, 0.01, -0.01, 0.0]))
    assert ok is None and "90% CI" in text
    assert exp.within(best, best["best_runs"] - 0.05)[0] is False  # 5 points behind: shown
    assert exp.within(best, best["best_runs"] + 0.001)[0] is True
    # Far below: 0.3 under with tight spread passes; 0.12 ± 0.05 straddles 0.1.
    assert exp.far_below(best, best["best_runs"] - 0.3)[0] is True
    wide = best["best_runs"] - 0.12 + np.array([0.06, -0.06, 0.04, -0.04, 0.0])
    assert exp.far_below(best, wide)[0] is None
    assert exp.far_below(best, best["best_runs"] - 0.02)[0] is False
    assert exp.every([True, None]) is None and exp.every([True, False, None]) is False
    assert exp.every([True, True]) is True


def test_the_best_sigma_interval_resamples_seeds():
    sigmas = [0.01, 0.1, 1.0]
    agree = xr.DataArray([[0.2, 0.6, 0.3]] * 5, dims=("seed", "sigma"), coords={"sigma": sigmas})
    assert exp.best_sigma_interval(agree) == (0.1, 0.1)
    # Two seeds of five prefer σ = 1 by far: some resamples pick it, so the interval spans.
    split = [[0.2, 0.6, 0.3]] * 3 + [[0.2, 0.3, 0.9]] * 2
    lo, hi = exp.best_sigma_interval(xr.DataArray(split, dims=("seed", "sigma"),
                                                  coords={"sigma": sigmas}))  # fmt: skip
    assert (lo, hi) == (0.1, 1.0)
