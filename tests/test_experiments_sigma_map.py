"""sigma_map at quick scale: the σ × width × depth map of issue 15 (a smoke run)."""

import math

import numpy as np
import pytest

from initjax import study

exp = study.load("sigma_map")


def test_fan_stds_on_a_square_layer():
    assert exp.std_of("he_normal", 128) == pytest.approx(math.sqrt(2 / 128))
    assert exp.std_of("xavier_normal", 128) == pytest.approx(math.sqrt(1 / 128))


def test_the_grid_has_width_and_depth_dims_and_every_cell(quick):
    sig, sch = quick.results["sigma"], quick.results["schemes"]
    base, grid = exp.CONFIGS["quick"]
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


def test_smoke_rows_are_undecided_and_the_figure_exists(quick):
    assert len(quick.rows) == 4 and all(r.passed is None for r in quick.rows)
    assert all("full scale decides" in r.ours for r in quick.rows)
    quick.assert_figures()


def test_rows_decide_at_full_scale_both_ways(quick):
    m = exp.measure(quick.results)
    assert exp.verdict(m) == quick.rows
    m = dict(m, seeds=5, lrs=[0.01, 0.03, 0.1])
    for c in m["cells"].values():
        c["best"] = 0.6
        c["best_sigma"] = exp.std_of("he_normal", c["width"]) if c["depth"] > 1 else 0.1
        c["d2l"] = np.full(5, 0.6 if c["depth"] == 1 else 0.1)
        c["schemes"] = {s: np.full(5, 0.595) for s in exp.SCHEMES}
    assert all(r.passed is True for r in exp.verdict(m))
    for c in m["cells"].values():
        c["best_sigma"] *= 4  # the best σ far from He's
        c["schemes"]["he_normal"] = np.full(5, 0.5)
    rows = exp.verdict(m)
    assert quick.row("the best σ is He", rows).passed is False
    assert quick.row("He is within a point", rows).passed is False
