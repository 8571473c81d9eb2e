"""Aggregates over seeds: mean and Student-t interval of the finite seeds, with the count."""

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from initjax import aggregate


def final_acc() -> xr.DataArray:
    # 4 seeds × 3 σ; σ = 2 lost 3 seeds to divergence (NaN), σ = 4 lost all of them.
    values = np.array(
        [
            [0.80, 0.50, np.nan],
            [0.82, np.nan, np.nan],
            [0.78, np.nan, np.nan],
            [0.84, np.nan, np.nan],
        ]
    )
    return xr.DataArray(
        values,
        dims=("seed", "sigma"),
        coords={"seed": range(4), "sigma": [1.0, 2.0, 4.0]},
        name="test_acc",
        attrs={"long_name": "test accuracy", "units": "1"},
    )


def test_over_seeds_counts_finite_seeds_and_gives_the_t_interval():
    with pytest.warns(aggregate.DivergedWarning, match="2 of 3 cells"):
        agg = aggregate.over_seeds(final_acc())
    ok = np.array([0.80, 0.82, 0.78, 0.84])
    half = stats.t.ppf(0.975, 3) * ok.std(ddof=1) / 2
    np.testing.assert_allclose(agg["mean"].sel(sigma=1.0), ok.mean())
    np.testing.assert_allclose(agg["ci_high"].sel(sigma=1.0) - ok.mean(), half)
    np.testing.assert_allclose(agg["ci_low"].sel(sigma=1.0), ok.mean() - half)
    assert agg["n_finite"].values.tolist() == [4, 1, 0]
    assert agg["n_diverged"].values.tolist() == [0, 3, 4]
    assert agg.attrs["n_seeds"] == 4
    # the survivor's value, not a silent "mean" of one seed with no interval to show for it
    assert float(agg["mean"].sel(sigma=2.0)) == 0.50
    assert np.isnan(agg["ci_high"].sel(sigma=2.0)) and np.isnan(agg["mean"].sel(sigma=4.0))
    assert agg["mean"].attrs["long_name"] == "test accuracy"


def test_cell_text_says_n_finite_of_n():
    agg = aggregate.over_seeds(final_acc(), warn=False)
    assert aggregate.cell_text(agg.sel(sigma=1.0)).endswith("(4/4)")
    assert aggregate.cell_text(agg.sel(sigma=2.0)) == "0.5000 (1/4)"
    assert aggregate.cell_text(agg.sel(sigma=4.0)) == "— (0/4)"


def test_no_warning_when_every_seed_is_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agg = aggregate.over_seeds(final_acc().sel(sigma=[1.0]))
    assert int(agg["n_diverged"].sum()) == 0


def test_diverged_count_and_warning_of_a_result():
    ds = xr.Dataset({"diverged": (("seed", "sigma"), np.array([[True, False], [True, False]]))})
    assert aggregate.diverged_count(ds) == (2, 4)
    with pytest.warns(aggregate.DivergedWarning, match="2 of 4 runs diverged"):
        aggregate.warn_diverged(ds)
    assert aggregate.diverged_message(ds.where(False, False)) is None


def test_over_seeds_names_a_missing_dimension():
    with pytest.raises(ValueError, match="cannot aggregate over 'seed'"):
        aggregate.over_seeds(final_acc().isel(seed=0))
