"""Does BatchNorm make training insensitive to the init scale σ? (claim C9)

Question: the note says batch normalization "lessens sensitivity to init" (Ioffe & Szegedy
2015, arXiv:1502.03167: BN lets one "be less careful about initialization"). We train the
same ReLU MLP with and without BatchNorm after each hidden Dense layer, with the hidden
kernels W ~ N(0, σ²) for σ over four decades (10^−3 … 10), b = 0, and compare final test
accuracy across σ. BN(a·Wx) = BN(Wx) for a > 0 (Ioffe & Szegedy §3.3), so BN's hidden
layers forget σ.

The design (issue 15) isolates what BN normalizes:
- σ scales the **hidden** kernels only; the output layer, which no BN follows, is always
  LeCun-normal (std 1/√n_L). When one σ also scaled the head (the first design), the initial
  logits grew as σ·√(n_L/2) with or without BN and a large σ saturated the softmax in both
  nets: that measured the head, not BN. The logit scale of that design is still measured at
  init (training mode: batch statistics) as a sanity check of the argument.
- **lr is tuned per cell** (norm, σ): BN's weights see an effective step lr/σ², so one lr for
  every σ would favour some σ by accident. The best lr of a cell has the lowest seed-mean
  final train loss among the lrs where no seed diverged; a cell whose every lr diverged
  counts as chance (accuracy 0.1).
- **Sensitivity** is the mean shortfall: per seed, the mean over σ of (the best seed-mean
  accuracy over σ − this seed's accuracy at σ), at the tuned lrs; it does not penalize a net
  for a higher best accuracy, as max − min did. BN and no BN are compared seed by seed (a
  seed sets the init and the data order, order="per_seed"): the 95% t-interval of the paired
  difference decides the row. The good-σ window (σ within 5 points of the best) is a second
  row, decided seed by seed: an exact sign test of BN's minus no BN's window width (decades;
  5 seeds at least to decide); "σ = 10⁻³ trains like σ = 0.1 with BN" is a paired TOST
  (5 points).

Settings: SGD with momentum 0.9, batch 100, 20 epochs; quick on MNIST-1D (hidden 100-100,
σ at whole decades, 3 seeds, lr ∈ {0.01, 0.1}), full on Fashion-MNIST (pixels / 255, hidden
256-256, σ at half decades, 5 seeds, lr ∈ {0.003, 0.01, 0.03, 0.1, 0.3}; evaluated every
``EVAL_EVERY`` = 5 epochs and at the last, which the verdict reads).

Command: ``initjax run batchnorm --quick`` (~20 s on 2 CPU cores) or ``--full`` (2.0 h on 2
CPU cores, measured: 7189 s including ~13 min paused; minutes on a GPU).
Expected: without BN, σ ≤ 10^−2 (vanishing signal through two ReLU layers) and σ ≥ 1 (exploding
hidden activations) lose accuracy even at their best lr; with BN the loss over σ is smaller,
so BN's mean shortfall is smaller, but not zero: BN(a·Wx) = BN(Wx) holds at init, not in
training, where a BN'd weight's relative step is lr/σ² (van Laarhoven 2017,
arXiv:1706.05350), so far from σ ≈ 0.1 the lr grid cannot make up the difference.

Full result (``docs/batchnorm``, 2026-12-02, made at ``ae8a595``; Fashion-MNIST, 5 seeds that
vary init and data order, 9 σ × 5 lrs per net): all three evidence rows agree with C9, and
the expectation above was half wrong. Without BN the accuracy at the tuned lr is flat from
σ = 10⁻³ to 10^−0.5 (0.860–0.893: a small init costs nothing at the tuned lr), and at σ ≥ 1
74 of 75 runs diverged (no lr kept all 5 seeds finite; chance counts there): its mean
shortfall, 0.270 ± 0.001, comes from the large σ alone.
With BN no run diverged and the shortfall is 0.015 ± 0.003 (paired Δ = +0.256, 95% CI
[+0.252, +0.259]); its good-σ window spans all four decades against 2.5 without BN, wider on
5 of 5 seeds (sign test p = 0.031); σ = 10⁻³ trains like σ = 0.1 with BN (0.883 vs 0.887, TOST
at ±5 points p = 2·10⁻⁶). BN's tuned lr follows lr/σ²: 0.003 at σ ≤ 10^−2.5 and 0.3 at σ = 1
and 10^0.5, the ends of the lr grid (4 BN cells), so those cells might do slightly better
with a wider grid; no row depends on them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import binomtest

from initjax import data as datasets
from initjax import init as schemes
from initjax import models, plots, results, study, sweep, train
from initjax.equivalence import paired_difference, tost_paired
from initjax.study import Row, check_scale, mean_spread

NAME = "batchnorm"
ORDER = 8
QUESTION = "Does BatchNorm make the final accuracy insensitive to the init scale σ?"
CLAIMS = ("C9",)
RUNTIME = {
    "quick": "~20 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~2 h (2 CPU cores, measured 2026-12-02: 7189 s, ~13 min of it paused)",
}

WINDOW = 0.05  # accuracy within this of the best counts as "as good"
NORMS = ("none", "batchnorm")
CHANCE = 0.1  # a cell whose every lr diverged
LOGIT_INITS = 4  # inits over which the BN logit scale at init is averaged
EPS_FREE = 0.01  # from this σ on, BN's ε is < 1% of the batch variance it divides by


def fixed_head_mlp(kernel_init: Any, bias_init: Any, num_classes: int, cfg: Any) -> Any:
    """The MLP of ``cfg`` (BatchNorm per ``cfg.batch_norm``) whose hidden kernels take the
    scheme at σ and whose output kernel is always LeCun-normal, std 1/√n_L."""
    return models.MLP(
        hidden=cfg.hidden, num_classes=num_classes, activation=cfg.activation,
        kernel_init=kernel_init, bias_init=bias_init, batch_norm=cfg.batch_norm,
        output_init=schemes.lecun_normal(),
    )  # fmt: skip


# One Config per scale (batch_norm is switched per sweep) and its grid over σ and lr.
# Full scale evaluates every EVAL_EVERY epochs and the last (always on all examples): the
# verdict and figures read the last epoch only, and evaluation is ~30% of a full epoch's FLOPs.
EVAL_EVERY = 5
BASE = train.Config(
    model=fixed_head_mlp, hidden=(100, 100), activation="relu", scheme="normal",
    optimizer="momentum", lr=0.01, momentum=0.9, batch_size=100, epochs=20, dataset="mnist1d",
    order="per_seed",
)  # fmt: skip
CONFIGS = {
    "quick": (
        BASE,
        {"seeds": 3, "sigmas": tuple(float(s) for s in np.logspace(-3, 1, 5)),
         "lrs": (0.01, 0.1)},
    ),
    "full": (
        BASE.replace(hidden=(256, 256), dataset="fashion_mnist", eval_every=EVAL_EVERY),
        {"seeds": 5, "sigmas": tuple(float(s) for s in np.logspace(-3, 1, 9)),
         "lrs": (0.003, 0.01, 0.03, 0.1, 0.3)},
    ),
}  # fmt: skip


def _bn_logit_rms(cfg: train.Config, sigmas: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """RMS of the initial logits of the BN net in training mode (batch statistics), per σ,
    when σ scales *every* kernel, the head's included (the first design).

    N(0, σ²) draws are σ times N(0, 1) draws with the same key, so one init at σ = 1 scaled
    by σ gives every σ's init exactly (biases are zero, BN's scale/offset are 1/0).
    """
    model = train.build_model(cfg, 1.0)
    xb = jnp.asarray(x)
    out = np.zeros((LOGIT_INITS, len(sigmas)))
    for k in range(LOGIT_INITS):
        v = model.init(jax.random.key(k), xb[:2])
        for j, sigma in enumerate(sigmas):
            params = {
                layer: {n: (p * sigma if n == "kernel" else p) for n, p in leaves.items()}
                if layer.startswith(("hidden", "output"))
                else leaves
                for layer, leaves in v["params"].items()
            }
            logits, _, _ = models.forward(model, {**v, "params": params}, xb, train=True)
            out[k, j] = float(jnp.sqrt(jnp.mean(logits**2)))
    return np.sqrt((out**2).mean(axis=0))


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    base, grid = CONFIGS[check_scale(scale)]
    data = datasets.load(base.dataset)
    parts = []
    for norm, bn in zip(NORMS, (False, True), strict=True):
        cfg = base.replace(batch_norm=bn)
        res = sweep.run(cfg, data, grid["seeds"], sigmas=grid["sigmas"], lrs=grid["lrs"],
                        progress=progress, out=study.checkpoints(out_dir, norm))  # fmt: skip
        parts.append(res)
    attrs = {k: v for k, v in parts[0].attrs.items() if k != "config"}
    ds = xr.concat([p.drop_attrs() for p in parts], dim=pd.Index(list(NORMS), name="norm"))
    ds.attrs.update(attrs, dataset=base.dataset, hidden=list(base.hidden), head="lecun_normal")
    bn_all = base.replace(model="mlp", batch_norm=True)  # σ on the head too
    ds["bn_logit_rms_init"] = (
        "sigma", _bn_logit_rms(bn_all, grid["sigmas"], data.x_train[:1000])
    )  # fmt: skip
    predicted = np.asarray(grid["sigmas"]) * np.sqrt(base.hidden[-1] / 2)
    ds["bn_logit_rms_predicted"] = ("sigma", predicted)
    results.save(ds, Path(out_dir) / "results.nc")


def tuned_test_acc(res: xr.Dataset) -> xr.DataArray:
    """Final test accuracy per (norm, σ, seed) at the cell's best lr (:func:`study.best_lr`);
    a diverged run, or a cell whose every lr diverged, counts as chance (0.1)."""
    return study.best_lr_final(res, "test_acc").fillna(CHANCE)


def shortfall(acc: xr.DataArray) -> xr.DataArray:
    """Per seed (and norm): the mean over σ of (best seed-mean accuracy over σ − accuracy)."""
    return (acc.mean("seed").max("sigma") - acc).mean("sigma")


def window(acc: np.ndarray, sigmas: np.ndarray) -> tuple[float, float]:
    """The contiguous σ range around the best σ whose accuracy is within WINDOW of the best."""
    best = int(np.nanargmax(acc))
    good = acc >= acc[best] - WINDOW
    lo = hi = best
    while lo > 0 and good[lo - 1]:
        lo -= 1
    while hi < len(acc) - 1 and good[hi + 1]:
        hi += 1
    return float(sigmas[lo]), float(sigmas[hi])


def window_signs(acc: dict[str, np.ndarray], sigmas: np.ndarray) -> tuple[bool | None, str]:
    """Is BN's good-σ window wider? Per seed (one init and data order for both nets), the
    window of each net's own accuracy curve, in decades; an exact one-sided sign test of
    BN − no BN over the seeds whose widths differ: wider on enough seeds (p < 0.05) passes,
    narrower on enough fails, else undecided (3 seeds can never decide: 1/8 > 0.05)."""
    width = {n: np.array([math.log10(hi / lo) for lo, hi in (window(a, sigmas) for a in acc[n])])
             for n in ("batchnorm", "none")}  # fmt: skip
    d = width["batchnorm"] - width["none"]
    up, down = int((d > 0).sum()), int((d < 0).sum())
    p_up = binomtest(up, up + down, alternative="greater").pvalue if up + down else 1.0
    p_down = binomtest(down, up + down, alternative="greater").pvalue if up + down else 1.0
    ok = True if p_up < 0.05 else False if p_down < 0.05 else None
    per_seed = ", ".join(f"{v:+.1f}" for v in d)
    return ok, (f"per seed BN − no BN: {per_seed} decades; wider on {up}, narrower on {down} "
                f"of {d.size} (sign test p = {min(p_up, p_down):.3g})")  # fmt: skip


def figures(out_dir: Path) -> list[Path]:
    res = load(out_dir)
    fig, (ax_acc, ax_lr, ax_logit) = plots.figure(ncols=3, size=(4.6, 3.6))
    sig = res.sigma.values
    colors = {"none": "tab:blue", "batchnorm": "tab:red"}
    labels = {"none": "no BN", "batchnorm": "BatchNorm"}
    acc, lrs = tuned_test_acc(res), study.tuned_lr(res)
    mean = acc.mean("seed")
    for norm in NORMS:
        runs = acc.sel(norm=norm).transpose("seed", "sigma").values
        plots.band(ax_acc, sig, runs, label=labels[norm], color=colors[norm], marker="o")
        lo, hi = window(mean.sel(norm=norm).values, sig)
        y = 0.03 if norm == "none" else 0.06
        ax_acc.plot([lo, hi], [y, y], "-", marker="|", ms=12, mew=2, color=colors[norm], lw=2)
        ax_lr.plot(sig, lrs.sel(norm=norm), "o-", color=colors[norm], label=labels[norm])
    plots.anchor_line(ax_acc, CHANCE, "chance")
    ax_acc.plot([], [], "-", marker="|", ms=8, color="gray", label=f"σ within {WINDOW:.2f} of best")
    ax_acc.set(xscale="log", ylim=(0, 0.95))
    plots.label(ax_acc, "hidden-layer σ (W ~ N(0, σ²); head LeCun)", "final test accuracy",
                f"accuracy at the tuned lr ({int(res.epoch.max())} epochs)")  # fmt: skip
    ax_lr.set(xscale="log", yscale="log")
    plots.label(ax_lr, "hidden-layer σ", "tuned lr", "the lr each cell needed")
    ax_logit.plot(
        sig, res.bn_logit_rms_init, "o-", color="tab:red", label="BN net, σ on the head too"
    )
    ax_logit.plot(sig, res.bn_logit_rms_predicted, "k:", label="σ·√(n_L/2)")
    ax_logit.set(xscale="log", yscale="log")
    plots.label(ax_logit, "init σ", "RMS of initial logits",
                "why the head is fixed: BN does not normalize it")  # fmt: skip
    name = plots.dataset_name(str(res.attrs["dataset"]))
    fig.suptitle(
        f"σ-sensitivity with and without BatchNorm: ReLU MLP on {name}, SGD momentum 0.9, "
        "lr tuned per cell"
    )
    return plots.save(fig, Path(out_dir) / "batchnorm")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "results.nc")


def measure(res: xr.Dataset) -> dict[str, Any]:
    """The numbers the verdict reads, from the saved results."""
    last = tuned_test_acc(res)
    acc = last.mean("seed")
    sig = res.sigma.values
    win = {n: window(acc.sel(norm=n).values, sig) for n in NORMS}
    s_lo, s_hi, s_mid = float(sig[0]), float(sig[-1]), float(sig[np.argmin(np.abs(sig - 0.1))])
    # Below σ = 0.01 BN's ε = 1e-5 is not small next to the batch variance of z (40·σ² in the
    # first layer), so BN scales its output down and the prediction does not apply there.
    big = sig >= EPS_FREE
    short = shortfall(last)
    lrs = study.tuned_lr(res)
    return {
        "seeds": int(res.sizes["seed"]), "lrs": [float(v) for v in res.lr.values],
        "n_div": {n: int(res.diverged.sel(norm=n).sum()) for n in NORMS},
        "shortfall": {n: short.sel(norm=n).transpose("seed").values for n in NORMS},
        "best": {n: float(acc.sel(norm=n).max()) for n in NORMS}, "win": win,
        "decades": {n: float(np.log10(hi / lo)) for n, (lo, hi) in win.items()},
        "s_lo": s_lo, "s_hi": s_hi, "s_mid": s_mid,
        "acc_seeds": {n: last.sel(norm=n).transpose("seed", "sigma").values for n in NORMS},
        "sigmas": sig,
        "bn_lo": last.sel(norm="batchnorm", sigma=s_lo).values,
        "bn_mid": last.sel(norm="batchnorm", sigma=s_mid).values,
        "plain_lo": last.sel(norm="none", sigma=s_lo).values,
        "tuned_lr": {n: lrs.sel(norm=n).values.tolist() for n in NORMS},
        "at_edge": {  # with 3 or more lrs: cells whose tuning may have stopped at the grid
            n: int(lrs.sel(norm=n).isin([res.lr.values.min(), res.lr.values.max()]).sum())
            for n in NORMS
        },
        "ratio": (res.bn_logit_rms_init / res.bn_logit_rms_predicted).values[big],
    }  # fmt: skip


def _edge(m: dict[str, Any]) -> str:
    if len(m["lrs"]) < 3:
        return ""
    e = m["at_edge"]
    return f"; cells tuned at an end of the lr grid: BN {e['batchnorm']}, no BN {e['none']}"


def verdict(m: dict[str, Any]) -> list[Row]:
    win, decades, ratio, short = m["win"], m["decades"], m["ratio"], m["shortfall"]
    s_lo, s_hi, s_mid = m["s_lo"], m["s_hi"], m["s_mid"]
    bn_lo, bn_mid, plain_lo = m["bn_lo"], m["bn_mid"], m["plain_lo"]
    less, less_text = paired_difference(short["batchnorm"], short["none"])
    wider, wider_text = window_signs(m["acc_seeds"], np.asarray(m["sigmas"]))
    same = tost_paired(bn_mid, bn_lo, WINDOW)
    return [
        Row(
            "C9: BN lessens σ-sensitivity (mean shortfall over σ)",
            f"mean shortfall from the best accuracy over σ ∈ [{s_lo:g}, {s_hi:g}] (hidden "
            "layers; lr tuned per cell) smaller with BN: the 95% CI of no BN − BN above 0",
            "the note's C9; Ioffe & Szegedy 2015, arXiv:1502.03167, §1 and §3.3",
            f"shortfall BN {mean_spread(short['batchnorm'])}, no BN {mean_spread(short['none'])}"
            f"; {less_text}; best acc BN {m['best']['batchnorm']:.3f}, no BN "
            f"{m['best']['none']:.3f}; lrs {m['lrs']}; runs diverged: BN "
            f"{m['n_div']['batchnorm']}, no BN {m['n_div']['none']}{_edge(m)}",
            less,
            "BN's hidden layers forget σ; without it the signal vanishes or explodes through "
            "the ReLU layers, which tuning lr cannot undo",
        ),
        Row(
            "C9: BN widens the good-σ window",
            f"σ range within {WINDOW:.2f} of the best accuracy is wider with BN (seed by seed: "
            "an exact one-sided sign test at 5%; narrower on enough seeds fails)",
            "the note's C9",
            f"BN [{win['batchnorm'][0]:g}, {win['batchnorm'][1]:g}] ({decades['batchnorm']:.1f} "
            f"decades), no BN [{win['none'][0]:g}, {win['none'][1]:g}] ({decades['none']:.1f}) "
            f"from the seed means; {wider_text}",
            wider,
            "BN removes the vanishing and exploding signal of the hidden layers",
        ),
        Row(
            f"BN: σ = {s_lo:g} trains like σ = {s_mid:g}",
            f"BN(a·Wx) = BN(Wx): hidden layers forget σ (acc within {WINDOW * 100:.0f} points: "
            "paired TOST, α = 0.05)",
            "Ioffe & Szegedy 2015, §3.3",
            f"BN acc {mean_spread(bn_lo)} vs {mean_spread(bn_mid)}; no BN at σ = {s_lo:g}: "
            f"{mean_spread(plain_lo)}; {same.text()}",
            same.passed,
            "BN forgets σ at init, not in training: a BN'd weight's relative step is lr/σ² "
            "(van Laarhoven 2017, arXiv:1706.05350), so σ = 10⁻³ would need an lr 10⁴ × "
            "smaller than σ = 0.1, outside the grid",
        ),
        Row(
            "σ on the head too: BN's initial logits scale as σ·√(n_L/2)",
            "initial logit RMS of the BN net with σ on every kernel = σ·√(n_L/2) (±10%)",
            "BN output ~ N(0, 1) per unit, ReLU: E[h²] = 1/2; no BN after the output layer",
            f"measured / predicted logit RMS {ratio.min():.2f}–{ratio.max():.2f} (σ ≥ {EPS_FREE:g})",
            bool(np.all(np.abs(ratio - 1) < 0.1)),
            "why the design fixes the head: one σ on every layer saturates the softmax of both "
            "nets alike; a sanity check (it follows from BN's output moments)",
            kind="sanity",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
