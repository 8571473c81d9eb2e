"""Where does W ~ N(0, σ²) train, over σ × width × depth, and where do 0.01, Xavier and He
fall? (claims C2, C3, C8; issue 15's map).

Question: d2l draws every weight from N(0, 0.01²); Xavier and He scale the std with the fan,
√(1/n) and √(2/n) on an n × n ReLU layer. One map answers "why 0.01, why Xavier, why He": the
final test accuracy of a ReLU MLP whose kernels are all N(0, σ²), for σ over three decades,
for every (width, depth) of a grid, with lr tuned per cell; next to it the same nets with
``he_normal`` and ``xavier_normal`` (gain 1), drawn at their std on an n × n hidden layer
(at depth 1 there is none: the first layer's fan-in is the input's, and the marker is put at
the same √(2/n) and √(1/n)). Mean-field
theory says the signal of a ReLU net is multiplied by σ·√(n/2) per layer, so the good σ
should narrow around He's √(2/n) as depth grows, and a fixed σ = 0.01 should only work where
the net is shallow.

Settings: two maps, MNIST-1D (4000 × 40) and Fashion-MNIST (60 000 × 784, pixels / 255), each
with b = 0, plain SGD, batch 128; lr tuned per (width, depth, σ) and per (width, depth,
scheme): the lr with the lowest seed-mean final train loss among the lrs where no seed
diverged (a cell where every lr diverged counts as chance, 0.1); a seed sets the init and the
minibatch order. Every (dataset, width, depth) is one compiled grid over (seed, σ, lr), and
each dataset has its own verdict rows.

Command: ``initjax run sigma_map --quick`` (a smoke run, its rows decided at full scale only:
MNIST-1D widths 64, 256 × depths 1, 4, σ at whole decades 10⁻³ … 1, lr 0.1, 2 seeds, 5 epochs;
Fashion-MNIST on its first 4000 train and test images, width 64 × depths 1, 4, the same σ,
3 epochs) or ``--full`` (MNIST-1D widths 64, 256, 1024 × depths 1, 2, 4, 8, σ at quarter
decades, 30 epochs; Fashion-MNIST widths 64, 256 × depths 1, 2, 4, 8, σ at half decades,
10 epochs; both with lr ∈ {0.01, 0.03, 0.1, 0.3} and 5 seeds, evaluated every ``EVAL_EVERY``
= 5 epochs and at the last, which the verdict reads; not run yet: hours on 2 CPU cores).
Expected: at depth 1 σ = 0.01 is as good as the best σ; at depth 8 it is far below, and the
best σ lies within a factor 2 of He's √(2/n); He is within a point of the best σ everywhere.
"As good" and "within a point" are non-inferiority tests at a 1-point margin and "far below"
is a 95% CI above 10 points, each on the best σ's lead over the other init, paired by seed;
a row over several cells fails if one cell is shown to fail and is undecided if one is not
shown either way. "The best σ is He's" needs the best σ's 95% bootstrap interval over
seeds inside [√(2/n)/2, 2√(2/n)] (entirely outside: fails). The best σ is picked by the same
seeds' mean (a small upward bias of its
lead, which favours "far below" and works against "as good").
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from initjax import data as datasets
from initjax import equivalence, plots, results, study, sweep, train
from initjax.study import Row, check_scale, mean_spread

NAME = "sigma_map"
ORDER = 5.5
QUESTION = (
    "Over σ × width × depth, where does N(0, σ²) train, and where do 0.01, Xavier and He fall?"
)
CLAIMS = ("C2", "C3", "C8")
RUNTIME = {
    "quick": "~50 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~7 h (2 CPU cores, estimated; not run)",
}

D2L_SIGMA = 0.01
CHANCE = 0.1
NEAR_BEST = 0.01  # "as good as the best σ": within 1 accuracy point (seed means)
FAR_BELOW = 0.1  # "far below": 10 points under the best
HE_FACTOR = 2.0  # the best σ within this factor of He's √(2/n) at the deepest depth
SCHEMES = {"he_normal": "He", "xavier_normal": "Xavier"}
KEEP = ("train_loss", "test_acc", "diverged")

# Full scale evaluates every EVAL_EVERY epochs and the last (always on all examples): the
# verdict and figures read the last epoch only, and evaluation is ~30% of a full epoch's FLOPs.
EVAL_EVERY = 5
BASE = train.Config(
    model="mlp", activation="relu", scheme="normal", lr=0.1, batch_size=128, epochs=10,
    dataset="mnist1d", order="per_seed",
)  # fmt: skip
# Per scale: the MNIST-1D map's config and grid; the grid's "fashion" entry is the
# Fashion-MNIST map's (its own epochs, widths and σ; "examples": the first n train and test
# images, 0 for all).
CONFIGS = {
    "quick": (
        BASE.replace(epochs=5),
        {"widths": (64, 256), "depths": (1, 4), "sigmas": (1e-3, 1e-2, 1e-1, 1.0),
         "lrs": (0.1,), "seeds": 2,
         "fashion": {"epochs": 3, "examples": 4000, "widths": (64,), "depths": (1, 4),
                     "sigmas": (1e-3, 1e-2, 1e-1, 1.0), "lrs": (0.1,), "seeds": 2}},
    ),
    "full": (
        BASE.replace(epochs=30, eval_every=EVAL_EVERY),
        {"widths": (64, 256, 1024), "depths": (1, 2, 4, 8), "sigmas": tuple(np.logspace(-3, 0, 13)),
         "lrs": (0.01, 0.03, 0.1, 0.3), "seeds": 5,
         "fashion": {"epochs": 10, "examples": 0, "widths": (64, 256), "depths": (1, 2, 4, 8),
                     "sigmas": tuple(np.logspace(-3, 0, 7)), "lrs": (0.01, 0.03, 0.1, 0.3),
                     "seeds": 5}},
    ),
}  # fmt: skip
# Each map's files and checkpoint parts: "<prefix>sigma" and "<prefix>schemes".
PREFIX = {"mnist1d": "", "fashion_mnist": "fashion_"}


def _grid(res: xr.Dataset, cells: list[tuple[int, int]]) -> xr.Dataset:
    """The sweep's ``hidden`` axis ("64,64", …) as two dims, width and depth."""
    out = res[list(KEEP)].drop_attrs()
    out = out.assign_coords(
        width=("hidden", [w for w, _ in cells]), depth=("hidden", [d for _, d in cells])
    )
    return out.set_index(hidden=["width", "depth"]).unstack("hidden")


def _first(data: datasets.Dataset, n: int) -> datasets.Dataset:
    """The first ``n`` train and test examples (all for n = 0)."""
    if not n:
        return data
    return dataclasses.replace(
        data, x_train=data.x_train[:n], y_train=data.y_train[:n],
        x_test=data.x_test[:n], y_test=data.y_test[:n],
    )  # fmt: skip


def maps(scale: str) -> dict[str, tuple[train.Config, dict[str, Any]]]:
    """Per dataset, the config and grid of its map at ``scale``."""
    base, g = CONFIGS[check_scale(scale)]
    f = dict(g["fashion"])
    fashion = base.replace(dataset="fashion_mnist", epochs=f.pop("epochs"))
    return {"mnist1d": (base, {k: v for k, v in g.items() if k != "fashion"}),
            "fashion_mnist": (fashion, f)}  # fmt: skip


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    out = Path(out_dir)
    for name, (base, g) in maps(scale).items():
        data, pre = _first(datasets.load(name), g.get("examples", 0)), PREFIX[name]
        cells = [(w, d) for w in g["widths"] for d in g["depths"]]
        hidden = [(w,) * d for w, d in cells]
        kw = {"seeds": g["seeds"], "lrs": g["lrs"], "progress": progress}
        res = sweep.run(base, data, sigmas=[float(s) for s in g["sigmas"]], over={"hidden": hidden},
                        out=study.checkpoints(out_dir, f"{pre}sigma"), **kw)  # fmt: skip
        results.save(_grid(res, cells).assign_attrs(dataset=name), out / f"{pre}sigma.nc")
        fan = sweep.run(base, data, sigmas=(1.0,), over={"scheme": list(SCHEMES), "hidden": hidden},
                        out=study.checkpoints(out_dir, f"{pre}schemes"), **kw)  # fmt: skip
        fan = _grid(fan.squeeze("sigma", drop=True), cells).assign_attrs(dataset=name)
        results.save(fan, out / f"{pre}schemes.nc")


def load(out_dir: Path) -> dict[str, dict[str, xr.Dataset]]:
    """Per dataset, its map's ``sigma`` and ``schemes`` results."""
    return {
        name: {p: results.load(Path(out_dir) / f"{pre}{p}.nc") for p in ("sigma", "schemes")}
        for name, pre in PREFIX.items()
    }


def tuned_acc(res: xr.Dataset) -> xr.DataArray:
    """Final test accuracy per seed at each cell's tuned lr (chance where every lr diverged
    or the run diverged)."""
    return study.best_lr_final(res, "test_acc").fillna(CHANCE)


def std_of(scheme: str, width: int) -> float:
    """The scheme's std on an n × n hidden layer at gain 1."""
    return math.sqrt((2.0 if scheme == "he_normal" else 1.0) / width)


def measure_map(r: dict[str, xr.Dataset]) -> dict[str, Any]:
    """One map: seed-mean tuned accuracy per (width, depth, σ) and per scheme; per (width,
    depth) the best σ, its accuracy, and σ = 0.01's."""
    sig, sch = r["sigma"], r["schemes"]
    acc, fan = tuned_acc(sig), tuned_acc(sch)
    mean = acc.mean("seed")
    cells = {}
    for w in sig.width.values:
        for d in sig.depth.values:
            m = mean.sel(width=w, depth=d)
            best = int(m.argmax("sigma"))
            cells[f"{int(w)}x{int(d)}"] = {
                "width": int(w), "depth": int(d),
                "best_sigma": float(sig.sigma.values[best]), "best": float(m.max()),
                "best_runs": acc.sel(width=w, depth=d).isel(sigma=best).values,
                "best_sigma_ci": best_sigma_interval(acc.sel(width=w, depth=d)),
                "d2l": acc.sel(width=w, depth=d).sel(sigma=D2L_SIGMA, method="nearest").values,
                "schemes": {s: fan.sel(width=w, depth=d, scheme=s).values for s in SCHEMES},
            }  # fmt: skip
    return {
        "dataset": str(sig.attrs.get("dataset", "mnist1d")),
        "seeds": int(sig.sizes["seed"]), "lrs": [float(v) for v in sig.lr.values],
        "sigmas": [float(s) for s in sig.sigma.values], "epochs": int(sig.epoch.max()),
        "depths": [int(d) for d in sig.depth.values], "cells": cells,
    }  # fmt: skip


def measure(r: dict[str, dict[str, xr.Dataset]]) -> dict[str, dict[str, Any]]:
    """Per dataset, :func:`measure_map` of its map."""
    return {name: measure_map(parts) for name, parts in r.items()}


def verdict(m: dict[str, dict[str, Any]]) -> list[Row]:
    return [row for one in m.values() for row in map_rows(one)]


def best_sigma_interval(acc: xr.DataArray, draws: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of the best σ: seeds resampled with replacement, the argmax of
    their mean accuracy over σ each time (a fixed generator: the same interval every call)."""
    a = acc.transpose("seed", "sigma").values
    rng = np.random.default_rng(0)
    picks = rng.integers(0, a.shape[0], size=(draws, a.shape[0]))
    best = acc.sigma.values[a[picks].mean(axis=1).argmax(axis=1)]
    return float(np.quantile(best, 0.025)), float(np.quantile(best, 0.975))


def shortfall(c: dict[str, Any], other: Any, level: float) -> tuple[float, float, float]:
    """The best σ's accuracy minus ``other``'s in cell ``c``, paired by seed (a seed sets the
    minibatch order of both): mean and two-sided ``level`` t-interval."""
    t = equivalence.tost_paired(other, c["best_runs"], margin=1.0, alpha=(1 - level) / 2)
    return t.diff, t.ci[0], t.ci[1]


def within(c: dict[str, Any], other: Any) -> tuple[bool | None, str]:
    """Non-inferiority at NEAR_BEST: True when the shortfall's one-sided 95% upper bound is
    under NEAR_BEST, False when its lower bound is above it, else None."""
    d, lo, hi = shortfall(c, other, 0.90)
    return (True if hi < NEAR_BEST else False if lo > NEAR_BEST else None), _ci(d, lo, hi, 90)


def far_below(c: dict[str, Any], other: Any) -> tuple[bool | None, str]:
    """True when the shortfall's 95% CI lies above FAR_BELOW, False when below, else None."""
    d, lo, hi = shortfall(c, other, 0.95)
    return (True if lo > FAR_BELOW else False if hi < FAR_BELOW else None), _ci(d, lo, hi, 95)


def _ci(d: float, lo: float, hi: float, level: int) -> str:
    return f"{d:+.3f}, {level}% CI [{lo:+.3f}, {hi:+.3f}]"


def every(outcomes: list[bool | None]) -> bool | None:
    """A row over cells: False if any cell fails, True if every cell passes, else None."""
    return False if False in outcomes else True if all(outcomes) else None


def map_rows(m: dict[str, Any]) -> list[Row]:
    """One map's four rows; each claim ends with its dataset's name. The accuracy rows judge
    the best σ's shortfall per cell with a paired t-interval over seeds."""
    decides = m["seeds"] >= 5 and len(m["lrs"]) >= 3
    note = "" if decides else " (quick: a smoke run; full scale decides)"
    on = f" ({plots.dataset_name(m['dataset'])})"
    shallow = [c for c in m["cells"].values() if c["depth"] == min(m["depths"])]
    deep = [c for c in m["cells"].values() if c["depth"] == max(m["depths"])]
    d2l_near = [within(c, c["d2l"]) for c in shallow]
    d2l_far = [far_below(c, c["d2l"]) for c in deep]
    he = {k: within(c, c["schemes"]["he_normal"]) for k, c in m["cells"].items()}
    ratio = [c["best_sigma"] / std_of("he_normal", c["width"]) for c in deep]
    ratio_ci = [tuple(x / std_of("he_normal", c["width"]) for x in c["best_sigma_ci"])
                for c in deep]  # fmt: skip
    inside = [
        True if 1 / HE_FACTOR <= lo and hi <= HE_FACTOR
        else False if hi < 1 / HE_FACTOR or lo > HE_FACTOR else None
        for lo, hi in ratio_ci
    ]  # fmt: skip
    he_text = "; ".join(f"{k}: {t}" for k, (ok, t) in he.items() if ok is not True)
    return [
        Row(
            f"why 0.01: at depth {min(m['depths'])} σ = 0.01 is as good as the best σ" + on,
            f"the best σ's lead under {NEAR_BEST:g} (one-sided 95%, paired by seed) at every "
            "width (lr tuned per σ)",
            "d2l's N(0, 0.01²); mean field: one layer cannot vanish the signal",
            "; ".join(
                f"n = {c['width']}: {mean_spread(c['d2l'])} vs best {c['best']:.3f} "
                f"(σ = {c['best_sigma']:.2g}), lead {t}"
                for c, (_, t) in zip(shallow, d2l_near, strict=True)
            )
            + note,
            every([ok for ok, _ in d2l_near]) if decides else None,
            "a shallow net forgives the init scale once lr is tuned",
        ),
        Row(
            f"C3: at depth {max(m['depths'])} σ = 0.01 falls far below the best σ" + on,
            f"σ = 0.01 more than {FAR_BELOW:g} under the best σ (95% CI, paired) at every width",
            "mean field: the signal is multiplied by σ·√(n/2) per ReLU layer",
            "; ".join(
                f"n = {c['width']}: {mean_spread(c['d2l'])} vs best {c['best']:.3f}, lead {t}"
                for c, (_, t) in zip(deep, d2l_far, strict=True)
            )
            + note,
            every([ok for ok, _ in d2l_far]) if decides else None,
            "0.01·√(n/2) < 1: the signal shrinks geometrically with depth",
        ),
        Row(
            f"C8: at depth {max(m['depths'])} the best σ is He's √(2/n)" + on,
            f"best σ / √(2/n) within [1/{HE_FACTOR:g}, {HE_FACTOR:g}] at every width, its 95% "
            "bootstrap interval over seeds inside (outside: fails)",
            "He et al. 2015, eq. 10",
            "best σ / √(2/n): "
            + ", ".join(
                f"n = {c['width']}: {x:.2f} [{lo:.2f}, {hi:.2f}]"
                for c, x, (lo, hi) in zip(deep, ratio, ratio_ci, strict=True)
            )
            + note,
            every(inside) if decides else None,
            "σ·√(n/2) = 1 keeps the signal level through depth",
        ),
        Row(
            "C8: He is within a point of the best σ in every cell" + on,
            f"the best σ's lead over He under {NEAR_BEST:g} (one-sided 95%, paired by seed), "
            "every (width, depth)",
            "He et al. 2015",
            f"{sum(ok is True for ok, _ in he.values())} of {len(he)} cells shown within; "
            + (f"not shown: {he_text}" if he_text else "every cell")
            + note,
            every([ok for ok, _ in he.values()]) if decides else None,
            "a fan-based scale finds the good σ without a search",
        ),
    ]


def figures(out_dir: Path) -> list[Path]:
    r = load(out_dir)
    ms = measure(r)
    ncols = max(len(m["depths"]) for m in ms.values())
    fig, axes = plots.figure(nrows=len(r), ncols=ncols, size=(3.6, 3.2))
    for row, (name, m) in enumerate(ms.items()):
        sig = r[name]["sigma"]
        mean = tuned_acc(sig).mean("seed")
        widths = sig.width.values
        colors = dict(zip(widths, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False))
        panels = axes[row * ncols : (row + 1) * ncols]
        for ax in panels[len(m["depths"]) :]:
            ax.set_axis_off()
        for ax, d in zip(panels, sig.depth.values, strict=False):
            for w in widths:
                c = colors[w]
                ax.plot(sig.sigma.values, mean.sel(width=w, depth=d), "o-", ms=3, color=c,
                        label=f"n = {w}")  # fmt: skip
                for s, marker in zip(SCHEMES, ("s", "^"), strict=True):
                    cell = m["cells"][f"{int(w)}x{int(d)}"]
                    ax.plot([std_of(s, int(w))], [np.mean(cell["schemes"][s])], marker, color=c,
                            mec="k", ms=7)  # fmt: skip
            plots.anchor_line(ax, D2L_SIGMA, "σ = 0.01 (d2l)", vertical=True, color="gray")
            plots.anchor_line(ax, CHANCE, "chance")
            ax.plot([], [], "s", color="w", mec="k", label="He (at √(2/n))")
            ax.plot([], [], "^", color="w", mec="k", label="Xavier (at √(1/n))")
            ax.set(xscale="log", ylim=(0, None))
            plots.label(ax, "σ of every kernel", "final test accuracy (tuned lr, seed mean)",
                        f"{plots.dataset_name(name)}: {int(d)} hidden layer(s), "
                        f"{m['epochs']} epochs", fontsize=6)  # fmt: skip
    fig.suptitle("ReLU MLP, every kernel N(0, σ²), SGD: final test accuracy over σ × width × depth")
    return plots.save(fig, Path(out_dir) / NAME)


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
