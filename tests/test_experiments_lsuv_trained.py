"""lsuv_trained at quick scale: LSUV-initialized nets trained against He and BN (issue 15)."""

from pathlib import Path

import numpy as np

from initjax import study

exp = study.load("lsuv_trained")


def test_three_inits_trained_on_the_same_seeds_and_lrs(quick):
    res = quick.results["lsuv"]
    assert list(res.init.values) == ["he", "lsuv", "bn"]
    assert res.sizes["seed"] >= 5 and res.sizes["lr"] >= 3
    # Every LSUV net started with unit output std in every layer (the sanity row), while the
    # orthogonal kernels it starts from (gain 1) would shrink a ReLU signal by √2 per layer.
    assert quick.row("unit output std").sanity and quick.row("unit output std").passed is True
    assert np.all(np.abs(res.lsuv_init_std.values - 1) <= exp.LSUV_TOL + 1e-6)
    # He and LSUV start in the same place up to the kernels: same data order, different init,
    # so their initial losses differ but are both near ln 10 (a unit-variance logit layer).
    init_loss = res.train_loss.isel(epoch=0, lr=0)
    assert not np.allclose(init_loss.sel(init="he"), init_loss.sel(init="lsuv"))
    quick.assert_figures()


def test_rows_follow_the_non_inferiority_rule(quick):
    m = exp.measure(quick.results)
    assert exp.verdict(m) == quick.rows
    for other, words in (("he", "as well as He ones"), ("bn", "as well as He + BN ones")):
        d = np.asarray(m["acc"]["lsuv"]) - np.asarray(m["acc"][other])
        lo = d.mean() - 2.132 * d.std(ddof=1) / np.sqrt(d.size)  # t(0.95, 4): the 90% CI
        row = quick.row(words)
        if exp.at_edge(m, "lsuv", other):
            assert row.passed is None
        elif lo > -exp.MARGIN:
            assert row.passed is True
    # Synthetic outcomes: clearly worse fails, clearly equal passes.
    m["acc"]["he"] = [0.50, 0.52, 0.51, 0.49, 0.50]
    m["acc"]["lsuv"] = [0.40, 0.41, 0.42, 0.40, 0.39]
    m["tuned_lr"] = {i: m["lrs"][1] for i in exp.INITS}  # inside the grid
    assert quick.row("as well as He ones", exp.verdict(m)).passed is False
    m["acc"]["lsuv"] = [0.501, 0.519, 0.511, 0.489, 0.502]
    assert quick.row("as well as He ones", exp.verdict(m)).passed is True
    m["tuned_lr"]["lsuv"] = max(m["lrs"])
    assert quick.row("as well as He ones", exp.verdict(m)).passed is None


DOCS = Path(__file__).resolve().parents[1] / "docs" / "lsuv_trained"


def test_the_committed_full_run_is_judged_again_to_its_saved_verdict():
    from initjax.verdict import load_verdict

    rows = study.judge(exp, DOCS)
    assert rows == load_verdict(DOCS)
    m = exp.measure(exp.load(DOCS))
    assert (m["dataset"], m["depth"], m["width"], m["seeds"]) == ("fashion_mnist", 20, 256, 5)
    assert not exp.at_edge(m, "he", "lsuv", "bn")  # every tuned lr inside the grid
    assert [(r.kind, r.passed) for r in rows] == [("evidence", True)] * 2 + [("sanity", True)]
