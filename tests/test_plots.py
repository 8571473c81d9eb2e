"""plots: matplotlib's conventions (nrows, ncols), labels and legends drawn by default."""

import numpy as np
import xarray as xr

from initjax import plots


def test_figure_takes_nrows_then_ncols_like_plt_subplots():
    fig, axes = plots.figure(2, 3, size=(2.0, 1.5))
    assert len(axes) == 6
    assert axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    np.testing.assert_allclose(fig.get_size_inches(), [6.0, 3.0])


def test_curves_by_labels_axes_from_attrs_and_draws_a_legend():
    acc = xr.DataArray(
        np.random.default_rng(0).uniform(size=(2, 3, 4)),
        dims=("seed", "sigma", "epoch"),
        coords={"seed": [0, 1], "sigma": [0.1, 1.0, 2.0], "epoch": range(4)},
        name="test_acc",
        attrs={"long_name": "test accuracy", "units": "1"},
    )
    acc["sigma"].attrs.update(long_name="init scale σ (std of normal)", units="1")
    acc["epoch"].attrs.update(long_name="epoch (0: before training)", units="1")
    _, (ax,) = plots.figure()
    plots.curves_by(ax, acc, "sigma", fmt="σ={:g}")
    assert ax.get_ylabel() == "test accuracy"
    assert ax.get_xlabel() == "epoch (0: before training)"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "init scale σ (std of normal)"
    assert [t.get_text() for t in legend.get_texts()] == ["σ=0.1", "σ=1", "σ=2"]
    _, (bare,) = plots.figure()
    plots.curves_by(bare, acc, "sigma", legend=False)
    assert bare.get_legend() is None


def test_anchor_line_draws_a_labelled_reference_line_either_way():
    _, (ax,) = plots.figure()
    plots.anchor_line(ax, 2.5, "ln 10-ish")
    plots.anchor_line(ax, 0.1, "σ*", vertical=True, color="gray", ls="--")
    flat, upright = ax.get_lines()
    assert flat.get_ydata() == [2.5, 2.5] and list(flat.get_xdata()) == [0, 1]
    assert upright.get_xdata() == [0.1, 0.1] and upright.get_linestyle() == "--"
    assert [line.get_label() for line in (flat, upright)] == ["ln 10-ish", "σ*"]
    assert flat.get_linewidth() == upright.get_linewidth() == 1


def test_dataset_name_for_titles():
    assert plots.dataset_name("mnist1d") == "MNIST-1D"
    assert plots.dataset_name("fashion_mnist") == "Fashion-MNIST"
    assert plots.dataset_name("my_data") == "my_data"
