"""saturation's result accessors and figure (beside ``saturation.py``): the runs at init, at
each σ's tuned lr, and the six panels drawn from the saved nets."""

from __future__ import annotations

import math
from pathlib import Path

import xarray as xr

from initjax import plots, study, train

LN10 = math.log(10)
CHANCE = 0.1  # a cell whose every lr diverged counts as chance


def at_init(res: xr.Dataset) -> xr.Dataset:
    """Epoch 0, before any step: the same for every lr (one init per seed and σ)."""
    return res.isel(epoch=0, lr=0)


def tuned_acc(res: xr.Dataset) -> xr.DataArray:
    """Final test accuracy per (σ, seed) at the σ's tuned lr (:func:`study.best_lr`); chance
    where every lr diverged."""
    return study.best_lr_final(res, "test_acc").fillna(CHANCE)


def at_tuned_lr(res: xr.Dataset, sigma: float) -> xr.Dataset:
    """The runs at σ with its tuned lr (the first lr where every lr diverged)."""
    best, _ = study.best_lr(res)
    return res.sel(sigma=sigma).isel(lr=int(best.sel(sigma=sigma)))


def _label(name: str) -> str:
    if name == "softmax":
        return "softmax regression"
    act, depth = name.split("_")
    return f"{act} MLP, {depth} hidden"


def draw(nets: dict[str, xr.Dataset], out_dir: Path) -> list[Path]:
    """Saturation at init, during training and its cost, over σ, for every net in ``nets``."""
    sm = nets["softmax"]
    cfg = train.Config.from_json(str(sm.attrs["config"]))
    fig, axes = plots.figure(ncols=3, nrows=2, size=(4.6, 3.5))
    ax_loss, ax_sm, ax_hid, ax_acc, ax_ep_sm, ax_ep_hid = axes
    sig = sm.sigma.values
    for i, (name, res) in enumerate(nets.items()):
        color = f"C{i}"
        init = at_init(res)
        plots.band(
            ax_loss, sig, init.train_loss.values, label=_label(name), color=color, marker="."
        )
        plots.band(
            ax_sm, sig, init.softmax_saturation.values, label=_label(name), color=color, marker="."
        )
        plots.band(
            ax_acc,
            sig,
            tuned_acc(res).transpose("seed", "sigma").values,
            label=_label(name),
            color=color,
            marker=".",
        )
        big = float(sig[sig <= 1.0].max())
        plots.band(
            ax_ep_sm,
            res.epoch.values,
            at_tuned_lr(res, big).softmax_saturation.values,
            label=_label(name),
            color=color,
            marker=".",
        )
        if name == "softmax":
            continue
        for layer, ls in zip(res.hidden_layer.values, ("-", "--"), strict=False):
            sat = res.saturation.sel(hidden_layer=layer)
            sat_big = at_tuned_lr(res, big).saturation.sel(hidden_layer=layer)
            plots.band(
                ax_hid,
                sig,
                sat.isel(epoch=0, lr=0).values,
                color=color,
                ls=ls,
                marker=".",
                label=f"{_label(name)}: layer {int(layer[-1]) + 1}",
            )
            plots.band(
                ax_ep_hid,
                res.epoch.values,
                sat_big.values,
                color=color,
                ls=ls,
                marker=".",
                label=f"{_label(name)}: layer {int(layer[-1]) + 1}",
            )
        ax_hid.plot(sig, res.pred_first_layer_saturation, "k:", lw=1.5)
    ax_hid.plot([], [], "k:", label="predicted, layer 1: E 2Φ(−u/(σ‖x‖))")
    ax_loss.plot(sig, sm.pred_initial_loss, "k:", lw=1.5, label="predicted (softmax regr.)")
    plots.anchor_line(ax_loss, LN10, "ln 10", color="gray", ls="--")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("initial train loss (nats)")
    ax_loss.set_title("(a) loss at init", fontsize=9)
    ax_sm.plot(sig, sm.pred_softmax_saturation, "k:", lw=1.5, label="predicted (softmax regr.)")
    p50 = float(sm.pred_sigma50)
    plots.anchor_line(ax_sm, p50, f"predicted 50% at σ = {p50:.2g}", True, "gray", "--")
    ax_sm.set_ylabel("fraction of examples with max p > 0.99")
    ax_sm.set_title("(b) saturated softmax at init", fontsize=9)
    ax_hid.set_ylabel("fraction of saturated hidden units")
    ax_hid.set_title("(c) saturated tanh/sigmoid units at init", fontsize=9)
    ax_acc.set_ylabel(f"test accuracy after {int(sm.epoch.max())} epochs (tuned lr)")
    ax_acc.set_title("(d) final accuracy", fontsize=9)
    for ax in (ax_loss, ax_sm, ax_hid, ax_acc):
        ax.set_xscale("log")
        ax.set_xlabel("init σ (W ~ N(0, σ²))")
        ax.legend(fontsize=6)
    for ax, what in ((ax_ep_sm, "softmax"), (ax_ep_hid, "hidden units")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"saturated fraction ({what})")
        ax.set_title(
            f"({'e' if what == 'softmax' else 'f'}) {what} during training, σ = {big:g}", fontsize=9
        )
        ax.legend(fontsize=6)
    fig.suptitle(
        f"Saturation vs init σ on {plots.dataset_name(cfg.dataset)} (b = 0, SGD, lr tuned per σ "
        f"over {', '.join(f'{v:g}' for v in sm.lr.values)}, batch {cfg.batch_size}; bands: min–max "
        f"over {sm.sizes['seed']} seeds)"
    )
    return plots.save(fig, Path(out_dir) / "saturation")
