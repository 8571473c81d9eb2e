"""d2l_softmax at quick scale: d2l's published numbers (issue: engine; claims C1, C2, C4)."""

import math

import numpy as np

from initjax import study

exp = study.load("d2l_softmax")


def test_d2l_reproduction_matches_published_numbers(fashion_mnist, quick):
    res = quick.results
    # d2l settings (N(0, 0.01²), b = 0, SGD lr 0.1, batch 256, 10 epochs), mean over 3 seeds.
    last = res.isel(epoch=-1).sel(sigma=0.01)
    assert res.sizes["seed"] >= 3 and int(res.epoch.max()) == 10
    assert 0.43 <= float(last.batch_loss.mean()) <= 0.47
    assert float(last.test_acc.mean()) >= 0.815
    # Zero init: the convex problem does not care (within 0.5 points).
    zero = res.isel(epoch=-1).sel(sigma=0.0)
    assert abs(float(zero.test_acc.mean()) - float(last.test_acc.mean())) <= 0.005
    # At init every σ ≤ 0.01 gives loss ≈ ln 10 (near-uniform softmax).
    np.testing.assert_allclose(res.train_loss.isel(epoch=0).sel(sigma=0.0), math.log(10), rtol=1e-5)


def test_d2l_verdict_rows_all_pass_and_figures_exist(fashion_mnist, quick):
    assert quick.failed == []
    assert [r.kind for r in quick.rows].count("sanity") == 1
    assert quick.row("C4: small σ keeps initial logits small").kind == "sanity"
    quick.assert_figures()


def test_measure_on_quick_results(fashion_mnist, quick):
    m = exp.measure(quick.results)
    assert len(m["acc"]) == 3 and m["epochs"] == 10 and m["big_sigma"] == 1.0
    assert 0.43 <= np.mean(m["loss"]) <= 0.47 and np.mean(m["init_loss_big"]) > 2 * math.log(10)
    assert max(abs(r - 1) for r in m["logit_ratio"]) < 0.1
    assert exp.verdict(m) == quick.rows
    m["zero_acc"] = [a - 0.02 for a in m["acc"]]  # W = 0 two points worse would fail C1
    assert quick.row("C1 (softmax)", exp.verdict(m)).passed is False
    wobble = [0.01, -0.01, 0.0][: len(m["acc"])]
    m["zero_acc"] = [a + w for a, w in zip(m["acc"], wobble, strict=True)]  # 0 ± 1 point: not shown
    assert quick.row("C1 (softmax)", exp.verdict(m)).passed is None
    m["acc_big"] = [a + 0.01 for a in m["acc"]]  # σ = 1 ending ahead of σ = 0.01 fails C2
    assert quick.row("C2: large σ", exp.verdict(m)).passed is False
    m["acc_big"] = [a + w for a, w in zip(m["acc"], wobble, strict=True)]
    assert quick.row("C2: large σ", exp.verdict(m)).passed is None
    # Reproduction and ceiling rows read 95% t-intervals against the published bands.
    assert quick.row("d2l reproduction", exp.verdict(m)).passed is True
    m["loss"] = [0.50, 0.51, 0.52][: len(m["loss"])]  # every seed above d2l's band
    assert quick.row("d2l reproduction", exp.verdict(m)).passed is False
    m["loss"] = [0.44, 0.47, 0.50][: len(m["loss"])]  # the interval straddles 0.47
    assert quick.row("d2l reproduction", exp.verdict(m)).passed is None
    assert quick.row("Linear-model ceiling", exp.verdict(m)).passed is True
    m["best_acc_seeds"] = [0.88, 0.89, 0.87][: len(m["best_acc_seeds"])]  # beats a converged LR
    assert quick.row("Linear-model ceiling", exp.verdict(m)).passed is False
