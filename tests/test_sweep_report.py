"""Sweep folders → figures and REPORT.md (`initjax plot`, `initjax report`), honest aggregates,
self-describing results, CSVs that stack, TensorBoard export.

Two small sweeps on the synthetic dataset, shared by the tests: a tanh MLP at lr 0.1 and
1e4 (the latter diverges: every run of its cells is flagged), with ``normal`` and with
``uniform`` weights.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import initjax as ij
from initjax import aggregate, cli, results, sweep_report, tensorboard, variables

SPE = 128 // 32  # steps per epoch


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    data = ij.data.load("synthetic", n_train=128, n_test=32, dim=8)
    cfg = ij.train.Config(
        model="mlp", hidden=(8,), activation="tanh", dataset="synthetic", batch_size=32, epochs=2
    )
    caught = {}
    for scheme in ("normal", "uniform"):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ij.sweep.run(
                cfg.replace(scheme=scheme), data, seeds=2, sigmas=[0.5, 1.0], lrs=[0.1, 1e4],
                out=root / scheme, progress=False,
            )  # fmt: skip
        caught[scheme] = [x for x in w if issubclass(x.category, aggregate.DivergedWarning)]
    return root, caught


def test_a_sweep_with_diverged_cells_warns_once_with_the_count(swept):
    _, caught = swept
    assert len(caught["normal"]) == 1
    assert str(caught["normal"][0].message).startswith("4 of 8 runs diverged")
    assert caught["normal"][0].filename == __file__  # it points at the sweep.run call


def test_every_variable_and_coordinate_says_what_it_is(swept):
    root, _ = swept
    ds = results.load(root / "normal" / "results.nc")
    for name, var in ds.variables.items():
        assert var.attrs.get("long_name") and var.attrs.get("units"), name
    assert ds.sigma.attrs["long_name"] == "init scale σ (std of normal)"
    assert ds.test_loss.attrs["units"] == "nat" and ds.diverged_step.attrs["units"] == "step"
    step, epoch = ds.diverged_step.values, ds.diverged_epoch.values
    assert (epoch[ds.diverged.values] >= 1).all() and (epoch[~ds.diverged.values] == -1).all()
    np.testing.assert_array_equal(epoch[step >= 0], step[step >= 0] // SPE + 1)
    # the metrics are NaN from diverged_epoch on, finite before
    for s, g, lr in zip(*np.nonzero(ds.diverged.values), strict=True):
        acc = ds.test_acc.values[s, g, lr]
        assert np.isnan(acc[epoch[s, g, lr] :]).all() and np.isfinite(acc[: epoch[s, g, lr]]).all()


def test_plot_draws_labelled_figures_and_says_which_runs_diverged(swept, capsys):
    root, _ = swept
    assert cli.main(["plot", str(root / "normal")]) == 0
    out = capsys.readouterr().out
    assert "warning: normal: 4 of 8 runs diverged" in out
    figs = root / "normal" / "figures"
    for stem in ("final_test_acc", "curves_test_acc", "heatmap_test_acc"):
        for ext in ("png", "svg"):
            assert (figs / f"{stem}.{ext}").stat().st_size > 1000
    loaded = sweep_report.load([root / "normal"])
    ds = loaded["normal"]
    fig = sweep_report.final_figure(loaded, "test_acc")
    ok, bad = fig.axes[:2]
    assert ok.get_ylabel() == "final " + variables.label(ds.test_acc) == "final test accuracy"
    assert " ".join(ok.get_xlabel().split()) == ds.sigma.attrs["long_name"]
    assert ok.get_title() == "lr = 0.1" and bad.get_title() == "lr = 10000"
    assert [t.get_text() for t in bad.get_legend().get_texts()] == ["normal (4 of 4 diverged)"]
    assert [t.get_text() for t in ok.get_legend().get_texts()] == ["normal"]
    assert "every run diverged" in [t.get_text() for t in bad.texts]
    fig = sweep_report.final_figure(loaded, "test_loss", x="init_std")
    assert fig.axes[0].get_xlabel().startswith("std of the initial kernel")
    assert fig.axes[0].get_ylabel() == "final test loss (cross-entropy) [nat]"
    curves = sweep_report.curves_figure(loaded, "test_acc")
    assert curves.axes[0].get_ylabel() == "test accuracy"
    assert curves.axes[0].get_legend().get_title().get_text().startswith("init scale σ")
    heat = sweep_report.heatmap_figure(loaded, "test_acc")
    assert "0/2" in [t.get_text() for t in heat.axes[0].texts]  # the diverged cells, counted


def test_report_has_settings_table_with_n_finite_and_figures(swept, capsys):
    root, _ = swept
    assert cli.main(["report", str(root / "normal")]) == 0
    assert "warning: normal: 4 of 8 runs diverged" in capsys.readouterr().out
    text = (root / "normal" / "REPORT.md").read_text()
    assert "(n finite / N seeds)" in text and "**Warning: normal: 4 of 8 runs diverged" in text
    rows = [line for line in text.splitlines() if line.startswith("| 0.5 |") or "| 1 | " in line]
    table = [line for line in text.splitlines() if line.startswith("| normal |")]
    assert len(table) == 4, rows
    assert all(line.endswith("| 2/2 |") for line in table if "| 10000 |" in line)
    assert all("(0/2)" in line for line in table if "| 10000 |" in line)
    assert all("(2/2)" in line and line.endswith("| 0/2 |") for line in table if "| 0.1 |" in line)
    assert "| `activation` | `tanh` |" in text and "| `scheme` | `normal` |" in text
    assert "![final_test_acc](figures/final_test_acc.png)" in text


def test_report_or_plot_of_a_folder_without_results_fails_saying_what_it_expected(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "neither experiment results" in err and "results.nc and fingerprint.json" in err
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "no sweep in" in capsys.readouterr().err


def test_several_sweeps_are_drawn_and_reported_together(swept, capsys):
    root, _ = swept
    out = root / "compare"
    args = [str(root / "normal"), str(root / "uniform"), "--out", str(out)]
    assert cli.main(["plot", *args]) == 0
    assert (out / "final_test_acc.png").exists()
    loaded = sweep_report.load([root / "normal", root / "uniform"])
    fig = sweep_report.final_figure(loaded, "test_acc")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["normal", "uniform"]
    assert cli.main(["report", *args]) == 0
    text = (out / "REPORT.md").read_text()
    assert "### normal: settings" in text and "### uniform: settings" in text
    assert "| uniform | 0.5 | 0.1 |" in text


def test_csvs_of_two_sweeps_stack_into_one_table_with_a_scheme_column(swept):
    root, _ = swept
    a, b = (pd.read_csv(root / s / "results.csv") for s in ("normal", "uniform"))
    assert list(a.columns) == list(b.columns)
    assert list(a.columns[:6]) == [
        "scheme",
        "model",
        "dataset",
        "activation",
        "hidden",
        "optimizer",
    ]
    both = pd.concat([a, b], ignore_index=True)
    assert sorted(both.scheme.unique()) == ["normal", "uniform"] and both.scheme.notna().all()
    assert (both.hidden.astype(str) == "8").all() and (both.dataset == "synthetic").all()
    final = both[(both.variable == "test_acc") & (both.epoch == 2) & (both.lr == 0.1)]
    table = final.pivot_table("value", "sigma", "scheme")
    ds = results.load(root / "uniform" / "results.nc")
    np.testing.assert_allclose(
        table["uniform"], ds.test_acc.isel(epoch=-1).sel(lr=0.1).mean("seed"), rtol=1e-6
    )


def test_an_outer_axis_is_the_scheme_column_of_the_table(swept):
    root, _ = swept
    joined = ij.sweep.join(
        ij.train.Config(),
        [("scheme", ["normal", "uniform"])],
        [("normal",), ("uniform",)],
        [results.load(root / s / "results.nc") for s in ("normal", "uniform")],
    )
    table = results.to_dataframe(joined)
    assert "scheme" in table.columns and list(table.columns).count("scheme") == 1
    assert sorted(table.scheme.unique()) == ["normal", "uniform"]


def test_tensorboard_export_of_a_sweep_folder(swept, capsys):
    root, _ = swept
    assert cli.main(["tensorboard", str(root / "normal")]) == 0
    assert "wrote 8 runs" in capsys.readouterr().out
    table = tensorboard.read(root / "normal" / "tensorboard")
    assert table.run.nunique() == 8 and "seed=0,sigma=0.5,lr=0.1" in set(table.run)


def test_report_of_an_experiments_folder_still_writes_the_experiments_report(tmp_path, capsys):
    (tmp_path / "d2l_softmax").mkdir()  # an experiment's folder, as `initjax run` makes it
    assert cli.main(["report", str(tmp_path)]) == 0
    assert f"report: {tmp_path / 'REPORT.md'}" in capsys.readouterr().out
    assert "experiments have results" in (tmp_path / "REPORT.md").read_text()
