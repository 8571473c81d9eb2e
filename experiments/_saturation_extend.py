"""Widen a finished saturation net's lr grid: train only the lrs it lacks and join them on lr.

``saturation.py``'s full run (5 lrs, 0.1–10) left σ = 10 most accurate at an end of the grid
for the softmax (lr 10) and tanh_2 (lr 0.1), so its C2 row stayed undecided; the script's full
grids for those two nets now reach 100 and 0.01. Every cell (seed, σ, lr) is its own run on
the shared minibatch order, so the missing lrs trained alone and joined to the saved ones are
the same computation as one sweep over all of them (up to the float rounding of batched
GEMMs). The saved net is checked first: same config, seeds and σ, and its lrs a subset of the
new grid; anything else is an error, not a merge::

    python experiments/_saturation_extend.py docs/saturation OUT softmax tanh_2

writes ``OUT/softmax.nc`` and ``OUT/tanh_2.nc`` (copy the other nets' files beside them);
attrs ``lrs_added`` and ``lrs_added_git_commit`` record what was joined and from which commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from initjax import data as datasets
from initjax import results, study, sweep, train


def missing_lrs(previous: xr.Dataset, cfg: train.Config, grid: dict) -> list[float]:
    """The lrs of ``grid`` that ``previous`` lacks, after checking that it is the same net
    and grid otherwise (ValueError naming the difference)."""
    old = train.Config.from_json(str(previous.attrs["config"]))
    if old != cfg:
        raise ValueError(f"the saved net's config differs from the script's: {old} vs {cfg}")
    if previous.sizes["seed"] != grid["seeds"]:
        raise ValueError(f"seeds: saved {previous.sizes['seed']}, grid {grid['seeds']}")
    if not np.allclose(previous.sigma.values, grid["sigmas"], rtol=1e-12):
        raise ValueError("σ: the saved grid is not the script's")
    have, want = [float(v) for v in previous.lr.values], [float(v) for v in grid["lrs"]]
    if not set(have) <= set(want):
        raise ValueError(f"saved lrs {have} are not all in the new grid {want}")
    return [lr for lr in want if lr not in have]


def extend(previous: xr.Dataset, cfg: train.Config, grid: dict, data: datasets.Dataset,
           out: Path | None = None) -> xr.Dataset:  # fmt: skip
    """``previous`` with the lrs of ``grid`` it lacks trained and joined along lr (sorted)."""
    new = missing_lrs(previous, cfg, grid)
    if not new:
        return previous
    extra = sweep.run(cfg, data, grid["seeds"], sigmas=grid["sigmas"], lrs=new, out=out,
                      progress=False)  # fmt: skip
    per_lr = [v for v in previous.data_vars if "lr" in previous[v].dims]
    extra = extra[per_lr].assign_coords(sigma=previous.sigma, seed=previous.seed)
    joined = xr.concat([previous[per_lr], extra], dim="lr", join="exact").sortby("lr")
    rest = previous[[v for v in previous.data_vars if v not in per_lr]]
    added = {"lrs_added": json.dumps(new), "lrs_added_git_commit": extra.attrs.get("git_commit")}
    return xr.merge([joined, rest], join="exact").assign_attrs(previous.attrs | added)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.split("::")[1].strip().splitlines()[0], file=sys.stderr)
        return 2
    saved, out, names = Path(argv[0]), Path(argv[1]), argv[2:]
    exp = study.load("saturation")
    unknown = [n for n in names if n not in exp.CONFIGS["full"]]
    if unknown:
        print(f"unknown nets {unknown}; valid: {', '.join(exp.CONFIGS['full'])}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        cfg, grid = exp.CONFIGS["full"][name]
        previous = results.load(saved / f"{name}.nc")
        data = datasets.load(cfg.dataset)
        ds = extend(previous, cfg, grid, data, study.checkpoints(out, name))
        results.save(ds, out / f"{name}.nc")
        print(f"{name}: lrs {[float(v) for v in ds.lr.values]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
