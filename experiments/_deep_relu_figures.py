"""deep_relu's figure (beside ``deep_relu.py``): training curves at both depths with the tuned
lr, the escape times at the deeper one, and the forward signal and weight gradients at init."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from initjax import plots

COLORS = {"xavier": "tab:blue", "he": "tab:red", "glorot": "tab:green"}


def draw(
    res: xr.Dataset,
    loss: xr.DataArray,
    lrs: dict[str, float],
    escape: dict[str, np.ndarray],
    inits: dict[str, str],
    threshold: float,
    stem: Path,
) -> list[Path]:
    """``loss``: train loss at each (depth, init)'s tuned lr (``lrs``, keyed "depth/init");
    ``escape[init]``: per seed, the first epoch under ``threshold`` at the deepest depth
    (NaN: never); ``inits``: the legend label of each init. Writes ``stem``.png/.svg."""
    fig, axes = plots.figure(ncols=3, nrows=2, size=(4.6, 3.4))
    for ax, depth in zip(axes[:2], res.depth.values, strict=True):
        for init in res.init.values:
            runs = loss.sel(depth=depth, init=init).transpose("seed", "epoch").values
            label = f"{inits[str(init)]}, lr {lrs[f'{int(depth)}/{init}']:g}"
            plots.band(ax, res.epoch.values, runs, label=label, color=COLORS[str(init)])
        ax.axhline(math.log(10), color="k", ls=":", lw=1, label="ln 10 (chance)")
        ax.axhline(threshold, color="gray", ls="--", lw=1, label=f"threshold {threshold}")
        ax.set(xlabel="epoch", ylabel="train loss (cross-entropy, nats)")
        ax.set_title(f"{depth} hidden ReLU layers: training curves (tuned lr)")
        ax.legend(fontsize=7)
    ax_esc = axes[2]
    deep = int(res.depth.values[-1])
    for init, t in escape.items():
        share = [(t <= e).sum() / t.size for e in res.epoch.values]
        ax_esc.step(res.epoch.values, share, where="post", color=COLORS[init], label=inits[init])
    plots.label(ax_esc, "epoch", f"share of seeds with train loss < {threshold}",
                f"{deep} layers: escape times (He: 'not even given more epochs')")  # fmt: skip
    axes[5].set_axis_off()
    depth = int(res.attrs["stats_depth"])
    ax_act, ax_grad = axes[3], axes[4]
    layers = res.act_layer.values
    for init in res.init.values:
        c, label = COLORS[str(init)], inits[str(init)]
        ax_act.plot(layers, res.act_std_init.sel(init=init), "o-", ms=3, color=c, label=label)
        ax_grad.plot(res.dense_layer.values, res.grad_norm_init.sel(init=init), "o-", ms=3,
                     color=c, label=label)  # fmt: skip
    first = float(res.act_std_init.sel(init="xavier", act_layer=1))
    ax_act.plot(
        layers, first * 2.0 ** (-(layers - 1) / 2), "k:", lw=1, label="2^(−(l−1)/2) (theory)"
    )
    ax_act.set(yscale="log", xlabel="hidden layer l", ylabel="activation std at init")
    ax_act.set_title(f"{depth} layers at init: forward signal")
    ax_act.legend(fontsize=7)
    ax_grad.set(yscale="log", xlabel="Dense layer (last = output)", ylabel="‖∂loss/∂W‖ at init")
    ax_grad.set_title(f"{depth} layers at init: weight gradients")
    ax_grad.legend(fontsize=7)
    fig.suptitle("He vs Xavier init in deep ReLU MLPs on MNIST-1D (SGD momentum 0.9, lr tuned)")
    return plots.save(fig, stem)
