"""Does the best learning rate transfer across width? SP vs µP (issue 19).

Question: under the standard parametrization (SP) the learning rate that trains an MLP best
moves as the net gets wider; under µP (Yang & Hu 2021, "Tensor Programs IV"; Yang et al. 2022,
"Tensor Programs V", Fig. 1 for Transformers with Adam, Fig. 3 for MLPs) it stays put, so it
can be tuned on a narrow net and reused on a wide one. Does that hold here, and does the µP
"coordinate check" (activation change after a few steps vs width) pass for µP and fail for SP?

Settings: ReLU MLP with two hidden layers of width n, He-normal kernels (σ = the gain, 1),
zero biases, Adam (TP-V's Fig. 1 optimizer; with plain SGD the SP optimum barely moved on
MNIST-1D in a pilot, 32 → 512: see the README row), constant lr on a log2 grid. SP and µP
per ``initjax.parametrization`` (µP: input lr ×1, hidden lr ×1/m, output init ×1/√m and lr
×1/m for Adam, m = n / n₀) with n₀ = the narrowest width, where µP equals SP. Every
(parametrization, width) is one compiled grid over (seed, lr); seeds vary the init *and* the
data order (``order="per_seed"``). Best lr per width: lowest final train loss (all training
examples), mean over seeds, cells with a diverged seed left out; a 95% t interval on the loss
at each lr and a seed bootstrap of the best lr and of the drift
|log2 best lr(widest) − log2 best lr(narrowest)|.

Command: ``initjax run width_transfer --quick`` (MNIST-1D, widths 32/128/512, 6 lrs
2^-9…2^-4, 3 seeds, 3 epochs; ~45 s on 2 idle CPU cores, measured 2026-12-01: six
compiled grids and the coordinate check's per-width compiles take about half) or ``--full``
(Fashion-MNIST, widths 64 → 2048, 10 lrs 2^-14…2^-5, 5 seeds, 5 epochs, evaluated at init
and after the last; ≈ 1.8·10¹⁵ FLOPs, ~6.5–8.5 h on 2 CPU cores estimated at the 60–80 GFLOP/s
that sigma_map's Fashion-MNIST MLP grids ran at on this machine; not run yet). Expected (TP-V): µP's best lr within one grid step (×2) at every width, SP's falling
with width (∝ 1/n for Adam's hidden layers); coordinate check flat for µP, the SP logits'
change ∝ n.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import xarray as xr

from initjax import aggregate, coordcheck, plots, results, study, sweep, train
from initjax import data as datasets
from initjax.study import Row, check_scale

NAME = "width_transfer"
ORDER = 20
QUESTION = "Does the best learning rate transfer across width (SP vs µP)?"
CLAIMS = ()  # beyond the note (issue 19): no claim of ANCHORS.md
BEYOND_NOTE = True  # REPORT.md's "Beyond the note" (issue 19)
RUNTIME = {
    "quick": "~45 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~6.5–8.5 h (2 CPU cores, estimated from FLOPs at 60–80 GFLOP/s; minutes on one GPU)",
}

# Anchors and their sources.
MUP_MAX_DRIFT = 1.0  # octaves (one log2 grid step): TP-V Fig. 1 (right) and Fig. 3, µP's optimum
# stays put across width (as seen there: within about a factor 2).
SP_SOURCE = "TP-V Fig. 1 (left) and Fig. 3: SP's optimum shifts with width; Adam: ∝ 1/n"
COORD_TOL = 0.25  # |slope| of log(activation change) vs log(width), every layer, under µP
# (TP-V Appendix D / Fig. 5: µP's curves are flat; same tolerance as tests/test_parametrization.py)
SP_LOGIT_SLOPE = 0.5  # SP with Adam: Δlogits = ΔW h sums n updates of size lr → slope 1 in
# theory (Yang & Hu 2021, §5); "clearly positive" = at least half of it
SANITY_ATOL = 1e-5  # SP and µP are the same program at the base width: equal losses
BOOTSTRAP = 2000  # seed resamples for the best lr's interval

PARAMS = ("sp", "mup")
SIGMA = 1.0  # He gain
DEPTH = 2


def hidden(widths: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [(w,) * DEPTH for w in widths]


def log2_grid(lo: int, hi: int) -> tuple[float, ...]:
    """lr = 2^lo … 2^hi, one value per octave."""
    return tuple(2.0**k for k in range(lo, hi + 1))


QUICK_WIDTHS = (32, 128, 512)
FULL_WIDTHS = (64, 128, 256, 512, 1024, 2048)
QUICK = train.Config(model="mlp", hidden=hidden(QUICK_WIDTHS)[0], activation="relu",
                     scheme="he_normal", optimizer="adam", dataset="mnist1d", batch_size=128,
                     epochs=3, order="per_seed", base_width=QUICK_WIDTHS[0])  # fmt: skip
FULL = QUICK.replace(dataset="fashion_mnist", batch_size=256, epochs=5, eval_every=5,
                     hidden=hidden(FULL_WIDTHS)[0], base_width=FULL_WIDTHS[0])  # fmt: skip
# Only the last epoch is read (eval_every=5: evaluated at init and at the end, not between):
# evaluating 70 000 examples every epoch would be a third of the full run's FLOPs.
CONFIGS = {
    "quick": (QUICK, {"seeds": 3, "sigmas": (SIGMA,), "lrs": log2_grid(-9, -4),
                      "over": {"parametrization": PARAMS, "hidden": hidden(QUICK_WIDTHS)}}),
    "full": (FULL, {"seeds": 5, "sigmas": (SIGMA,), "lrs": log2_grid(-14, -5),
                    "over": {"parametrization": PARAMS, "hidden": hidden(FULL_WIDTHS)}}),
}  # fmt: skip
# The coordinate check: a few Adam steps at one lr (the base width's optimum, roughly) per
# width; each width compiles its own step, so the quick scale keeps to the trained widths.
COORD = {
    "quick": {"widths": (32, 128, 512), "steps": 4, "lr": 2.0**-6},
    "full": {"widths": (64, 128, 256, 512, 1024, 2048, 4096), "steps": 4, "lr": 2.0**-8},
}


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    cfg, grid = CONFIGS[check_scale(scale)]
    data = datasets.load(cfg.dataset)
    res = sweep.run(cfg, data, progress=progress, out=study.checkpoints(out_dir, "widths"), **grid)
    results.save(res, Path(out_dir) / "results.nc")
    cc = COORD[scale]
    changes = {
        p: coordcheck.coordinate_check(
            cfg.replace(parametrization=p),
            data,
            cc["widths"],
            steps=cc["steps"],
            sigma=SIGMA,
            lr=cc["lr"],
        )
        for p in PARAMS
    }
    layers = list(changes[PARAMS[0]])
    coord = xr.Dataset(
        {"change": (("parametrization", "layer", "width"),
                    np.asarray([[changes[p][k] for k in layers] for p in PARAMS]))},
        coords={"parametrization": list(PARAMS), "layer": layers, "width": list(cc["widths"])},
        attrs={"steps": cc["steps"], "lr": cc["lr"], "sigma": SIGMA, "config": cfg.to_json()},
    )  # fmt: skip
    coord["change"].attrs.update(long_name="RMS change of the activations", units="1")
    results.save(coord, Path(out_dir) / "coordcheck.nc")


def load(out_dir: Path) -> dict[str, xr.Dataset]:
    return {
        "sweep": results.load(Path(out_dir) / "results.nc"),
        "coord": results.load(Path(out_dir) / "coordcheck.nc"),
    }


def widths_of(res: xr.Dataset) -> list[int]:
    """The trained widths, from the ``hidden`` coordinate (``"32,32"`` → 32)."""
    return [int(str(h).split(",")[0]) for h in res.hidden.values]


def final_loss(res: xr.Dataset, par: str, h: Any) -> xr.DataArray:
    """Final train loss (all training examples), dims (seed, lr), at σ = SIGMA."""
    return res.train_loss.isel(epoch=-1).sel(parametrization=par, hidden=h, sigma=SIGMA)


def best_index(loss_SxL: np.ndarray) -> int:
    """The lr index of the lowest mean loss over seeds; an lr where a seed diverged (NaN)
    is never the best. -1 when every lr has a diverged seed."""
    mean = np.asarray(loss_SxL, np.float64).mean(axis=0)
    mean = np.where(np.isfinite(mean), mean, np.inf)
    return -1 if np.all(np.isinf(mean)) else int(np.argmin(mean))


def measure(res: dict[str, xr.Dataset]) -> dict[str, Any]:
    """Per parametrization and width: the loss-vs-lr curve with 95% t intervals, the best lr
    (and its seed-bootstrap interval), the drift in octaves between the narrowest and widest
    widths (with its bootstrap interval), and the coordinate check's slopes."""
    ds, coord = res["sweep"], res["coord"]
    widths, lrs = widths_of(ds), ds.lr.values.astype(float)
    log2_lrs = np.log2(lrs)
    step = float(np.median(np.diff(log2_lrs)))
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"widths": widths, "log2_lrs": log2_lrs.tolist(), "step": step}
    for par in PARAMS:
        curves, best, boot = [], [], []
        for h in ds.hidden.values:
            loss = final_loss(ds, par, h).transpose("seed", "lr")
            agg = aggregate.over_seeds(loss, warn=False)
            curves.append({k: agg[k].values.tolist() for k in ("mean", "ci_low", "ci_high")})
            values = loss.values
            i = best_index(values)
            best.append(float(log2_lrs[i]) if i >= 0 else math.nan)
            n = values.shape[0]
            picks = [best_index(values[rng.integers(0, n, n)]) for _ in range(BOOTSTRAP)]
            boot.append(np.where(np.asarray(picks) >= 0, log2_lrs[picks], np.nan))
        drift_boot = np.abs(boot[-1] - boot[0])
        out[par] = {
            "curves": curves,
            "best_log2_lr": best,
            "best_ci": [np.nanpercentile(b, [2.5, 97.5]).tolist() for b in boot],
            "drift": abs(best[-1] - best[0]),
            "drift_ci": np.nanpercentile(drift_boot, [2.5, 97.5]).tolist(),
            "at_edge": [b in (log2_lrs[0], log2_lrs[-1]) for b in best],
            "_drift_boot": drift_boot,
        }
    sp_b, mup_b = out["sp"].pop("_drift_boot"), out["mup"].pop("_drift_boot")
    out["p_sp_drifts_more"] = float(np.mean(sp_b > mup_b))
    # The base width (the narrowest) is where µP is SP: the same numbers, by construction.
    base = ds.hidden.values[0]
    out["base_max_diff"] = float(
        np.nanmax(np.abs(final_loss(ds, "sp", base) - final_loss(ds, "mup", base)).values)
    )
    cw = coord.width.values
    out["coord"] = {
        par: coordcheck.slopes(cw, {str(k): coord.change.sel(parametrization=par, layer=k).values
                                    for k in coord.layer.values})
        for par in PARAMS
    }  # fmt: skip
    out["coord_widths"] = [int(w) for w in cw]
    return out


def _bests(m: dict[str, Any], par: str) -> str:
    return ", ".join(
        f"n={w}: 2^{b:g} [{lo:g}, {hi:g}]"
        for w, b, (lo, hi) in zip(
            m["widths"], m[par]["best_log2_lr"], m[par]["best_ci"], strict=True
        )
    )


def verdict(m: dict[str, Any]) -> list[Row]:
    sp, mup, step = m["sp"], m["mup"], m["step"]
    n0, n1 = m["widths"][0], m["widths"][-1]
    edge = {p: any(m[p]["at_edge"]) for p in PARAMS}

    def decided(ok: bool, *pars: str) -> bool | None:
        """None when a best lr sits at the grid's edge: the optimum is not resolved."""
        return None if any(edge[p] for p in pars) else bool(ok)

    mup_slopes, sp_slopes = m["coord"]["mup"], m["coord"]["sp"]
    return [
        Row(
            "µP: the best lr transfers across width",
            f"best lr moves ≤ {MUP_MAX_DRIFT:g} grid step (×2) from n = {n0} to n = {n1}",
            "Yang et al. 2022 (TP-V), Fig. 1 (right) and Fig. 3",
            f"log2 best lr (bootstrap 95%) {_bests(m, 'mup')}; drift {mup['drift']:g} octaves "
            f"[{mup['drift_ci'][0]:g}, {mup['drift_ci'][1]:g}]",
            decided(mup["drift"] <= MUP_MAX_DRIFT * step, "mup"),
            "µP's per-layer lr scaling keeps each layer's update Θ(1) as n grows"
            if mup["drift"] <= MUP_MAX_DRIFT * step
            else "µP's optimum moved more than a grid step: finite-width effects at these widths",
        ),
        Row(
            "SP: the best lr drifts with width, more than under µP",
            f"SP drift > µP drift (n = {n0} → {n1})",
            SP_SOURCE,
            f"SP log2 best lr {_bests(m, 'sp')}; drift {sp['drift']:g} octaves "
            f"[{sp['drift_ci'][0]:g}, {sp['drift_ci'][1]:g}] vs µP {mup['drift']:g}; "
            f"P(SP drift > µP drift) over seed resamples {m['p_sp_drifts_more']:.2f}",
            decided(sp["drift"] > mup["drift"], "sp", "mup"),
            "under SP with Adam a hidden layer's update grows ∝ n at a fixed lr, so the best lr falls"
            if sp["drift"] > mup["drift"]
            else "SP's optimum did not move more than µP's at these widths and budget",
        ),
        Row(
            "coordinate check: flat under µP, growing under SP",
            f"µP |slope| ≤ {COORD_TOL} every layer; SP logits slope ≥ {SP_LOGIT_SLOPE} "
            "(theory 1), log-log vs width",
            "TP-V Appendix D (coordinate check); Yang & Hu 2021 §5",
            "µP "
            + ", ".join(f"{k} {v:+.2f}" for k, v in mup_slopes.items())
            + "; SP "
            + ", ".join(f"{k} {v:+.2f}" for k, v in sp_slopes.items())
            + f" (widths {m['coord_widths'][0]}–{m['coord_widths'][-1]})",
            bool(
                max(abs(v) for v in mup_slopes.values()) <= COORD_TOL
                and sp_slopes["logits"] >= SP_LOGIT_SLOPE
            ),
            "the implementation's own test: µP's multipliers make the first steps width-free",
        ),
        Row(
            "sanity check (by construction): µP = SP at the base width",
            f"identical final losses at n = n₀ = {n0} (≤ {SANITY_ATOL:g})",
            "initjax.parametrization: every multiplier is 1 at m = 1",
            f"max |SP − µP| over (seed, lr): {m['base_max_diff']:.1e}",
            bool(m["base_max_diff"] <= SANITY_ATOL),
            "checks the code, not the science: both columns start from the same curve",
        ),
    ]


def figures(out_dir: Path) -> list[Path]:
    res = load(out_dir)
    ds, coord = res["sweep"], res["coord"]
    cfg = train.Config.from_json(str(ds.config.values.flat[0]))
    m = measure(res)
    x = np.asarray(m["log2_lrs"])
    fig, axes = plots.figure(ncols=3, size=(4.4, 3.4))
    names = {"sp": "SP (standard)", "mup": "µP"}
    for ax, par in zip(axes[:2], PARAMS, strict=True):
        for i, (w, curve) in enumerate(zip(m["widths"], m[par]["curves"], strict=True)):
            color = matplotlib.colormaps["viridis"](i / max(len(m["widths"]) - 1, 1))
            ax.plot(x, curve["mean"], "o-", ms=3, color=color, label=f"width {w}")
            ax.fill_between(x, curve["ci_low"], curve["ci_high"], color=color, alpha=0.2, lw=0)
            b = m[par]["best_log2_lr"][i]
            if math.isfinite(b):
                ax.plot(b, curve["mean"][int(np.argmin(np.abs(x - b)))], "*", ms=12, color=color,
                        mec="k")  # fmt: skip
        ax.set_ylim(top=min(3.0, ax.get_ylim()[1]))
        plots.label(ax, "log2 learning rate", "final train loss (mean, 95% t interval)",
                    f"{names[par]}: drift {m[par]['drift']:g} octaves (★ best)")  # fmt: skip
    ax = axes[2]
    for par, ls in (("sp", "--"), ("mup", "-")):
        for j, layer in enumerate(coord.layer.values):
            ax.plot(coord.width.values, coord.change.sel(parametrization=par, layer=layer), ls,
                    marker="o", ms=3, color=f"C{j}",
                    label=f"{names[par]} {layer} ({m['coord'][par][str(layer)]:+.2f})")  # fmt: skip
    ax.set_yscale("log")
    plots.log2_axis(ax, coord.width.values)
    plots.label(ax, "width n", "RMS activation change",
                f"coordinate check: {int(coord.steps)} Adam steps, lr 2^{math.log2(float(coord.lr)):g}",
                fontsize=6)  # fmt: skip
    fig.suptitle(
        f"Width transfer on {plots.dataset_name(cfg.dataset)}: ReLU MLP {DEPTH}×n, Adam, "
        f"{int(ds.epoch.max())} epochs, {ds.sizes['seed']} seeds (seed and data order)"
    )
    return plots.save(fig, Path(out_dir) / NAME)


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
