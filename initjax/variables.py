"""What a result's variables mean: ``long_name`` and ``units`` for every variable and coordinate.

xarray's own ``.plot()`` and the sweep figures label axes from these attributes, so a result
file explains itself without ``train.py`` at hand::

    res.test_acc.attrs     # {'long_name': 'test accuracy', 'units': '1'}
    res.diverged_epoch     # the first epoch whose metrics are NaN (-1: never)

Units follow CF conventions: ``"1"`` for dimensionless numbers (accuracies are fractions),
``"nat"`` for cross-entropies (natural log).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    # metrics, per epoch (epoch 0: before training)
    "train_loss": ("training loss (cross-entropy)", "nat"),
    "train_acc": ("training accuracy", "1"),
    "test_loss": ("test loss (cross-entropy)", "nat"),
    "test_acc": ("test accuracy", "1"),
    "batch_loss": ("mean minibatch loss over the epoch", "nat"),
    # per run
    "diverged": ("run diverged (a non-finite or blown-up loss)", "1"),
    "diverged_step": ("first step of the epoch that diverged, counted from 0 (-1: never)", "step"),
    "blown_up": ("final loss above 10× the loss at init, not flagged by training", "1"),
    "diverged_epoch": ("first epoch whose metrics are NaN (-1: never)", "epoch"),
    "init_std": ("std of the initial kernel (per layer)", "1"),
    "config": ("the slice's train.Config (JSON)", "1"),
    "scale_param": ("name of the scheme's scale argument σ", "1"),
    # coordinates
    "seed": ("seed (root PRNG key of the run)", "1"),
    "lr": ("learning rate", "1"),
    "epoch": ("epoch (0: before training)", "1"),  # a count: "1", so that labels stay short
    "layer": ("Dense layer", "1"),
    "hidden_layer": ("hidden layer", "1"),
    # recorded diagnostics (initjax.diagnostics)
    "preact_mean": ("mean of the pre-activations", "1"),
    "preact_std": ("std of the pre-activations", "1"),
    "preact_skewness": ("skewness of the pre-activations", "1"),
    "preact_kurtosis": ("kurtosis of the pre-activations", "1"),
    "preact_ks": ("Kolmogorov-Smirnov distance of the pre-activations to a Gaussian", "1"),
    "act_mean": ("mean of the activations", "1"),
    "act_std": ("std of the activations", "1"),
    "saturation": ("fraction of saturated units", "1"),
    "softmax_saturation": ("fraction of saturated softmax outputs", "1"),
    "loss": ("loss on the probe batch", "nat"),
    "grad_norm": ("gradient norm of the layer's kernel", "1"),
    "preact_grad_norm": ("gradient norm with respect to the pre-activations", "1"),
    "weight_std": ("std of the layer's kernel", "1"),
    "symmetry_distance": ("distance of the kernel's columns from their mean (symmetry)", "1"),
    "weight_rank": ("numerical rank of the kernel", "1"),
    "layer_jacobian_sv": ("largest singular value of the layer's Jacobian", "1"),
}
"""``name -> (long_name, units)``; a name not listed gets its own words and units ``"1"``."""


def describe(ds: xr.Dataset, steps_per_epoch: int | None = None) -> xr.Dataset:
    """Give every variable and coordinate of ``ds`` a ``long_name`` and ``units`` (kept when
    already set, e.g. σ's per-scheme meaning); with ``steps_per_epoch``, add
    ``diverged_epoch`` from ``diverged_step``. Returns ``ds`` (modified in place)."""
    if steps_per_epoch is not None and "diverged_step" in ds:
        step = np.asarray(ds["diverged_step"].values)
        epoch = np.where(step >= 0, step // max(steps_per_epoch, 1) + 1, -1).astype(np.int64)
        ds["diverged_epoch"] = (ds["diverged_step"].dims, epoch)
    outer = _outer_axes(ds)
    for name, var in ds.variables.items():
        long_name, units = DESCRIPTIONS.get(str(name), (str(name).replace("_", " "), "1"))
        if name in outer:
            long_name = f"Config.{name} (outer axis)"
        var.attrs.setdefault("long_name", long_name)
        var.attrs.setdefault("units", units)
    return ds


def _outer_axes(ds: xr.Dataset) -> list[str]:
    try:
        return list(json.loads(str(ds.attrs.get("outer_axes", "[]"))))
    except ValueError:
        return []


def label(var: xr.DataArray | xr.Variable, fallback: str = "") -> str:
    """An axis label from attrs: ``"test accuracy"``, ``"test loss (cross-entropy) [nat]"``."""
    name = str(var.attrs.get("long_name", fallback or getattr(var, "name", "") or ""))
    units = str(var.attrs.get("units", "1"))
    return name if units in ("1", "") else f"{name} [{units}]"


CONFIG_COLUMNS = ("scheme", "model", "dataset", "activation", "hidden", "optimizer")
"""Config fields every row of an exported table carries, so tables of sweeps stack."""


def config_columns(ds: xr.Dataset) -> dict[str, Any]:
    """``{field: value}`` of :data:`CONFIG_COLUMNS` that are not dimensions of ``ds`` (an outer
    axis already is a column), read from ``attrs["config"]``; a tuple as ``"64,64"``."""
    try:
        config = json.loads(str(ds.attrs.get("config", "{}")))
    except ValueError:
        config = {}
    out: dict[str, Any] = {}
    for field in CONFIG_COLUMNS:
        if field in ds.dims or field not in config:
            continue
        value = config[field]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[field] = value
    return out
