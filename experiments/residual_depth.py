"""Which residual init keeps a deep un-normalized residual MLP trainable? (claims C3, C9)

Question: a pre-activation residual MLP (``resmlp``: h ← h + α·W₂ φ(W₁ φ(h)), ReLU, He
normal kernels, no normalization) starts with ``residual_init`` = ``standard`` (α = 1),
``zero`` (α = 0, a learnable scalar per block: SkipInit, De & Smith 2020; ReZero,
Bachlechner et al. 2020) or ``fixup`` (Zhang et al. 2019: W₁ × L^(−1/2), W₂ = 0, output
layer 0, scalar biases and multipliers). Which of them train as the number of blocks L grows,
compared with the same residual net with BatchNorm before each ReLU (``batchnorm``: the
pre-activation ResNet block φ(BN(·)) of He et al. 2016, defined below and passed to Config as
a model factory)?

What is tested, precisely:

* **Signal propagation at init** (no training; the residual stream h_l entering block l,
  sown by the models, second moment pooled over 512 examples and the width, 4 inits, at
  ``diag_depth`` blocks, at a wide ``diag_width`` and at the training width). With He kernels a standard branch has the variance of its input
  (ReLU halves it, He's factor 2 restores it, twice), and branch and stream are uncorrelated,
  so Var(h_{l+1}) = (1 + 1)·Var(h_l): the stream's RMS grows by √2 per block, Var(h_L) =
  2^L Var(h_0) — Hanin & Rolnick 2018's mean length M_L ∝ Π(1 + η_l) with η_l = 1. With
  BatchNorm the branch input is normalized, so each block adds variance ≈ 1 whatever h is:
  Var(h_l) ≈ Var(h_0) + l, linear (De & Smith 2020, §2). Zero and Fixup blocks are the
  identity at init (a sanity check, by construction: Var(h_l) = Var(h_0)).
* **Trainability vs depth**: final train loss after a fixed budget of momentum-SGD epochs,
  at the best lr of a small grid per (net, depth) (lrs whose runs diverged are left out), for
  every seed, against chance ln 10 = 2.303. "Trains" means every seed ends below
  ``TRAINED`` = ln 10 − 0.5 nats. A seed sets the init and the minibatch order
  (``order="per_seed"``).

Anchors: Fixup trains residual nets "even for networks with 10,000 layers" without
normalization (Zhang et al. 2019, ICLR, arXiv:1901.09321, abstract and Fig. 3); SkipInit
trains deep un-normalized ResNets (De & Smith 2020, NeurIPS, arXiv:2002.10444); standard init
without normalization explodes (Hanin & Rolnick 2018, NeurIPS, arXiv:1803.01719, Thm. 5).

Command: ``initjax run residual_depth --quick`` (MNIST-1D, width 32, depths 2 and 12 blocks,
3 seeds, 2 lrs, 8 epochs; diagnostics at 20 blocks, widths 256 and 32. The depths are small because XLA's
compile time of the unrolled blocks, not training, dominates: ~2.5 s per block per program on
this 2-core machine) or ``--full`` (the first 10 000 Fashion-MNIST train and test images,
width 128, depths 4, 16, 64 and 128 blocks, 5 seeds, 4 lrs, 10 epochs of batch 128 = 780
steps, evaluated at init and after the last on all images, every 2 epochs between on the
first 2000; diagnostics at 200 blocks, widths 1024 and 128; ~5–9 h on 2 CPU cores: a timed
16-block pilot beside another run gives 2.8 s per cell-epoch, so ~8 h of training at that
load and ~0.5 h of compiles (~2 s per block and program), less on idle cores; not run yet).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from _residual_depth_bn import bn_resmlp

from initjax import data as datasets
from initjax import plots, results, study, sweep, train
from initjax.equivalence import difference_interval
from initjax.study import Row, check_scale, mean_spread
from initjax.verdict import all_of

NAME = "residual_depth"
ORDER = 20
QUESTION = "Which residual init keeps a deep un-normalized residual MLP trainable?"
CLAIMS = ("C3", "C9")
BEYOND_NOTE = True  # REPORT.md's "Beyond the note" (issue 19)
RUNTIME = {
    "quick": "~50 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~5–9 h (2 CPU cores, estimated from a timed 16-block pilot; not run yet)",
}

LN10 = math.log(10)
TRAINED = LN10 - 0.5  # "trains": every seed's final train loss 0.5 nats below chance
STANDARD_GROWTH = math.sqrt(2)  # RMS factor per standard block: Var × (1 + 1), Hanin & Rolnick
GROWTH_TOL = 0.05
BN_SLOPE = 1.0  # Var(h_l) − Var(h_0) ≈ l under BatchNorm (De & Smith 2020)
BN_SLOPE_TOL = 0.2
MATCH_BN_ACC = 0.03  # Fixup: "matches normalization": test accuracy within 3 points of BN
IDENTITY_TOL = 1e-5
NETS = ("standard", "zero", "fixup", "batchnorm")
LABELS = {
    "standard": "standard (α = 1)",
    "zero": "zero α (SkipInit/ReZero)",
    "fixup": "Fixup",
    "batchnorm": "BatchNorm (pre-act)",
}
PROBE, STAT_SEEDS = 512, 4


BASE = train.Config(
    model="resmlp", hidden=(32,), activation="relu", scheme="he_normal", optimizer="momentum",
    momentum=0.9, batch_size=128, epochs=8, dataset="mnist1d", order="per_seed",
)  # fmt: skip
CONFIGS = {
    "quick": (
        BASE,
        {
            "depths": (2, 12),
            "width": 32,
            "seeds": 3,
            "lrs": (0.01, 0.03),
            "diag_depth": 20,
            "diag_width": 256,
        },
    ),
    "full": (
        BASE.replace(dataset="fashion_mnist", epochs=10, eval_every=2, eval_examples=2000),
        {
            "examples": 10_000,  # the first 10 000 train and test images (0: all)
            "depths": (4, 16, 64, 128),
            "width": 128,
            "seeds": 5,
            "lrs": (0.003, 0.01, 0.03, 0.1),
            "diag_depth": 200,
            "diag_width": 1024,
        },
    ),
}
KEEP = ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss", "diverged")


def config(base: train.Config, width: int, depth: int, net: str) -> train.Config:
    hidden = (width,) * depth
    if net == "batchnorm":
        return base.replace(model=bn_resmlp, hidden=hidden)
    return base.replace(hidden=hidden, residual_init=net)


def stream_stats(cfg: train.Config, data: datasets.Dataset, seeds: int = STAT_SEEDS) -> np.ndarray:
    """Second moment E[h_l²] of the residual stream entering each block l (and leaving the
    last: L + 1 values) at init, pooled over PROBE examples and the width; (seeds, L + 1).
    BatchNorm uses the batch's statistics (training mode), as in the first step."""
    x = jnp.asarray(data.x_train[:PROBE])
    model = train.build_model(cfg, 1.0)
    depth = len(cfg.hidden)

    def one(key: jax.Array) -> jax.Array:  # op by op, vmapped over seeds: no deep-net compile
        variables = model.init(key, x[:2])
        _, state = model.apply(variables, x, train=True, mutable=["intermediates", "batch_stats"])
        inter = state["intermediates"]
        stream = [inter[f"block_{b}_in"][0] for b in range(depth)]
        stream.append(inter[f"block_{depth - 1}_out"][0])
        return jnp.stack([jnp.mean(h.astype(jnp.float32) ** 2) for h in stream])

    keys = jnp.stack([jax.random.key(k) for k in range(seeds)])
    return np.asarray(jax.vmap(one)(keys), np.float64)


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    base, grid = CONFIGS[check_scale(scale)]
    data = datasets.load(base.dataset).first(grid.get("examples", 0))
    width, depths = grid["width"], tuple(grid["depths"])
    kw = {"seeds": grid["seeds"], "sigmas": (1.0,), "lrs": grid["lrs"], "progress": progress}
    hidden = [(width,) * d for d in depths]
    plain = sweep.run(
        config(base, width, depths[0], "standard"), data,
        over={"residual_init": list(NETS[:3]), "hidden": hidden},
        out=study.checkpoints(out_dir, "plain"), **kw,
    )  # fmt: skip
    bn = sweep.run(config(base, width, depths[0], "batchnorm"), data, over={"hidden": hidden},
                   out=study.checkpoints(out_dir, "batchnorm"), **kw)  # fmt: skip
    bn = bn.expand_dims(residual_init=["batchnorm"])
    parts = [p[list(KEEP)].drop_attrs().squeeze("sigma", drop=True) for p in (plain, bn)]
    ds = xr.concat(parts, dim="residual_init").rename(residual_init="net")
    ds = ds.assign_coords(hidden=list(depths)).rename(hidden="depth")
    ds.attrs.update({k: v for k, v in plain.attrs.items() if k != "config"})
    ds.attrs["config_standard"] = config(base, width, depths[-1], "standard").to_json()
    ds.attrs["width"], ds.attrs["dataset"] = width, base.dataset
    ds.attrs["train_examples"] = data.num_train
    # Signal propagation at init, at diag_depth blocks, for each net: at a wide width (the
    # mean-field prediction's regime) and at the training width.
    deep, widths = grid["diag_depth"], (grid["diag_width"], width)
    m2 = [[stream_stats(config(base, w, deep, n), data) for n in NETS] for w in widths]
    ds["stream_m2"] = (("diag_width", "net", "stat_seed", "block"), np.asarray(m2))
    ds = ds.assign_coords(block=np.arange(deep + 1), diag_width=list(widths))
    ds.stream_m2.attrs.update(
        long_name="E[h_l²] of the residual stream entering block l (l = L: leaving the last)",
        units="1",
    )
    ds.attrs["diag_depth"] = deep
    results.save(ds, Path(out_dir) / "results.nc")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "results.nc")


best_lr_final = study.best_lr_final  # tests and figures use it by this name


def growth_per_block(m2: np.ndarray) -> float:
    """exp of the least-squares slope of log RMS = ½ log E[h²] over blocks: the RMS factor
    per block (geometric mean over init seeds first)."""
    log_rms = 0.5 * np.mean(np.log(np.asarray(m2, dtype=np.float64)), axis=0)
    return float(np.exp(np.polyfit(np.arange(log_rms.size), log_rms, 1)[0]))


def variance_slope(m2: np.ndarray) -> float:
    """Least-squares slope of E[h_l²] − E[h_0²] over l (mean over init seeds): variance added
    per block."""
    m = np.mean(np.asarray(m2, dtype=np.float64), axis=0)
    return float(np.polyfit(np.arange(m.size), m - m[0], 1)[0])


def measure(res: xr.Dataset) -> dict[str, Any]:
    """Per (net, depth): best-lr final train loss and test accuracy per seed, the best lr, the
    initial train loss; per net at diag_depth: RMS growth per block, variance slope, and the
    largest |E[h_l²]/E[h_0²] − 1|."""
    loss, acc = best_lr_final(res), best_lr_final(res, "test_acc")
    depths = [int(d) for d in res.depth.values]
    init_loss = res.train_loss.isel(epoch=0, lr=0)  # before training: lr does not matter yet
    m2 = res.stream_m2.isel(diag_width=0)  # the wide one
    narrow = res.stream_m2.isel(diag_width=-1)
    out: dict[str, Any] = {
        "depths": depths, "epochs": int(res.epoch.max()), "diag_depth": int(res.attrs["diag_depth"]),
        "lrs": [float(v) for v in res.lr.values], "final_loss": {}, "test_acc": {},
        "init_loss": {}, "diverged_lrs": {},
    }  # fmt: skip
    for n in NETS:
        for key, arr in (("final_loss", loss), ("test_acc", acc), ("init_loss", init_loss)):
            out[key][n] = {d: arr.sel(net=n, depth=d).values.tolist() for d in depths}
        div = res.diverged.sel(net=n).astype(bool).any("seed")
        out["diverged_lrs"][n] = {
            d: [float(lr) for lr in res.lr.values[div.sel(depth=d).values]] for d in depths
        }
    out["growth"] = {n: growth_per_block(m2.sel(net=n).values) for n in NETS}
    out["diag_width"] = [int(w) for w in res.diag_width.values]
    out["growth_narrow"] = {n: growth_per_block(narrow.sel(net=n).values) for n in NETS}
    out["var_slope"] = {n: variance_slope(m2.sel(net=n).values) for n in NETS}
    ratio = res.stream_m2 / res.stream_m2.isel(block=0)
    out["identity_dev"] = {n: float(np.abs(ratio.sel(net=n) - 1).max()) for n in ("zero", "fixup")}
    return out


def _trains(m: dict[str, Any], net: str) -> tuple[bool, str]:
    parts, ok = [], True
    for d in m["depths"]:
        v = np.asarray(m["final_loss"][net][d], dtype=float)
        ok &= bool(np.isfinite(v).all() and np.all(v < TRAINED))
        parts.append(f"L={d}: {mean_spread(v)}")
    return ok, "final train loss " + "; ".join(parts)


def verdict(m: dict[str, Any]) -> list[Row]:
    deep, dd, n_ep = m["depths"][-1], m["diag_depth"], m["epochs"]
    g, s = m["growth"], m["var_slope"]
    wide, narrow = m["diag_width"]
    std_deep = np.asarray(m["final_loss"]["standard"][deep], dtype=float)
    std_init = np.asarray(m["init_loss"]["standard"][deep], dtype=float)
    rows = [
        Row(
            f"C3 (Hanin & Rolnick 2018): standard blocks grow the stream √2 per block ({dd} blocks)",
            f"Var(h_(l+1)) = (1 + 1)·Var(h_l): RMS × {STANDARD_GROWTH:.3f} per block (±{GROWTH_TOL})",
            "Hanin & Rolnick 2018, arXiv:1803.01719, Thm. 5 (M_L ∝ Π(1 + η_l), η = 1 for He)",
            f"fitted RMS factor per block at init, width {wide}: {g['standard']:.3f} "
            f"({STAT_SEEDS} inits × {PROBE} examples); at the training width {narrow}: "
            f"{m['growth_narrow']['standard']:.3f}",
            bool(abs(g["standard"] - STANDARD_GROWTH) < GROWTH_TOL),
            "a He branch adds the stream's own variance each block; the typical (log) growth "
            "falls below it by O(1/width) (Hanin & Rolnick: log M_L's spread ∝ Σ 1/n)",
        ),
        Row(
            f"C9 (De & Smith 2020): with BatchNorm the stream's variance grows linearly ({dd} blocks)",
            f"Var(h_l) ≈ Var(h_0) + l: slope {BN_SLOPE:g} per block (±{BN_SLOPE_TOL})",
            "De & Smith 2020, arXiv:2002.10444, §2 (BN biases residual blocks to the identity)",
            f"slope of E[h_l²] − E[h_0²] over l: {s['batchnorm']:.3f}; RMS factor per block "
            f"{g['batchnorm']:.3f}",
            bool(abs(s["batchnorm"] - BN_SLOPE) < BN_SLOPE_TOL),
            "the normalized branch adds ≈ 1 whatever h is: block l's branch is 1/√l of the stream",
        ),
        Row(
            f"C3: standard init without normalization does not train at {deep} blocks",
            f"exploding stream (Var × 2^{deep}): final train loss ≥ {TRAINED:.2f} or diverged, "
            "at every lr",
            "Hanin & Rolnick 2018; Zhang et al. 2019, arXiv:1901.09321, §2 (exploding logits)",
            f"initial loss {mean_spread(std_init, 1)}; best-lr final train loss "
            f"{mean_spread(std_deep)}; diverged at lrs {m['diverged_lrs']['standard'][deep]} "
            f"after {n_ep} epochs",
            bool(not np.any(std_deep < TRAINED)),
            f"logits start 2^({deep}/2) ≈ {2 ** (deep / 2):.0f}× too large",
        ),
    ]
    for net, claim, source in (
        ("fixup", "Fixup trains at every depth without normalization",
         "Zhang et al. 2019, arXiv:1901.09321: trains 'even for networks with 10,000 layers'"),
        ("zero", "zero-init branches (SkipInit/ReZero α = 0) train at every depth",
         "De & Smith 2020, arXiv:2002.10444 (SkipInit); Bachlechner et al. 2020, arXiv:2003.04887"),
        ("batchnorm", "the BatchNorm residual net trains at every depth",
         "He et al. 2016, arXiv:1603.05027 (pre-activation ResNet)"),
    ):  # fmt: skip
        ok, ours = _trains(m, net)
        rows.append(
            Row(
                f"C3: {claim} ({', '.join(map(str, m['depths']))} blocks)",
                f"every seed's final train loss < ln 10 − 0.5 = {TRAINED:.2f} (best lr)",
                source,
                ours + f" after {n_ep} epochs",
                ok,
                "the block is the identity at init: the stream keeps its scale at any depth"
                if net != "batchnorm"
                else "BN keeps each branch's input at unit scale",
            )
        )
    acc = {  # a seed whose every lr diverged counts as chance
        n: np.nan_to_num(np.asarray(m["test_acc"][n][deep], dtype=float), nan=0.1)
        for n in ("fixup", "zero", "batchnorm")
    }
    # Non-inferiority, paired by seed: the one-sided 95% lower bound of (net − BN) above −margin.
    gaps = {n: difference_interval(acc["batchnorm"], acc[n], 0.90) for n in ("fixup", "zero")}
    outcome = all_of(*(True if lo > -MATCH_BN_ACC else False if hi < -MATCH_BN_ACC else None
                       for _, lo, hi in gaps.values()))  # fmt: skip
    rows.append(
        Row(
            f"C9: Fixup and SkipInit match BatchNorm at {deep} blocks",
            f"best-lr test accuracy not more than {MATCH_BN_ACC} below the BN net's (paired by "
            "seed: the one-sided 95% lower bound of net − BN above −margin passes; the upper bound "
            "below −margin fails)",
            "Zhang et al. 2019 (Fixup matches BN on CIFAR-10/ImageNet); De & Smith 2020",
            f"test acc: Fixup {mean_spread(acc['fixup'])}, zero α {mean_spread(acc['zero'])}, "
            f"BN {mean_spread(acc['batchnorm'])}; "
            + "; ".join(
                f"{'Fixup' if n == 'fixup' else 'zero α'} − BN {d:+.3f}, 90% CI "
                f"[{lo:+.3f}, {hi:+.3f}]"
                for n, (d, lo, hi) in gaps.items()
            ),
            outcome,
            "trainability is not the whole story: BN also regularizes and allows larger lrs",
        )
    )
    dev = m["identity_dev"]
    rows.append(
        Row(
            f"Sanity: zero-α and Fixup blocks are the identity at init ({dd} blocks)",
            f"E[h_l²]/E[h_0²] = 1 (within {IDENTITY_TOL:g}) for every block",
            "construction (initjax.nets.ResMLP): α = 0 or W₂ = 0 makes every branch 0",
            f"largest |ratio − 1|: zero α {dev['zero']:.1e}, Fixup {dev['fixup']:.1e}",
            bool(max(dev.values()) < IDENTITY_TOL),
            "checks the models, not a claim: the branches add nothing until trained",
        )
    )
    return rows


def figures(out_dir: Path) -> list[Path]:
    res = load(out_dir)
    fig, axes = plots.figure(ncols=3, size=(4.4, 3.4))
    colors = {"standard": "tab:red", "zero": "tab:blue", "fixup": "tab:green", "batchnorm": "k"}
    ax_sig, ax_depth, ax_curve = axes
    blocks = res.block.values
    for n in NETS:
        rms = np.sqrt(res.stream_m2.isel(diag_width=0).sel(net=n).values)
        plots.band(ax_sig, blocks, rms, label=LABELS[n], color=colors[n], marker="o", ms=2)
    rms0 = float(np.sqrt(res.stream_m2.isel(diag_width=0).sel(net="standard", block=0).mean()))
    ax_sig.plot(blocks, rms0 * 2.0 ** (blocks / 2), "r:", lw=1, label="√2^l (theory)")
    ax_sig.set(yscale="log", xlabel="block l", ylabel="RMS of the residual stream h_l at init")
    ax_sig.set_title(
        f"{int(res.attrs['diag_depth'])} blocks at init, width {int(res.diag_width[0])}"
    )
    ax_sig.legend(fontsize=7)
    loss, depths = best_lr_final(res), res.depth.values
    for n in NETS:
        runs = loss.sel(net=n).transpose("seed", "depth").values
        plots.band(ax_depth, depths, runs, label=LABELS[n], color=colors[n], marker="o")
        lost = depths[np.isnan(runs).all(axis=0)]
        if lost.size:  # every lr diverged: marked at chance
            ax_depth.plot(lost, [LN10] * lost.size, "x", ms=10, mew=2, color=colors[n],
                          label=f"{LABELS[n]}: diverged at every lr")  # fmt: skip
    plots.anchor_line(ax_depth, LN10, "ln 10 (chance)")
    plots.anchor_line(ax_depth, TRAINED, "'trains' threshold", color="gray", ls="--")
    plots.log2_axis(ax_depth, depths)
    ax_depth.set(xlabel="blocks L", ylabel="final train loss (best lr)")
    ax_depth.set_title(f"after {int(res.epoch.max())} epochs")
    ax_depth.legend(fontsize=7)
    deep, (best, _) = int(depths[-1]), study.best_lr(res)  # the lr of the depth panel
    for n in NETS:
        lr_i = int(best.sel(net=n, depth=deep))
        curves = res.train_loss.sel(net=n, depth=deep).isel(lr=lr_i).transpose("seed", "epoch")
        curves = curves.dropna("epoch", how="all")  # the epochs evaluated (eval_every)
        plots.band(ax_curve, curves.epoch.values, curves.values, label=LABELS[n], color=colors[n])
    plots.anchor_line(ax_curve, LN10)
    ax_curve.set(yscale="log", xlabel="epoch", ylabel="train loss (best lr)")
    ax_curve.set_title(f"{deep} blocks (epoch 0: BN in eval mode)")
    ax_curve.legend(fontsize=7)
    fig.suptitle(
        f"Residual MLP (ReLU, He kernels, width {res.attrs['width']}) on "
        f"{plots.dataset_name(str(res.attrs['dataset']))}: residual init vs depth"
    )
    return plots.save(fig, Path(out_dir) / "residual_depth")


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
