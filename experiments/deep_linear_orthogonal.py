"""Deep linear nets: orthogonal init learns in depth-independent time, scaled Gaussian does not.

Question: is a "suitably scaled Gaussian" (the note's advice) all a deep net needs? Saxe et al.
2013 (arXiv:1312.6120): deep *linear* MLPs (width = input dim = 32) on a linear-teacher task
(``data.synthetic``), orthogonal W (gain 1) vs scaled Gaussian N(0, 1/n_in) (``lecun_normal``).
Learning time = first epoch with train loss ≤ 0.3 at the best lr of a grid, as Saxe compares
depths at their optimal rates. Expected: nearly flat for orthogonal (a finite delay), growing
with depth for Gaussian.

Claims: C3, C8. Command: ``python experiments/deep_linear_orthogonal.py --quick`` (depths 1 and
16, 2 seeds, 30 epochs; ~20 s on 2 CPU cores) or ``--full`` (depths 1–64, 5 seeds, 100 epochs;
~7 min). A seed sets the init and the minibatch order (``order="per_seed"``). Full-scale result
(``docs/deep_linear_orthogonal``, 5 seeds, 2026-12-01, 400 s): orthogonal needs 4.0, 4.0, 6.0,
5.8, 7.4, 7.4, 7.2 epochs (seed means) at depths 1–64, Gaussian 4.0, 5.0, 8.2, 17.6, 63.4 and
never within 100 epochs at 32 and 64 (0 of 5 seeds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr

from initjax import data as datasets
from initjax import plots, results, study, sweep, train
from initjax.aggregate import seed_ci
from initjax.study import Row, check_scale

NAME = "deep_linear_orthogonal"
ORDER = 9
QUESTION = (
    "Do deep linear nets learn in depth-independent time with orthogonal but not Gaussian init?"
)
CLAIMS = ("C3", "C8")
RUNTIME = {
    "quick": "~20 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~7 min (2 CPU cores; 400 s measured)",
}

# Anchors: Saxe et al. 2013, arXiv:1312.6120 (depth-independent learning time, orthogonal).
SAXE = "Saxe et al. 2013, arXiv:1312.6120"
FLAT_RATIO = 2.0  # "depth-independent": time(deepest) ≤ 2 × time(shallowest), and vice versa
LOSS_THRESHOLD = 0.3  # nats: "learned"
SCHEMES = {"orthogonal": "orthogonal", "gaussian": "lecun_normal"}  # both gain 1


def _lrs(lo: int, hi: int, n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(np.logspace(lo, hi, n), 5))


# One train.Config per scale (hidden is replaced per depth, scheme per init) and its grid.
BASE = train.Config(
    model="mlp", hidden=(32,), activation="linear", scheme="orthogonal", optimizer="sgd",
    batch_size=64, epochs=30, dataset="synthetic", order="per_seed",
)  # fmt: skip
CONFIGS = {
    # One device: a quick run is compile-bound and one device compiles ~30% faster than two.
    "quick": (BASE, {"seeds": 2, "lrs": _lrs(-2, 0, 9), "depths": (1, 16), "devices": 1}),
    "full": (
        BASE.replace(epochs=100),
        {"seeds": 5, "lrs": _lrs(-3, 0, 13), "depths": (1, 2, 4, 8, 16, 32, 64), "devices": None},
    ),
}


def config(base: train.Config, depth: int, scheme: str) -> train.Config:
    return base.replace(hidden=(32,) * depth, scheme=scheme)


def _sweep(
    base: train.Config, grid: dict, data: Any, depth: int, scheme: str, progress: bool, out: Path
):
    devices = None if grid["devices"] is None else jax.devices()[: grid["devices"]]
    # jax 0.10 on CPU can deadlock running one program with many batched QRs (orthogonal init
    # of a deep net vmapped over more than ~4 cells; the XLA flag
    # --xla_cpu_enable_concurrency_optimized_scheduler=false avoids it). So orthogonal grids
    # go one lr at a time: every call has the same grid shape and reuses one compilation.
    lrs = list(grid["lrs"])
    chunks = [[lr] for lr in lrs] if scheme == "orthogonal" else [lrs]
    cfg = config(base, depth, scheme)
    # Each sweep takes seconds: it is the unit of resumption (one checkpoint, at its end).
    kw = {"progress": progress, "devices": devices, "checkpoint_every": cfg.epochs}
    parts = [
        sweep.run(
            cfg,
            data,
            grid["seeds"],
            [1.0],
            c,
            out=study.checkpoints(out, f"{scheme}{depth}_{i}"),
            **kw,
        )
        for i, c in enumerate(chunks)
    ]
    res = xr.concat(parts, dim="lr", data_vars="all") if len(parts) > 1 else parts[0]
    return res[["train_loss", "train_acc", "diverged"]].squeeze("sigma", drop=True).drop_attrs()


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    base, grid = CONFIGS[check_scale(scale)]
    data = datasets.load("synthetic", n_train=1024, n_test=512, dim=32)
    by_scheme = [
        xr.concat(
            [_sweep(base, grid, data, d, scheme, progress, out_dir) for d in grid["depths"]],
            dim=pd.Index(list(grid["depths"]), name="depth"),
        )
        for scheme in SCHEMES.values()
    ]
    linear = xr.concat(by_scheme, dim=pd.Index(list(SCHEMES), name="scheme"))
    linear.attrs = {
        "grid": json.dumps(grid),
        "config_deepest": config(base, max(grid["depths"]), "orthogonal").to_json(),
    }
    results.save(linear, Path(out_dir) / "linear.nc")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "linear.nc")


def learning_time(linear: xr.Dataset) -> xr.DataArray:
    """First epoch with train loss ≤ LOSS_THRESHOLD at the best lr; NaN if none reached it."""
    hit = linear.train_loss <= LOSS_THRESHOLD
    return hit.argmax("epoch").where(hit.any("epoch")).min("lr")


def figures(out_dir: Path) -> list[Path]:
    linear = load(out_dir)
    fig, (ax,) = plots.figure()
    t, epochs = learning_time(linear), int(linear.epoch.max())
    for name, ls in zip(t.scheme.values, ("-", "--"), strict=True):
        runs = t.sel(scheme=name).transpose("seed", "depth").values
        plots.band(
            ax, t.depth.values, np.nan_to_num(runs, nan=epochs + 1), label=str(name), marker="o",
            ls=ls,
        )  # fmt: skip
    ax.axhline(epochs + 1, color="gray", ls=":", lw=1, label=f"not reached in {epochs} epochs")
    plots.log2_axis(ax, t.depth.values)
    plots.label(
        ax,
        "depth (hidden linear layers, width 32)",
        f"epochs to train loss ≤ {LOSS_THRESHOLD} (best lr)",
        "Deep linear nets learning a linear teacher (Saxe 2013)",
    )
    return plots.save(fig, Path(out_dir) / NAME)


def measure(linear: xr.Dataset) -> dict[str, Any]:
    """Learning times per scheme: shallowest and deepest (per seed), their growth ratio."""
    t, epochs = learning_time(linear), int(linear.epoch.max())
    out: dict[str, Any] = {
        "epochs": epochs, "depth_min": int(linear.depth.min()), "depth_max": int(linear.depth.max())
    }  # fmt: skip
    for scheme in SCHEMES:
        shallow, deep = (t.sel(scheme=scheme).isel(depth=i).values for i in (0, -1))
        # Never reached counts as epochs + 1, so for a censored run the ratio is a lower bound.
        capped = np.nan_to_num(deep, nan=epochs + 1)
        out[scheme] = {
            "shallow": shallow.tolist(),
            "deep": deep.tolist(),
            "growth": float(capped.mean() / shallow.mean()),
            "growth_ci": growth_ci(shallow, capped),
            "never": int(np.isnan(deep).sum()),
            "fastest_lr": {
                k: fastest_lr(linear.sel(scheme=scheme).isel(depth=i)).tolist()
                for k, i in (("shallow", 0), ("deep", -1))
            },
        }
    return out


def growth_ci(shallow: np.ndarray, deep: np.ndarray, draws: int = 4000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(deep) / mean(shallow), seeds resampled in
    pairs (seed i's nets at both depths; a fixed generator: the same interval every call)."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(shallow), size=(draws, len(shallow)))
    ratio = deep[idx].mean(axis=1) / shallow[idx].mean(axis=1)
    lo, hi = np.quantile(ratio, [0.025, 0.975])
    return float(lo), float(hi)


def fastest_lr(linear: xr.Dataset) -> np.ndarray:
    """Per seed, the lr that reached the loss threshold first (NaN where none did): the lr
    ``learning_time`` takes for that seed."""
    hit = linear.train_loss <= LOSS_THRESHOLD
    t = hit.argmax("epoch").where(hit.any("epoch"))
    best = linear.lr.values[t.fillna(np.inf).argmin("lr").values]
    return np.where(t.notnull().any("lr").values, best, np.nan)


def _times(m: dict[str, Any], scheme: str) -> str:
    s = m[scheme]
    lo, hi = s["growth_ci"]
    lrs = {k: sorted({f"{v:g}" for v in s["fastest_lr"][k] if np.isfinite(v)}, key=float)
           for k in ("shallow", "deep")}  # fmt: skip
    text = (
        f"{seed_ci(s['shallow'], 1)} → {seed_ci(s['deep'], 1)} epochs (mean ± 95% CI); ratio "
        f"{s['growth']:.2f}, 95% CI [{lo:.2f}, {hi:.2f}] (bootstrap over seeds); fastest lr per "
        f"seed {', '.join(lrs['shallow'])} → {', '.join(lrs['deep'])}"
    )
    return text + (f" ({s['never']} seed(s) not within {m['epochs']})" if s["never"] else "")


def _below(ci: tuple[float, float], bound: float) -> bool | None:
    """True when the interval lies at or under ``bound``, False when above it, else None."""
    return True if ci[1] <= bound else False if ci[0] > bound else None


def verdict(m: dict[str, Any]) -> list[Row]:
    d0, d1 = m["depth_min"], m["depth_max"]
    r_orth, r_gauss = m["orthogonal"]["growth"], m["gaussian"]["growth"]
    lo, hi = m["gaussian"]["growth_ci"]
    return [
        Row(
            "Saxe: orthogonal deep linear nets learn in depth-independent time",
            f"time(depth {d1}) ≤ 2 × time(depth {d0}) at each depth's best lr (the ratio's 95% "
            "CI under 2; above it: fails)",
            SAXE,
            _times(m, "orthogonal"),
            _below(m["orthogonal"]["growth_ci"], FLAT_RATIO),
            f"ratio {r_orth:.2f}: a product of orthogonal W is orthogonal",
        ),
        Row(
            "Saxe: scaled-Gaussian deep linear nets slow down with depth",
            f"time(depth {d1}) ≥ 2 × time(depth {d0}) (the ratio's 95% CI above 2; under it: "
            "fails)",
            SAXE,
            _times(m, "gaussian"),
            True if lo >= FLAT_RATIO else False if hi < FLAT_RATIO else None,
            f"ratio ≥ {r_gauss:.2f}: products of Gaussian W are ill-conditioned",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
