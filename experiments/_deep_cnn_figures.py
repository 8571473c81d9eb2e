"""deep_cnn's figure (beside ``deep_cnn.py``): the Jacobian spread against depth and its
spectrum at the deepest kept depth (tanh kernels), the final train loss against depth and the
deepest nets' loss curves (the kernels and the ReLU + He baseline), at each cell's best lr."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr
from _deep_cnn_spectra import spread

from initjax import plots, study

LN10 = math.log(10)
LABELS = {"gaussian": "Gaussian", "orthogonal": "orthogonal (flattened)",
          "delta_orthogonal": "delta-orthogonal", "he_relu": "ReLU + He (baseline)"}  # fmt: skip
COLORS = {"gaussian": "tab:red", "orthogonal": "tab:orange", "delta_orthogonal": "tab:blue",
          "he_relu": "tab:green"}  # fmt: skip


def draw(
    res: xr.Dataset, stem: Path, inits: tuple[str, ...], trained: tuple[str, ...]
) -> list[Path]:
    """The four panels of ``res`` (``deep_cnn.load``), saved at ``stem``: the spectra of
    ``inits``, the training of ``trained`` (the three inits and the baseline)."""
    fig, axes = plots.figure(nrows=2, ncols=2, size=(4.6, 3.5))
    ax_v, ax_h, ax_depth, ax_curve = axes
    kept = res.kept_depth.values
    for i in inits:
        v = spread(res.sv2.sel(init=i).transpose("jac_seed", "kept_depth", "k").values)
        plots.band(ax_v, kept, v, label=LABELS[i], color=COLORS[i], marker="o", ms=3)
        ax_v.plot(kept, res.spread_theory.sel(init=i), color=COLORS[i], ls=":", lw=1)
    plots.log2_axis(ax_v, kept)
    ax_v.set_yscale("symlog", linthresh=0.1)
    ax_v.set_ylim(0, None)
    plots.label(
        ax_v, "depth L (conv layers)", "spread Var(s²)/E[s²]² of J's singular values",
        f"tanh, σ_w² = 1, c = {res.attrs['channels']}, {res.attrs['side']}² grid (dotted: theory)",
    )  # fmt: skip
    deep, bins = int(kept.max()), np.logspace(-6, 2, 81)
    for i in inits:
        s2 = res.sv2.sel(init=i, kept_depth=deep).values.ravel()
        ax_h.hist(np.clip(s2 / s2.mean(), bins[0], None), bins=bins, histtype="step",
                  color=COLORS[i], label=LABELS[i])  # fmt: skip
    ax_h.set(xscale="log", yscale="log")
    plots.label(
        ax_h, f"s² / mean(s²) (values below {bins[0]:g} in the first bin)", "count (all seeds)",
        f"squared singular values of J at depth {deep}",
    )  # fmt: skip
    loss, depths = study.best_lr_final(res), res.depth.values
    for i in trained:
        runs = loss.sel(init=i).transpose("seed", "depth").values
        plots.band(ax_depth, depths, runs, label=LABELS[i], color=COLORS[i], marker="o")
    plots.anchor_line(ax_depth, LN10, "ln 10 (chance)")
    plots.anchor_line(ax_depth, LN10 - 0.5, "'trains' threshold", color="gray", ls="--")
    plots.log2_axis(ax_depth, depths)
    plots.label(
        ax_depth, "depth L (conv layers)", "final train loss (best lr)",
        f"after {int(res.epoch.max())} epochs, {int(res.attrs['train_examples'])} images",
    )  # fmt: skip
    last = res.isel(epoch=-1).sel(depth=int(depths[-1]))
    for i in trained:
        lr_i = int(last.train_loss.sel(init=i).mean("seed").fillna(np.inf).argmin("lr"))
        curves = res.train_loss.sel(init=i, depth=int(depths[-1])).isel(lr=lr_i)
        curves = curves.dropna("epoch", how="all")  # the epochs evaluated (eval_every)
        plots.band(ax_curve, curves.epoch.values, curves.transpose("seed", "epoch").values,
                   label=LABELS[i], color=COLORS[i])  # fmt: skip
    plots.anchor_line(ax_curve, LN10, "ln 10")
    plots.label(ax_curve, "epoch", "train loss (best lr)", f"{int(depths[-1])} layers")
    fig.suptitle(
        f"Vanilla tanh CNN at criticality on {plots.dataset_name(str(res.attrs['dataset']))}: "
        "three kernels (and a ReLU + He baseline)"
    )
    return plots.save(fig, stem)
