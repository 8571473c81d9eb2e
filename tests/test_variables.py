"""Every variable and coordinate of a result says what it is (long_name, units)."""

import json

import numpy as np
import xarray as xr

from initjax import variables


def bare_result() -> xr.Dataset:
    step = np.array([[-1, 5], [3, -1]])
    return xr.Dataset(
        {
            "test_loss": (("seed", "sigma", "epoch"), np.zeros((2, 2, 3), np.float32)),
            "preact_std": (("seed", "sigma", "epoch"), np.ones((2, 2, 3), np.float32)),
            "my_metric": (("seed", "sigma"), np.ones((2, 2))),
            "diverged": (("seed", "sigma"), step >= 0),
            "diverged_step": (("seed", "sigma"), step),
        },
        coords={"seed": [0, 1], "sigma": [0.1, 1.0], "epoch": [0, 1, 2]},
        attrs={"config": json.dumps({"scheme": "he_normal", "hidden": [64, 32], "model": "mlp"})},
    )


def test_describe_labels_everything_and_keeps_what_is_set():
    ds = bare_result()
    ds["sigma"].attrs["long_name"] = "init scale σ (gain of he_normal)"
    variables.describe(ds, steps_per_epoch=4)
    for name, var in ds.variables.items():
        assert var.attrs["long_name"] and var.attrs["units"], name
    assert ds.sigma.attrs["long_name"] == "init scale σ (gain of he_normal)"
    assert ds.test_loss.attrs == {"long_name": "test loss (cross-entropy)", "units": "nat"}
    assert ds.my_metric.attrs == {"long_name": "my metric", "units": "1"}
    assert variables.label(ds.test_loss) == "test loss (cross-entropy) [nat]"
    # step 5 at 4 steps per epoch is in the 2nd epoch: metrics NaN from epoch 2 on
    np.testing.assert_array_equal(ds.diverged_epoch.values, [[-1, 2], [1, -1]])


def test_config_columns_skip_outer_axes():
    ds = bare_result()
    assert variables.config_columns(ds) == {
        "scheme": "he_normal",
        "model": "mlp",
        "hidden": "64,32",
    }
    outer = ds.expand_dims(scheme=["he_normal"])
    assert "scheme" not in variables.config_columns(outer)
