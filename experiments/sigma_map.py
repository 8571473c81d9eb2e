"""Where does W ~ N(0, σ²) train, over σ × width × depth, and where do 0.01, Xavier and He
fall? (claims C2, C3, C8; issue 15's map).

Question: d2l draws every weight from N(0, 0.01²); Xavier and He scale the std with the fan,
√(1/n) and √(2/n) on an n × n ReLU layer. One map answers "why 0.01, why Xavier, why He": the
final test accuracy of a ReLU MLP whose kernels are all N(0, σ²), for σ over three decades,
for every (width, depth) of a grid, with lr tuned per cell; next to it the same nets with
``he_normal`` and ``xavier_normal`` (gain 1), drawn at their std on an n × n hidden layer
(at depth 1 there is none: the first layer's fan-in is the input's, and the marker is put at
the same √(2/n) and √(1/n)); a scheme scales each layer by its own fans, so its marker is not
on the curve, which puts one σ on every kernel, first layer and readout too. Mean-field theory
says a ReLU net's signal is multiplied by σ·√(n/2) per layer, so the good σ should narrow
around He's √(2/n) as depth grows, and σ = 0.01 should only work where the net is shallow.

Settings: two maps, MNIST-1D (4000 × 40) and Fashion-MNIST (60 000 × 784, pixels / 255), each
with b = 0, plain SGD, batch 128; lr tuned per (width, depth, σ) and per (width, depth,
scheme): the lr with the lowest seed-mean final train loss among the lrs where no seed
diverged (a cell where every lr diverged counts as chance, 0.1); a seed sets the init and the
minibatch order. Every (dataset, width, depth) is one compiled grid over (seed, σ, lr), and
each dataset has its own verdict rows.

Command: ``initjax run sigma_map --quick`` (a smoke run, its rows decided at full scale only:
MNIST-1D widths 64, 256 × depths 1, 4, σ at whole decades 10⁻³ … 1, lr 0.1, 2 seeds, 5 epochs;
Fashion-MNIST on its first 4000 train and test images, width 64 × depths 1, 4, the same σ,
3 epochs) or ``--full`` (MNIST-1D widths 64, 256, 512 × depths 1, 2, 4, 8, σ at quarter
decades from 10⁻³, 30 epochs; Fashion-MNIST widths 64, 256 × depths 1, 2, 4, 8, σ at quarter
decades from 10^-2.5, 10 epochs; both σ grids end at 1; lr ∈ {0.01, 0.03, 0.1, 0.3, 1, 3}
(MNIST-1D) and {0.01, 0.03, 0.1, 0.3, 1} (Fashion-MNIST), 5 seeds, evaluated every
``EVAL_EVERY`` = 5 epochs and at the last, which the verdict reads). The lrs above 0.3 are
the grid's ``lrs_added``: each its own sweep, trained after the others and joined on lr
(``sweep.concat_lrs``; every cell is its own run, so this is the one sweep's computation).

Full result (``docs/sigma_map``, 2026-12-03; numbers in docs/README.md): 4 rows agree, 4
undecided, 2 disagree (He within a point, He beats Xavier: MNIST-1D, fan-in 40).

Expected: at depth 1 σ = 0.01 is as good as the best σ; at depth 8 it is far below; the best
σ sits at He's √(2/n); He is within a point of the best σ everywhere and ahead of Xavier at
depth 8. Rules (per cell, paired by seed, against *every* σ of the cell so that picking the
best σ from the same seeds biases nothing): "as good"/"within a point" pass when every σ's
lead has its one-sided 95% bound under 1 point and fail when one is shown above it
(Bonferroni over all the row's σ and cells); "far below" passes when some σ is shown more
than 10 points ahead (97.5%, Bonferroni over σ) and fails when no σ can be (95%). "The best σ
is He's" reads where the argmax lands when the seeds are resampled (a stability range, not a
CI): within one grid step of the σ nearest √(2/n) passes, entirely beyond it on one side
fails. A row over cells fails if one cell fails and is undecided if one is undecided.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from _sigma_map_figures import draw_map

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
    "full": "~11–17 h (2 CPU cores, est. from FLOPs; run over several sessions, total not "
    "timed; run.json: the last session's 118 min)",
}

D2L_SIGMA = 0.01
CHANCE = 0.1
NEAR_BEST = 0.01  # "as good as the best σ": within 1 accuracy point (seed means)
FAR_BELOW = 0.1  # "far below": 10 points under the best
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
        {"widths": (64, 256, 512), "depths": (1, 2, 4, 8), "sigmas": tuple(np.logspace(-3, 0, 13)),
         "lrs": (0.01, 0.03, 0.1, 0.3), "lrs_added": (1.0, 3.0), "seeds": 5,
         "fashion": {"epochs": 10, "examples": 0, "widths": (64, 256), "depths": (1, 2, 4, 8),
                     "sigmas": tuple(np.logspace(-2.5, 0, 11)), "lrs": (0.01, 0.03, 0.1, 0.3),
                     "lrs_added": (1.0,), "seeds": 5}},
    ),
}  # fmt: skip
# Each map's files and checkpoint parts: "<prefix>sigma" and "<prefix>schemes".
PREFIX = {"mnist1d": "", "fashion_mnist": "fashion_"}


def _grid(res: xr.Dataset, cells: list[tuple[int, int]]) -> xr.Dataset:
    """The sweep's ``hidden`` axis ("64,64", …) as two dims, width and depth (attrs: which
    lrs were trained in which sweep, when :func:`lr_sweep` joined two)."""
    out = (
        res[list(KEEP)]
        .drop_attrs()
        .assign_attrs({k: v for k, v in res.attrs.items() if k.startswith("lr_pieces")})
    )
    out = out.assign_coords(
        width=("hidden", [w for w, _ in cells]), depth=("hidden", [d for _, d in cells])
    )
    return out.set_index(hidden=["width", "depth"]).unstack("hidden")


def maps(scale: str) -> dict[str, tuple[train.Config, dict[str, Any]]]:
    """Per dataset, the config and grid of its map at ``scale``."""
    base, g = CONFIGS[check_scale(scale)]
    f = dict(g["fashion"])
    fashion = base.replace(dataset="fashion_mnist", epochs=f.pop("epochs"))
    return {"mnist1d": (base, {k: v for k, v in g.items() if k != "fashion"}),
            "fashion_mnist": (fashion, f)}  # fmt: skip


def lr_sweep(base: train.Config, data: datasets.Dataset, g: dict[str, Any], out_dir: Path,
             part: str, **kw: Any) -> xr.Dataset:  # fmt: skip
    """One sweep over ``g["lrs"]`` then one per lr of ``g["lrs_added"]`` (each checkpointed
    apart: ``part``, then ``part + "_lr1"`` for lr 1 …), joined on lr."""
    groups = [(tuple(g["lrs"]), part)]
    groups += [((lr,), f"{part}_lr{lr:g}") for lr in g.get("lrs_added", ())]
    pieces = [
        sweep.run(base, data, lrs=lrs, out=study.checkpoints(out_dir, name), **kw)
        for lrs, name in groups
    ]
    return sweep.concat_lrs(pieces)


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    out = Path(out_dir)
    for name, (base, g) in maps(scale).items():
        data, pre = datasets.load(name).first(g.get("examples", 0)), PREFIX[name]
        cells = [(w, d) for w in g["widths"] for d in g["depths"]]
        hidden = [(w,) * d for w, d in cells]
        kw = {"seeds": g["seeds"], "progress": progress}
        res = lr_sweep(base, data, g, out_dir, f"{pre}sigma", over={"hidden": hidden},
                       sigmas=[float(s) for s in g["sigmas"]], **kw)  # fmt: skip
        results.save(_grid(res, cells).assign_attrs(dataset=name), out / f"{pre}sigma.nc")
        fan = lr_sweep(base, data, g, out_dir, f"{pre}schemes", sigmas=(1.0,),
                       over={"scheme": list(SCHEMES), "hidden": hidden}, **kw)  # fmt: skip
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
    """One map, per (width, depth): every σ's tuned accuracy per seed (``runs``, σ × seed),
    the best σ by seed mean, its bootstrap range, σ = 0.01's and each scheme's accuracy."""
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
                "sigmas": [float(v) for v in sig.sigma.values],
                "runs": acc.sel(width=w, depth=d).transpose("sigma", "seed").values,
                "best_range": best_sigma_range(acc.sel(width=w, depth=d)),
                "d2l": acc.sel(width=w, depth=d).sel(sigma=D2L_SIGMA, method="nearest").values,
                "schemes": {s: fan.sel(width=w, depth=d, scheme=s).values for s in SCHEMES},
            }  # fmt: skip
    return {
        "dataset": str(sig.attrs.get("dataset", "mnist1d")),
        "seeds": int(sig.sizes["seed"]), "lrs": [float(v) for v in sig.lr.values],
        "sigmas": [float(s) for s in sig.sigma.values], "epochs": int(sig.epoch.max()),
        "depths": [int(d) for d in sig.depth.values], "cells": cells,
        "lr_edge": lr_edge(sig), "lr_edge_schemes": lr_edge(sch),
    }  # fmt: skip


def lr_edge(res: xr.Dataset) -> tuple[int, int]:
    """How many cells tuned their lr to an end of the grid, of how many that trained at some
    lr: there a wider grid might do better (reported, not judged: a stalled σ tunes to the
    smallest lr whatever the grid)."""
    tuned = [t for t in study.tuned_lr(res).values.ravel() if np.isfinite(t)]
    return sum(study.lr_at_edge([t], res.lr.values) for t in tuned), len(tuned)


def measure(r: dict[str, dict[str, xr.Dataset]]) -> dict[str, dict[str, Any]]:
    """Per dataset, :func:`measure_map` of its map."""
    return {name: measure_map(parts) for name, parts in r.items()}


def verdict(m: dict[str, dict[str, Any]]) -> list[Row]:
    return [row for one in m.values() for row in map_rows(one)]


def best_sigma_range(acc: xr.DataArray, draws: int = 2000) -> tuple[float, float]:
    """Where the best σ lands when the seeds are resampled (``equivalence.argmax_range``):
    grid values, a stability range, the same on every call."""
    a = acc.transpose("seed", "sigma")
    return equivalence.argmax_range(a.values, a.sigma.values, draws)


def leads(c: dict[str, Any], other: Any, alpha: float) -> np.ndarray:
    """Every σ's lead over ``other`` in cell ``c``, paired by seed (a seed sets the init key
    and the minibatch order in both sweeps): rows (mean, lower, upper), the bounds one-sided
    at level 1 − ``alpha`` each; shape (σ, 3)."""
    level = 1 - 2 * alpha
    return np.array([equivalence.difference_interval(other, runs, level) for runs in c["runs"]])


def as_good(c: dict[str, Any], other: Any, cells: int) -> tuple[bool | None, str]:
    """Is ``other`` within NEAR_BEST of every σ? True when every σ's lead has its one-sided 95%
    upper bound under NEAR_BEST (an intersection-union test: no correction); False when some
    σ's lead is shown above NEAR_BEST at 5% Bonferroni-corrected over the σ of all ``cells``."""
    ok = leads(c, other, 0.05)
    k = len(c["runs"]) * cells
    shown = leads(c, other, 0.05 / k)
    out = True if ok[:, 2].max() < NEAR_BEST else False if shown[:, 1].max() > NEAR_BEST else None
    i = int(ok[:, 0].argmax())
    return (
        out,
        f"largest lead {ok[i, 0]:+.3f} (σ = {c['sigmas'][i]:.2g}, 95% bound {ok[i, 2]:+.3f})",
    )


def far_below(c: dict[str, Any], other: Any, cells: int) -> tuple[bool | None, str]:
    """Is ``other`` more than FAR_BELOW under some σ? True when some σ's lead has its lower
    bound above FAR_BELOW (one-sided 97.5%, Bonferroni over the σ); False when every σ's lead
    has its upper bound under FAR_BELOW (one-sided 95% over the ``cells``, Bonferroni)."""
    k = len(c["runs"])
    up = leads(c, other, 0.025 / k)
    down = leads(c, other, 0.05 / cells)
    out = True if up[:, 1].max() > FAR_BELOW else False if down[:, 2].max() < FAR_BELOW else None
    i = int(up[:, 0].argmax())
    return out, (f"largest lead {up[i, 0]:+.3f} (σ = {c['sigmas'][i]:.2g}, 97.5% lower bound "
                 f"{up[i, 1]:+.3f}, Bonferroni)")  # fmt: skip


def grid_step(sigmas: list[float], sigma: float, target: float) -> int:
    """How many grid steps ``sigma`` lies from the grid point nearest ``target`` (in log σ)."""
    logs = np.log(np.asarray(sigmas))
    return abs(
        int(np.argmin(abs(logs - math.log(sigma)))) - int(np.argmin(abs(logs - math.log(target))))
    )


def _lr_note(m: dict[str, Any]) -> str:
    if len(m["lrs"]) == 1:
        return f"; one lr, {m['lrs'][0]:g}, for every cell (no lr tuning at this scale)"
    return (
        "; tuned lr at an end of the grid in {} of {} (cell, σ) and {} of {} (cell, scheme)".format(
            *m["lr_edge"], *m["lr_edge_schemes"]
        )
    )


def every(outcomes: list[bool | None]) -> bool | None:
    """A row over cells: False if any cell fails, True if every cell passes, else None."""
    return False if False in outcomes else True if all(outcomes) else None


def map_rows(m: dict[str, Any]) -> list[Row]:
    """One map's five rows; each claim ends with its dataset's name. Accuracy comparisons are
    paired by seed and made against every σ of the cell, not only the best (no selection
    bias); see :func:`as_good`, :func:`far_below`."""
    decides = m["seeds"] >= 5 and len(m["lrs"]) >= 3
    note = "" if decides else " (quick: a smoke run; full scale decides)"
    on = f" ({plots.dataset_name(m['dataset'])})"
    lo_d, hi_d = min(m["depths"]), max(m["depths"])
    shallow = [c for c in m["cells"].values() if c["depth"] == lo_d]
    deep = [c for c in m["cells"].values() if c["depth"] == hi_d]
    near = [as_good(c, c["d2l"], len(shallow)) for c in shallow]
    far = [far_below(c, c["d2l"], len(deep)) for c in deep]
    he = {k: as_good(c, c["schemes"]["he_normal"], len(m["cells"])) for k, c in m["cells"].items()}
    steps = [
        [grid_step(c["sigmas"], x, std_of("he_normal", c["width"])) for x in c["best_range"]]
        for c in deep
    ]
    place = [True if max(st) <= 1 else False if min(st) > 1 and _same_side(c) else None
             for st, c in zip(steps, deep, strict=True)]  # fmt: skip
    he_xavier = [
        equivalence.paired_difference(c["schemes"]["xavier_normal"], c["schemes"]["he_normal"])
        for c in deep
    ]
    he_text = "; ".join(f"{k}: {t}" for k, (ok, t) in he.items() if ok is not True)

    def per_width(cs: list[dict[str, Any]], results: list[tuple[bool | None, str]]) -> str:
        return "; ".join(
            f"n = {c['width']}: {mean_spread(c['d2l'])} vs best {c['best']:.3f}, {t}"
            for c, (_, t) in zip(cs, results, strict=True)
        )

    return [
        Row(
            f"why 0.01: at depth {lo_d} σ = 0.01 is as good as the best σ" + on,
            f"every σ's lead over σ = 0.01 under {NEAR_BEST:g} (one-sided 95%, paired by seed) at "
            "every width (lr tuned per σ)",
            "d2l's N(0, 0.01²); mean field: one layer cannot vanish the signal",
            per_width(shallow, near) + note,
            every([ok for ok, _ in near]) if decides else None,
            "a shallow net forgives the init scale once lr is tuned",
        ),
        Row(
            f"C3: at depth {hi_d} σ = 0.01 falls far below the best σ" + on,
            f"some σ ahead of σ = 0.01 by more than {FAR_BELOW:g} (one-sided 97.5%, Bonferroni "
            "over σ) at every width",
            "mean field: the signal is multiplied by σ·√(n/2) per ReLU layer",
            per_width(deep, far) + note,
            every([ok for ok, _ in far]) if decides else None,
            "0.01·√(n/2) < 1: the signal shrinks geometrically with depth",
        ),
        Row(
            f"C8: at depth {hi_d} the best σ is He's √(2/n)" + on,
            "the best σ's bootstrap range over seeds within one grid step of the σ nearest "
            "√(2/n), at every width (the whole range beyond it, on one side: fails)",
            "He et al. 2015, eq. 10",
            "; ".join(
                f"n = {c['width']}: best σ {c['best_sigma']:.2g} = "
                f"{c['best_sigma'] / std_of('he_normal', c['width']):.2f}·√(2/n), range "
                f"[{c['best_range'][0]:.2g}, {c['best_range'][1]:.2g}], {max(st)} step(s) away"
                for c, st in zip(deep, steps, strict=True)
            )
            + note,
            every(place) if decides else None,
            "σ·√(n/2) = 1 keeps the signal level through depth",
        ),
        Row(
            "C8: He is within a point of the best σ in every cell" + on,
            f"every σ's lead over He under {NEAR_BEST:g} (one-sided 95%, paired by seed), every "
            "(width, depth)",
            "He et al. 2015",
            f"{sum(ok is True for ok, _ in he.values())} of {len(he)} cells shown within; "
            + (f"not shown: {he_text}" if he_text else "every cell")
            + _lr_note(m)
            + note,
            every([ok for ok, _ in he.values()]) if decides else None,
            "a fan-based scale finds the good σ without a search",
        ),
        Row(
            f"C8: at depth {hi_d} He beats Xavier on a ReLU net" + on,
            "He − Xavier accuracy > 0, paired 95% CI, at every width (lr tuned per scheme)",
            "He et al. 2015, Fig. 2–3: Xavier's ReLU nets learn slower, the deeper the more",
            "; ".join(f"n = {c['width']}: {t}" for c, (_, t) in zip(deep, he_xavier, strict=True))
            + note,
            every([ok for ok, _ in he_xavier]) if decides else None,
            "Xavier halves the ReLU signal's variance per layer: it vanishes with depth",
        ),
    ]


def _same_side(c: dict[str, Any]) -> bool:
    """The best σ's bootstrap range lies on one side of √(2/n)."""
    he = std_of("he_normal", c["width"])
    lo, hi = c["best_range"]
    return hi < he or lo > he


def figures(out_dir: Path) -> list[Path]:
    r = load(out_dir)
    accs = {name: tuned_acc(parts["sigma"]).mean("seed") for name, parts in r.items()}
    lost = {name: ~study.best_lr(parts["sigma"])[1] for name, parts in r.items()}
    out = Path(out_dir) / NAME
    return draw_map(accs, measure(r), out, d2l_sigma=D2L_SIGMA, chance=CHANCE, lost=lost)


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
