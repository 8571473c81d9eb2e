"""Edge of chaos: deep tanh nets train only where signals propagate (claim C3; Schoenholz 2017).

Question: is "good init keeps gradients from vanishing or exploding" a matter of one right
scale? Mean-field theory (Poole et al. 2016; Schoenholz et al. 2017, arXiv:1611.01232) says a
random tanh net with W ~ N(0, σ_w²/N), b ~ N(0, σ_b²) forgets its input's geometry over
ξ_c layers, ξ_c = −1/ln χ_c, and trains only when depth ≲ 6 ξ_c. ξ_c diverges at the
order-to-chaos transition χ₁ = 1, which for σ_b² = 0.05 sits at σ_w² ≈ 1.76.

Two parts. (1) Theory vs simulation of the length map: the per-layer second moment q^l of the
pre-activations at init, measured by a forward pass through a wide net, against
:func:`initjax.theory.predicted_variances` (each example's own q^0 = |x|²/N). (2) Trainability:
tanh MLPs over depth × σ_w² on MNIST-1D, σ_b² = 0.05, plain SGD, one :func:`initjax.sweep.run`
with depth as an outer axis, vmapped over seeds, σ_w² and lr, checkpointed (a killed full run
resumes). The full scale tunes lr per (depth, σ_w²) cell and budget over ``FULL_LRS`` (the
lr with the best seed-mean train accuracy), so that an untrainable cell is not one whose lr
was wrong; the quick scale uses one lr. A cell is *trainable* at a budget when its seed-mean
train accuracy is at least halfway from chance to the best cell at that budget. A seed sets
the init and the minibatch order (``order="per_seed"``).
Read at two budgets (epochs), the deepest trainable depth per σ_w² gives the boundary
L(σ_w²) (the geometric midpoint between the last trainable and the next grid depth; σ_w² whose
every depth or no depth trains are censored and left out), and the fit L = c · ξ_c gives the
multiple c (the paper's ≈ 6) with a 95% t-interval over σ_w², and the log-log slope of L
against ξ_c (1 if the depth scale is ξ_c). Whether the deepest nets train best near the
critical σ_w² is read from where the best σ_w² lands when the seeds are resampled
(``equivalence.argmax_range``), and only with lr tuned (at one lr it stays undecided).

Weights are ``variance_scaling(scale=σ_w², mode="fan_in", distribution="normal")``, so the
sweep's σ axis *is* σ_w²; biases ``normal(σ_b = √0.05)`` (the output layer too).

Command: ``initjax run edge_of_chaos --quick`` (depths 4 and 32 × 4 σ_w², 2 seeds, width 64,
lr 0.02, 4 epochs; the fits and the deepest-nets row are not decided) or ``--full`` (width 256, depths 8–256 (6,
doubling) × σ_w² 1–4 in steps of 0.25 (13), 5 seeds, lr ∈ {0.005, 0.02, 0.08}, batch 64,
budgets of 1 and 5 epochs ≈ 62 and 310 SGD steps; the paper's shortest budget was 300 steps;
evaluated at init and after epochs 1 and 5 only; ~5.5 h estimated on 2 CPU cores, not run
yet). The committed ``docs/edge_of_chaos`` is the
earlier full design (3 seeds varying the init only, one shared minibatch order, lr 0.02
for every cell, 79 min measured).
Expected: q^l within a few % of theory; the deepest nets train best near
σ_w² ≈ 1.76; cells deeper than 6 ξ_c do not train; the fitted multiple near 6.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr
from _edge_of_chaos_figures import heatmap, length_map
from _edge_of_chaos_qmap import measure_q
from _edge_of_chaos_rows import (  # noqa: F401  (the experiment's API)
    BEYOND_UNTRAINABLE,
    MAX_CI_RATIO,
    MAX_SLOPE_HALF_WIDTH,
    MIN_FIT_POINTS,
    MULTIPLE_BAND,
    PUBLISHED_MULTIPLE,
    beyond_row,
    multiple_row,
    slope_row,
)

from initjax import data as datasets
from initjax import equivalence, plots, results, study, sweep, theory, train
from initjax.study import Row, check_scale, mean_spread
from initjax.trainability import boundary, fit_multiple

NAME = "edge_of_chaos"
ORDER = 7
QUESTION = "Which init scales let deep tanh nets train, and does mean-field theory say why?"
CLAIMS = ("C3",)
RUNTIME = {
    "quick": "~20 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~5.5 h (2 CPU cores, estimated: 5 seeds × 3 lrs; the committed 3-seed one-lr run took 79 "
    "min)",
}

SIGMA_B2 = 0.05  # Schoenholz et al. 2017, Fig. 5–6
PUBLISHED_CRITICAL_SW2 = 1.76  # σ_w² at χ₁ = 1 for tanh, σ_b² = 0.05 (their Fig. 1)
Q_TOLERANCE = 0.05  # "within a few %": relative error of the seed-mean q^l
CHANCE = 0.1  # 10 classes
CRITICAL_ATOL = 0.01  # our quadrature's critical σ_w² vs the published 1.76
BEST_SW2_ATOL = 0.25  # deepest nets: the best σ_w² within one full-grid step of the critical


# Plain SGD at a fixed budget (full scale: lr tuned per cell over FULL_LRS); W ~ N(0, σ_w²/N) via
# variance_scaling (the sweep's σ axis is σ_w²), b ~ N(0, σ_b²). Per scale two parts: the
# trained nets (hidden width per Config, depth the sweep's outer axis) and the wide net whose
# q^l is measured at init. Once the inputs' correlations have collapsed (ordered phase), q^l of
# one net fluctuates by ≈ √(2/N) from seed to seed, so width · seeds ≳ 8000 keeps the seed mean
# within ~1.5%. A quick run is compile-bound: on one device it compiles ~30% faster than on two.
BASE = train.Config(
    model="mlp", hidden=(64,), activation="tanh", scheme="variance_scaling",
    scheme_kwargs=(("distribution", "normal"), ("mode", "fan_in")), bias_scheme="normal",
    bias_scale=SIGMA_B2**0.5, optimizer="sgd", lr=0.02, batch_size=128, epochs=4,
    dataset="mnist1d", order="per_seed",
)  # fmt: skip
# Full scale reads epochs 1 and 5 only (its budgets): evaluated at init, 1 and 5, not between
# (the 5000 examples' forward passes were a third of the run).
FULL = BASE.replace(hidden=(256,), batch_size=64, epochs=5, eval_every=5, eval_epochs=(1,))
FULL_LRS = (0.005, 0.02, 0.08)  # tuned per (depth, σ_w²) cell and budget; quick: BASE.lr only
QUICK_SW2 = (1.0, 1.76, 3.0, 4.0)
FULL_SW2 = tuple(np.round(np.arange(1.0, 4.01, 0.25), 2))
CONFIGS = {
    "quick": {
        "trainability": (
            BASE,
            {"seeds": 2, "depths": (4, 32), "sigma_w2": QUICK_SW2, "devices": 1,
             "budgets": (1, 4)},
        ),
        "qmap": (
            BASE.replace(hidden=(1024,) * 10),
            {"seeds": 8, "examples": 64, "sigma_w2": QUICK_SW2},
        ),
    },
    "full": {
        "trainability": (
            FULL,
            {"seeds": 5, "depths": (8, 16, 32, 64, 128, 256), "sigma_w2": FULL_SW2,
             "devices": None, "budgets": (1, 5), "lrs": FULL_LRS},
        ),
        "qmap": (
            BASE.replace(hidden=(1000,) * 30),
            {"seeds": 16, "examples": 256, "sigma_w2": FULL_SW2},
        ),
    },
}  # fmt: skip


def deep(cfg: train.Config, depth: int) -> train.Config:
    """``cfg`` with ``depth`` hidden layers of its width."""
    return cfg.replace(hidden=(cfg.hidden[0],) * depth)


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

    # (2) Trainability: one sweep (seeds × σ_w²) per depth, depth as the outer axis; its
    # checkpoint folder lets a killed run resume (study.run_one removes it when done).
    cfg, grid = parts["trainability"]
    sw2 = np.asarray(grid["sigma_w2"])
    devices = None if grid["devices"] is None else jax.devices()[: grid["devices"]]
    depths = list(grid["depths"])
    res = sweep.run(cfg, data, grid["seeds"], sigmas=sw2, progress=progress, devices=devices,
                    lrs=grid.get("lrs", (cfg.lr,)),
                    over={"hidden": [deep(cfg, d).hidden for d in depths]}, out=study.checkpoints(out_dir, "trainability"))  # fmt: skip
    res = (res.squeeze("lr", drop=True) if res.sizes["lr"] == 1 else res).drop_attrs()
    heat = res.assign_coords(depth=("hidden", depths)).swap_dims(hidden="depth")
    heat = heat.drop_vars([v for v in ("hidden", "config") if v in heat.variables])
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
        "budgets": json.dumps(list(grid["budgets"])),
    }
    results.save(heat, out_dir / "trainability.nc")


def budgets(heat: xr.Dataset) -> list[int]:
    """The epochs at which trainability is read (short and long budget)."""
    return [int(b) for b in json.loads(heat.attrs["budgets"])]


def per_seed_accuracy(heat: xr.Dataset, epoch: int) -> xr.DataArray:
    """Train accuracy per seed at ``epoch`` (a diverged run counts as chance), at each (depth,
    σ_w²) cell's best lr for that epoch: the lr of the grid with the highest seed-mean accuracy
    (results of one lr have no lr axis). ValueError when ``epoch`` was not evaluated (NaN
    there would otherwise read as chance)."""
    raw = heat.train_acc.sel(epoch=epoch)
    if bool(raw.isnull().all()):
        raise ValueError(f"train accuracy at epoch {epoch} was not evaluated (Config.eval_every)")
    acc = raw.fillna(CHANCE)
    if "lr" in acc.dims:
        acc = acc.isel(lr=acc.mean("seed").argmax("lr"))
    return acc.transpose("seed", "depth", "sigma")


def tuned_lrs(heat: xr.Dataset, epoch: int) -> list[float]:
    """The distinct lrs the cells tuned to at ``epoch`` (the one lr when there is no grid)."""
    if "lr" not in heat.train_acc.dims:
        return [float(json.loads(heat.attrs["config_deepest"])["lr"])]
    acc = heat.train_acc.sel(epoch=epoch).fillna(CHANCE).mean("seed")
    return sorted({float(v) for v in heat.lr.values[acc.argmax("lr").values.ravel()]})


def accuracy(heat: xr.Dataset, epoch: int) -> xr.DataArray:
    """Seed-mean train accuracy at ``epoch`` at each cell's best lr, (depth, σ)."""
    return per_seed_accuracy(heat, epoch).mean("seed")


def trainable(heat: xr.Dataset, epoch: int | None = None) -> xr.DataArray:
    """Cells whose seed-mean train accuracy at ``epoch`` (default: the long budget) is at least
    halfway from chance to the best cell's (a relative criterion fixed in advance: budgets
    differ between scales)."""
    acc = accuracy(heat, budgets(heat)[-1] if epoch is None else epoch)
    return acc >= CHANCE + 0.5 * (float(acc.max()) - CHANCE)


def figures(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    r = load(out_dir)
    heat, qmap = r["trainability"], r["qmap"]
    m = measure(r)
    fig, axes = plots.figure(ncols=3, size=(4.6, 4.0))
    for ax, epoch in zip(axes[:2], budgets(heat), strict=True):
        heatmap(
            ax,
            fig,
            heat,
            accuracy(heat, epoch),
            trainable(heat, epoch).values,
            epoch,
            m["fits"][str(epoch)]["c"],
            chance=CHANCE,
            published=PUBLISHED_MULTIPLE,
        )
    length_map(axes[2], qmap, SIGMA_B2)
    width = json.loads(heat.attrs["config_deepest"])["hidden"][0]
    fig.suptitle(f"Edge of chaos: tanh MLPs of width {width} on MNIST-1D, W ~ N(0, σ_w²/N), "
                 "b ~ N(0, 0.05), plain SGD")  # fmt: skip
    return plots.save(fig, out_dir / "edge_of_chaos")


def load(out_dir: Path) -> dict[str, xr.Dataset]:
    return {n: results.load(Path(out_dir) / f"{n}.nc") for n in ("trainability", "qmap")}


def measure(r: dict[str, xr.Dataset]) -> dict[str, Any]:
    """q^l theory error; the critical σ_w²; where the deepest nets train best; per budget the
    cells beyond 6 ξ_c that do not train, the trainable-depth boundary and its fit to ξ_c."""
    heat, qmap = r["trainability"], r["qmap"]
    rel = (qmap.q_measured.mean("seed") - qmap.q_predicted) / qmap.q_predicted
    depth = heat.depth.values
    xi = heat.six_xi_c_at_sigma.values / PUBLISHED_MULTIPLE
    beyond = depth[:, None] > heat.six_xi_c_at_sigma.values[None, :]
    long = budgets(heat)[-1]
    acc_deep = per_seed_accuracy(heat, long).isel(depth=-1)
    best_j = int(acc_deep.mean("seed").argmax("sigma"))
    crit = float(heat.attrs["critical_sigma_w2"])
    sw2 = heat.sigma.values
    per_budget: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    for b in budgets(heat):
        ok = trainable(heat, b).values
        bound = boundary(ok, depth)
        fits[str(b)] = fit_multiple(bound, xi)
        per_budget[str(b)] = {
            "beyond_untrainable": float((~ok)[beyond].mean()) if beyond.any() else float("nan"),
            "agree": float((ok == ~beyond).mean()),
            "deepest_trainable": [int(depth[ok[:, j]].max()) if ok[:, j].any() else 0
                                  for j in range(sw2.size)],
            "boundary": bound.tolist(),
        }  # fmt: skip
    return {
        "q_worst_rel_error": float(np.abs(rel).max()), "q_pairs": int(rel.size),
        "q_width": int(qmap.attrs["width"]), "q_seeds": int(qmap.sizes["seed"]),
        "q_seed_worst": np.abs(qmap.q_measured / qmap.q_predicted - 1).max("layer").values,
        "critical_sigma_w2": crit, "depth_max": int(depth.max()), "sigma_w2": sw2.tolist(),
        "seeds": int(heat.sizes["seed"]), "budgets": budgets(heat),
        "lrs": [float(v) for v in heat.lr.values] if "lr" in heat.dims else tuned_lrs(heat, long),
        "tuned_lrs": tuned_lrs(heat, long),
        "best": best_j, "nearest_critical": int(np.argmin(np.abs(sw2 - crit))),
        "acc_deepest_best": acc_deep.isel(sigma=best_j).values,
        "acc_deepest_first": acc_deep.isel(sigma=0).values,
        "best_range": equivalence.argmax_range(acc_deep.transpose("seed", "sigma").values, sw2),
        "cells_beyond": int(beyond.sum()), "per_budget": per_budget, "fits": fits,
    }  # fmt: skip


def _lr_text(m: dict[str, Any]) -> str:
    if len(m["lrs"]) == 1:
        return f"one lr, {m['lrs'][0]:g}, for every cell"
    return (f"lr tuned per cell over {m['lrs']} (best seed-mean accuracy per budget; at the "
            f"long budget the cells chose {m['tuned_lrs']})")  # fmt: skip


def _deepest_row(m: dict[str, Any], long: int, deepest: list[int]) -> Row:
    """Is the best σ_w² at the deepest depth the critical one? Read from where the best lands
    when the seeds are resampled (``equivalence.argmax_range``): inside the window around the
    critical σ_w² passes, wholly outside fails. Undecided when no σ_w² trains there (the
    best is seed noise) or at one lr (the σ_w² are not compared at a tuned lr)."""
    crit, dmax, sw2, best_j = m["critical_sigma_w2"], m["depth_max"], m["sigma_w2"], m["best"]
    lo, hi = m["best_range"]
    centre = sw2[m["nearest_critical"]]  # the grid's σ_w² nearest the critical one
    window = (centre - BEST_SW2_ATOL - 1e-9, centre + BEST_SW2_ATOL + 1e-9)
    if max(deepest) < dmax:
        outcome, why = (
            None,
            f"undecided: no σ_w² trains at depth {dmax}, so its best σ_w² is seed noise",
        )
    elif len(m["lrs"]) < 2:
        outcome, why = None, "undecided at one lr: the σ_w² are not compared at a tuned lr"
    else:
        inside = window[0] <= lo and hi <= window[1]
        outcome = True if inside else False if hi < window[0] or lo > window[1] else None
        why = "ordered nets forget the input, chaotic ones scramble it; critical ones do neither"
    return Row(
        "C3: the deepest nets train only near the critical point",
        f"at depth {dmax} the best σ_w² is within {BEST_SW2_ATOL} of the grid's σ_w² nearest "
        f"{crit:.2f} (where the best lands when the seeds are resampled)",
        "Schoenholz et al. 2017, Fig. 5 (trainable wedge around criticality)",
        f"best at σ_w² = {sw2[best_j]:g} (resampled seeds: {lo:g}–{hi:g}): acc "
        f"{mean_spread(m['acc_deepest_best'])} vs {mean_spread(m['acc_deepest_first'])} at "
        f"σ_w² = {sw2[0]:g} ({long} epochs); deepest trainable depth per σ_w²: "
        f"{', '.join(f'{v:g}: {d}' for v, d in zip(sw2, deepest, strict=True))}; {_lr_text(m)}",
        outcome,
        why,
    )


def verdict(m: dict[str, Any]) -> list[Row]:
    worst, crit, long = m["q_worst_rel_error"], m["critical_sigma_w2"], m["budgets"][-1]
    deepest = m["per_budget"][str(long)]["deepest_trainable"]
    rows = [
        Row(
            "C3: theory of signal propagation (length map q^l)",
            f"simulated q^l within {Q_TOLERANCE:.0%} of q^l = σ_w²∫Dz tanh(√q^(l−1) z)² + σ_b²",
            "Poole et al. 2016, eq. (3); initjax.theory.predicted_variances",
            f"max |rel. error| {worst:.2%} over {m['q_pairs']} (σ_w², layer) pairs "
            f"(width {m['q_width']}, {m['q_seeds']} seeds); worst |rel. error| of each (seed, σ_w²), as a "
            "fraction: "
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
            "our quadrature reproduces the paper's critical point (checks the theory code)",
            kind="sanity",
        ),
        _deepest_row(m, long, deepest),
    ]
    for b in m["budgets"]:
        rows += [beyond_row(m, b), multiple_row(m, b)]
    return [*rows, slope_row(m, long)]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
