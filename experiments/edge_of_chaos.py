"""Edge of chaos: deep tanh nets train only where signals propagate (claim C3; Schoenholz 2017).

Question: is "good init keeps gradients from vanishing or exploding" a matter of one right
scale? Mean-field theory (Poole et al. 2016; Schoenholz et al. 2017, arXiv:1611.01232) says a
random tanh net with W ~ N(0, σ_w²/N), b ~ N(0, σ_b²) forgets its input's geometry over
ξ_c layers, ξ_c = −1/ln χ_c, and trains only when depth ≲ 6 ξ_c. ξ_c diverges at the
order-to-chaos transition χ₁ = 1, which for σ_b² = 0.05 sits at σ_w² ≈ 1.76.

Two parts. (1) Theory vs simulation of the length map: the per-layer second moment q^l of the
pre-activations at init, measured by a forward pass through a wide net, against
:func:`initjax.theory.predicted_variances` (each example's own q^0 = |x|²/N). (2) Trainability
heatmap: tanh MLPs over depth × σ_w² on MNIST-1D, σ_b² = 0.05, trained with plain SGD for a
fixed budget (one :func:`initjax.sweep.run` per depth, vmapped over seeds and σ_w²); colour =
final train accuracy, with 6 ξ_c(σ_w²) from :mod:`initjax.theory` drawn over it.

Weights are ``variance_scaling(scale=σ_w², mode="fan_in", distribution="normal")``, so the
sweep's σ axis *is* σ_w²; biases ``normal(σ_b = √0.05)`` (the output layer too).

Command: ``initjax run edge_of_chaos --quick`` (depths 4 and 32 × 4 σ_w², 2 seeds, width 64,
4 epochs; ~35 s on 2 idle CPU cores) or ``--full`` (9 depths to 128 × 13 σ_w², width 64,
30 epochs; an estimate of ~40 min on 2 CPU cores). Expected: q^l within a few % of theory;
at depth 32 the ordered net (σ_w² = 1, 6ξ_c ≈ 22) does not train at all while the critical one
does; in the full heatmap the trainable region is a wedge around σ_w² ≈ 1.76 bounded by 6ξ_c.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from initjax import data as datasets
from initjax import models, plots, results, study, sweep, theory, train
from initjax.study import Row, check_scale, mean_spread

NAME = "edge_of_chaos"
ORDER = 7
QUESTION = "Which init scales let deep tanh nets train, and does mean-field theory say why?"
CLAIMS = ("C3",)
RUNTIME = {"quick": "~35 s (2 CPU cores)", "full": "~40 min (2 CPU cores; estimated)"}

SIGMA_B2 = 0.05  # Schoenholz et al. 2017, Fig. 5–6
PUBLISHED_CRITICAL_SW2 = 1.76  # σ_w² at χ₁ = 1 for tanh, σ_b² = 0.05 (their Fig. 1)
Q_TOLERANCE = 0.05  # "within a few %": relative error of the seed-mean q^l
CHANCE = 0.1  # 10 classes
CRITICAL_ATOL = 0.01  # our quadrature's critical σ_w² vs the published 1.76
BEST_SW2_ATOL = 0.25  # deepest nets: the best σ_w² within one full-grid step of the critical
BEYOND_UNTRAINABLE = 0.9  # 6 ξ_c bound: this share of the cells beyond it do not train


# Plain SGD, one step size for every cell (a fixed budget); W ~ N(0, σ_w²/N) via
# variance_scaling (the sweep's σ axis is σ_w²), b ~ N(0, σ_b²). Per scale two parts: the
# trained nets (hidden width per Config, one sweep per depth of the grid) and the wide net whose
# q^l is measured at init. Once the inputs' correlations have collapsed (ordered phase), q^l of
# one net fluctuates by ≈ √(2/N) from seed to seed, so width · seeds ≳ 8000 keeps the seed mean
# within ~1.5%. A quick run is compile-bound: on one device it compiles ~30% faster than on two.
BASE = train.Config(
    model="mlp", hidden=(64,), activation="tanh", scheme="variance_scaling",
    scheme_kwargs=(("distribution", "normal"), ("mode", "fan_in")), bias_scheme="normal",
    bias_scale=SIGMA_B2**0.5, optimizer="sgd", lr=0.02, batch_size=128, epochs=4,
    dataset="mnist1d",
)  # fmt: skip
FULL = BASE.replace(epochs=30)
QUICK_SW2 = (1.0, 1.76, 3.0, 4.0)
FULL_SW2 = tuple(np.round(np.arange(1.0, 4.01, 0.25), 2))
CONFIGS = {
    "quick": {
        "trainability": (
            BASE,
            {"seeds": 2, "depths": (4, 32), "sigma_w2": QUICK_SW2, "devices": 1},
        ),
        "qmap": (
            BASE.replace(hidden=(1024,) * 10),
            {"seeds": 8, "examples": 64, "sigma_w2": QUICK_SW2},
        ),
    },
    "full": {
        "trainability": (
            FULL,
            {
                "seeds": 2,
                "depths": (4, 8, 16, 24, 32, 48, 64, 96, 128),
                "sigma_w2": FULL_SW2,
                "devices": None,
            },
        ),
        "qmap": (
            FULL.replace(hidden=(1000,) * 30),
            {"seeds": 16, "examples": 256, "sigma_w2": FULL_SW2},
        ),
    },
}


def deep(cfg: train.Config, depth: int) -> train.Config:
    """``cfg`` with ``depth`` hidden layers of its width."""
    return cfg.replace(hidden=(cfg.hidden[0],) * depth)


def measure_q(cfg: train.Config, x: np.ndarray, seeds: int, sigma_w2: np.ndarray) -> np.ndarray:
    """Per-layer mean of z² over examples and units at init, for the sweep's own init draws:
    (seed, σ_w², layer)."""
    x_BxD, model = jnp.asarray(x), train.build_model(cfg)  # applies params: its init is unused

    def one(seed: jax.Array, sw2: jax.Array) -> jax.Array:
        params = train.init_params(cfg, seed, sw2, x_BxD)
        _, preacts, _ = models.forward(model, {"params": params}, x_BxD)
        return jnp.stack([jnp.mean(z**2) for z in preacts])

    over_sigma = jax.jit(jax.vmap(one, in_axes=(None, 0)))  # one compile, seeds in a loop
    sw2 = jnp.asarray(sigma_w2, jnp.float32)
    return np.stack([np.asarray(over_sigma(jnp.int32(k), sw2)) for k in range(seeds)])


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    parts = CONFIGS[check_scale(scale)]
    out_dir = Path(out_dir)
    data = datasets.load("mnist1d")
    sb = SIGMA_B2**0.5

    # (1) q^l: simulation vs the length map, each example with its own q^0 = |x|²/N.
    q_cfg, q = parts["qmap"]
    sw2 = np.asarray(q["sigma_w2"])
    x = np.asarray(data.x_train[: q["examples"]])
    measured = measure_q(q_cfg, x, q["seeds"], sw2)
    q_depth = len(q_cfg.hidden)
    pred = theory.predicted_variances(
        q_depth, (x**2).mean(axis=1)[:, None], np.sqrt(sw2)[None, :], sb
    )
    qmap = xr.Dataset(
        {
            "q_measured": (("seed", "sigma_w2", "layer"), measured),
            "q_predicted": (("sigma_w2", "layer"), np.asarray(pred).mean(axis=0)[:, 1:]),
        },
        coords={"seed": np.arange(q["seeds"]), "sigma_w2": sw2, "layer": np.arange(1, q_depth + 1)},
        attrs={"width": q_cfg.hidden[0], "examples": q["examples"], "sigma_b2": SIGMA_B2},
    )
    results.save(qmap, out_dir / "qmap.nc")

    # (2) Trainability: one sweep (seeds × σ_w²) per depth, stacked along "depth".
    cfg, grid = parts["trainability"]
    sw2 = np.asarray(grid["sigma_w2"])
    devices = None if grid["devices"] is None else jax.devices()[: grid["devices"]]
    runs = []
    for depth in grid["depths"]:
        res = sweep.run(deep(cfg, depth), data, grid["seeds"], sigmas=sw2, progress=progress,
                        devices=devices)  # fmt: skip
        runs.append(res.squeeze("lr", drop=True).drop_attrs())
    heat = xr.concat(runs, dim=pd.Index(list(grid["depths"]), name="depth"))
    sw2_grid = np.linspace(1.0, 4.0, 121)
    six_xi_c = np.asarray(theory.trainable_depth(np.sqrt(np.concatenate([sw2_grid, sw2])), sb))
    heat["six_xi_c"] = ("sigma_w2_grid", six_xi_c[: sw2_grid.size])  # one compile for both
    heat["six_xi_c_at_sigma"] = ("sigma", six_xi_c[sw2_grid.size :])
    heat = heat.assign_coords(sigma_w2_grid=sw2_grid)
    heat.attrs = {
        "grid": json.dumps(grid, default=float),
        "config_deepest": deep(cfg, max(grid["depths"])).to_json(),
        "critical_sigma_w2": float(theory.critical_sigma_w("tanh", sb)) ** 2,
        "sigma_b2": SIGMA_B2,
    }
    results.save(heat, out_dir / "trainability.nc")


def _edges(v: np.ndarray, log: bool = False) -> np.ndarray:
    """Cell edges halfway between grid values (geometrically for a log axis)."""
    t = np.log(v) if log else v.astype(float)
    mid = (t[1:] + t[:-1]) / 2
    first = t[0] - (mid[0] - t[0]) if t.size > 1 else t[0] - 0.5
    last = t[-1] + (t[-1] - mid[-1]) if t.size > 1 else t[-1] + 0.5
    e = np.concatenate([[first], mid, [last]])
    return np.exp(e) if log else e


def figures(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    heat = results.load(out_dir / "trainability.nc")
    qmap = results.load(out_dir / "qmap.nc")
    sw2, depths = heat.sigma.values, heat.depth.values
    acc = heat.train_acc.isel(epoch=-1).mean("seed").fillna(CHANCE).transpose("depth", "sigma")
    crit = float(heat.attrs["critical_sigma_w2"])

    fig, (ax_h, ax_q) = plots.figure(ncols=2, size=(5.2, 4.0))
    mesh = ax_h.pcolormesh(
        _edges(sw2),
        _edges(depths, log=True),
        acc.values,
        cmap="viridis",
        vmin=CHANCE,
        shading="flat",
    )
    ax_h.set_yscale("log")
    if acc.size <= 40:  # small grids: print each cell's accuracy
        for (i, j), a in np.ndenumerate(acc.values):
            ax_h.text(
                sw2[j],
                depths[i],
                f"{a:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="k" if a > (CHANCE + float(acc.max())) / 2 else "w",
            )
    ax_h.set_ylim(*_edges(depths, log=True)[[0, -1]])
    ax_h.set_xlim(*_edges(sw2)[[0, -1]])
    fig.colorbar(mesh, ax=ax_h, label=f"train accuracy after {int(heat.epoch.max())} epochs")
    ax_h.plot(heat.sigma_w2_grid, heat.six_xi_c, "w--", lw=2, label="6 ξ_c (mean-field theory)")
    ax_h.axvline(crit, color="r", ls=":", lw=1.5, label=f"critical σ_w² = {crit:.2f}")
    ax_h.set_xlabel("σ_w² (weight variance × fan-in)")
    ax_h.set_ylabel("depth (hidden tanh layers)")
    ax_h.set_yticks(depths, [str(d) for d in depths])
    ax_h.minorticks_off()
    ax_h.legend(fontsize=7, loc="lower right", framealpha=0.8)
    ax_h.set_title("Trainability on MNIST-1D (chance = 0.1)", fontsize=9)

    for k, v in enumerate(qmap.sigma_w2.values):
        color = f"C{k}"
        q = qmap.q_measured.sel(sigma_w2=v)
        ax_q.plot(
            qmap.layer, qmap.q_predicted.sel(sigma_w2=v), "-", color=color, label=f"σ_w²={v:g}"
        )
        ax_q.errorbar(
            qmap.layer, q.mean("seed"), yerr=q.std("seed"), fmt="o", ms=3, color=color, capsize=2
        )
    ax_q.set_xlabel("layer $l$")
    ax_q.set_ylabel("$q^l$ = mean squared pre-activation at init")
    ax_q.set_yscale("log")
    ax_q.legend(fontsize=7, title="line: theory, dots: simulation", title_fontsize=7)
    ax_q.set_title(f"Length map, width {qmap.attrs['width']} (σ_b² = {SIGMA_B2})", fontsize=9)
    fig.suptitle("Edge of chaos: tanh MLPs, W ~ N(0, σ_w²/N), b ~ N(0, 0.05), plain SGD")
    return plots.save(fig, out_dir / "edge_of_chaos")


def trainable(heat: xr.Dataset) -> xr.DataArray:
    """Cells whose seed-mean final train accuracy is at least halfway from chance to the best
    cell (a relative criterion fixed in advance: budgets differ between scales)."""
    acc = heat.train_acc.isel(epoch=-1).fillna(CHANCE).mean("seed")
    return acc >= CHANCE + 0.5 * (float(acc.max()) - CHANCE)


def load(out_dir: Path) -> dict[str, xr.Dataset]:
    return {n: results.load(Path(out_dir) / f"{n}.nc") for n in ("trainability", "qmap")}


def measure(r: dict[str, xr.Dataset]) -> dict[str, Any]:
    """q^l theory error; the critical σ_w²; deepest trainable depth per σ_w²; where the deepest
    nets train best; how the trainable cells sit against the 6 ξ_c boundary."""
    heat, qmap = r["trainability"], r["qmap"]
    rel = (qmap.q_measured.mean("seed") - qmap.q_predicted) / qmap.q_predicted
    ok = trainable(heat).transpose("depth", "sigma")
    depth = heat.depth.values
    predicted = depth[:, None] <= heat.six_xi_c_at_sigma.values[None, :]
    beyond = ~predicted
    acc_deep = heat.train_acc.isel(epoch=-1, depth=-1).fillna(CHANCE)
    best_j = int(acc_deep.mean("seed").argmax("sigma"))
    n_beyond = int(beyond.sum())
    crit = float(heat.attrs["critical_sigma_w2"])
    sw2 = heat.sigma.values
    return {
        "q_worst_rel_error": float(np.abs(rel).max()), "q_pairs": int(rel.size),
        "q_width": int(qmap.attrs["width"]), "q_seeds": int(qmap.sizes["seed"]),
        "q_seed_worst": np.abs(qmap.q_measured / qmap.q_predicted - 1).max("layer").values,
        "critical_sigma_w2": crit, "depth_max": int(depth.max()), "sigma_w2": sw2.tolist(),
        "deepest_trainable": [
            int(depth[ok.values[:, j]].max()) if ok.values[:, j].any() else 0
            for j in range(ok.sizes["sigma"])
        ],
        "best": best_j, "nearest_critical": int(np.argmin(np.abs(sw2 - crit))),
        "acc_deepest_best": acc_deep.isel(sigma=best_j).values,
        "acc_deepest_first": acc_deep.isel(sigma=0).values,
        "cells_beyond": n_beyond,
        "beyond_untrainable": float((~ok.values)[beyond].mean()) if n_beyond else float("nan"),
        "agree": float((ok.values == predicted).mean()),
    }  # fmt: skip


def verdict(m: dict[str, Any]) -> list[Row]:
    worst, crit, dmax, sw2 = (
        m["q_worst_rel_error"],
        m["critical_sigma_w2"],
        m["depth_max"],
        m["sigma_w2"],
    )
    best_j, near, deepest = m["best"], m["nearest_critical"], m["deepest_trainable"]
    n_beyond, frac_beyond, agree = m["cells_beyond"], m["beyond_untrainable"], m["agree"]
    return [
        Row(
            "C3: theory of signal propagation (length map q^l)",
            f"simulated q^l within {Q_TOLERANCE:.0%} of q^l = σ_w²∫Dz tanh(√q^(l−1) z)² + σ_b²",
            "Poole et al. 2016, eq. (3); initjax.theory.predicted_variances",
            f"max |rel. error| {worst:.2%} over {m['q_pairs']} (σ_w², layer) pairs "
            f"(width {m['q_width']}, {m['q_seeds']} seeds); per-seed spread "
            f"{mean_spread(m['q_seed_worst'], 3)}",
            bool(worst <= Q_TOLERANCE),
            "mean-field theory predicts the forward signal of a finite random net",
        ),
        Row(
            "C3: critical init for tanh, σ_b² = 0.05",
            f"σ_w² ≈ {PUBLISHED_CRITICAL_SW2} where χ₁ = 1",
            "Schoenholz et al. 2017, Fig. 1; Poole et al. 2016",
            f"σ_w² = {crit:.4f} (initjax.theory.critical_sigma_w, quadrature)",
            bool(abs(crit - PUBLISHED_CRITICAL_SW2) < CRITICAL_ATOL),
            "the note's 'good init' for deep tanh nets is this one point, not a range",
        ),
        Row(
            "C3: the deepest nets train only near the critical point",
            f"at depth {dmax} the best σ_w² is the grid value nearest {crit:.2f}",
            "Schoenholz et al. 2017, Fig. 5 (trainable wedge around criticality)",
            f"best at σ_w² = {sw2[best_j]:g}: acc {mean_spread(m['acc_deepest_best'])} vs "
            f"{mean_spread(m['acc_deepest_first'])} at σ_w² = {sw2[0]:g}; deepest trainable "
            f"depth per σ_w²: {dict(zip([f'{v:g}' for v in sw2], deepest, strict=True))}",
            bool(abs(sw2[best_j] - sw2[near]) <= BEST_SW2_ATOL + 1e-9),
            "ordered nets forget the input, chaotic ones scramble it; critical ones do neither",
        ),
        Row(
            "C3: networks deeper than 6 ξ_c do not train",
            f"every cell with depth > 6 ξ_c(σ_w²) untrainable (≥ {BEYOND_UNTRAINABLE:.0%} of them)",
            "Schoenholz et al. 2017, Sec. 5, Fig. 5–6",
            f"{frac_beyond:.0%} of {n_beyond} cells beyond 6ξ_c untrainable; all cells: "
            f"{agree:.0%} agree with the 6ξ_c boundary (trainable = halfway from chance to best)",
            None if n_beyond < 2 else bool(frac_beyond >= BEYOND_UNTRAINABLE),
            "n/a with fewer than 2 cells beyond 6ξ_c"
            if n_beyond < 2
            else "depth scale ξ_c bounds trainable depth",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
