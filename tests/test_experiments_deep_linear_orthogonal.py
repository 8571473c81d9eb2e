"""deep_linear_orthogonal: Saxe 2013's depth-independent learning time at quick scale."""

import numpy as np

from initjax import study

exp = study.load("deep_linear_orthogonal")


def test_measure_on_quick_results(quick):
    linear = quick.results
    m = exp.measure(linear)
    assert (m["depth_min"], m["depth_max"], m["epochs"]) == (1, 16, 30)
    # At depth 1 the two inits learn equally fast; at depth 16 only orthogonal learns in time.
    shallow = np.subtract(m["orthogonal"]["shallow"], m["gaussian"]["shallow"])
    assert np.abs(shallow).max() <= 1
    assert m["orthogonal"]["never"] == 0 and m["orthogonal"]["growth"] <= 2
    assert m["gaussian"]["never"] == 2 and m["gaussian"]["growth"] >= 2
    t = exp.learning_time(linear)
    assert bool(np.isnan(t.sel(scheme="gaussian").isel(depth=-1)).all())


def test_verdict_rows_pass_and_flip_with_the_anchor(quick):
    assert [r.passed for r in quick.rows] == [True, True]
    m = exp.measure(quick.results)
    m["orthogonal"]["growth_ci"] = (2.5, 3.5)  # orthogonal slowing down with depth: fails
    assert exp.verdict(m)[0].passed is False
    m["orthogonal"]["growth_ci"] = (1.5, 2.5)  # a CI across 2: undecided
    assert exp.verdict(m)[0].passed is None
    m["gaussian"]["growth_ci"] = (1.1, 1.6)  # Gaussian not slowing down: fails
    assert exp.verdict(m)[1].passed is False


def test_growth_ci_resamples_seed_pairs_and_the_fastest_lr_is_the_one_timed(quick):
    lo, hi = exp.growth_ci(np.array([4.0, 4.0, 4.0]), np.array([8.0, 8.0, 8.0]))
    assert lo == hi == 2.0
    lo, hi = exp.growth_ci(
        np.array([4.0, 5.0, 6.0, 4.0, 5.0]), np.array([6.0, 9.0, 12.0, 8.0, 5.0])
    )
    assert lo < 8 / 5 < hi and 1.0 <= lo and hi <= 2.4  # ratio of means 1.6 inside
    linear = quick.results.sel(scheme="orthogonal").isel(depth=0)
    lrs = exp.fastest_lr(linear)
    t = (linear.train_loss <= exp.LOSS_THRESHOLD).argmax("epoch")
    for seed, lr in enumerate(lrs):  # the fastest lr's time is the learning time of that seed
        assert int(t.isel(seed=seed).sel(lr=lr)) == int(
            exp.learning_time(quick.results.isel(depth=[0]).sel(scheme="orthogonal")).isel(
                depth=0, seed=seed
            )
        )


def test_figures_exist(quick):
    quick.assert_figures()
