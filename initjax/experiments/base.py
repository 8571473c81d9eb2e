"""What every experiment module provides, the registry, and running one end to end.

An experiment is a module in this package with:

* ``NAME``, ``QUESTION`` (one line), ``CLAIMS`` (ids from ANCHORS.md, e.g. ``("C2", "C4")``),
  ``RUNTIME`` (``{"quick": "...", "full": "..."}``, measured on 2 CPU cores);
* ``CONFIGS``: ``{"quick": ..., "full": ...}``, frozen dataclasses of the experiment's settings;
* ``run(out_dir, scale="quick", progress=True) -> None``: trains through :mod:`initjax.sweep`
  and saves labelled results (netCDF via :mod:`initjax.results`) under ``out_dir``;
* ``figures(out_dir) -> list[Path]``: draws PNG and SVG figures from the saved results only;
* ``verdict(out_dir) -> list[Row]``: compares the saved results with the anchor.

Figures and verdicts read only what ``run`` saved, so a report can be re-made without
retraining.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

SCALES = ("quick", "full")

# In the order of the study note's argument (REPORT.md follows it).
EXPERIMENTS = (
    "d2l_softmax",
    "symmetry",
    "saturation",
    "signal_propagation",
    "deep_relu",
    "edge_of_chaos",
    "batchnorm",
    "orthogonal_lsuv",
    "schemes_mnist1d",
)
# Runnable with ``initjax run`` but not part of ``reproduce`` (it measures the machine).
EXTRA = ("throughput",)


@dataclass(frozen=True)
class Row:
    """One line of a verdict table."""

    claim: str
    """Claim id and a few words, e.g. ``"C2 large σ saturates the softmax"``."""
    anchor: str
    """The published or derived number we compare with."""
    source: str
    """Where the anchor comes from (paper, table, or formula)."""
    ours: str
    """Our value: mean ± spread over seeds, with units."""
    passed: bool | None
    """True/False when this scale decides it; None when it does not (e.g. quick scale)."""
    why: str
    """One line: why it passed or failed, or what the note got wrong."""

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "n/a"}[self.passed]


def names(include_extra: bool = True) -> tuple[str, ...]:
    return EXPERIMENTS + (EXTRA if include_extra else ())


def get(name: str) -> ModuleType:
    """The experiment module called ``name``; ValueError lists the valid names."""
    if name not in names():
        raise ValueError(f"unknown experiment {name!r}; valid choices: {', '.join(names())}")
    return importlib.import_module(f"initjax.experiments.{name}")


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid choices: {', '.join(SCALES)}")
    return scale


def mean_spread(values: Any, digits: int = 3, unit: str = "") -> str:
    """``"mean ± std (n=k)"`` over the finite entries of ``values`` (std with ddof 0)."""
    a = np.asarray(values, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        return "n/a (no finite value)"
    if a.size == 1:
        return f"{a[0]:.{digits}f}{unit} (n=1)"
    return f"{a.mean():.{digits}f} ± {a.std():.{digits}f}{unit} (n={a.size})"


def config_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def run_one(name: str, out_root: Path, scale: str = "quick", progress: bool = True) -> list[Row]:
    """Run experiment ``name`` at ``scale`` into ``out_root/name``, then draw and judge it."""
    from initjax import results

    check_scale(scale)
    module = get(name)
    out_dir = Path(out_root) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    module.run(out_dir, scale=scale, progress=progress)
    seconds = time.perf_counter() - t0
    module.figures(out_dir)
    rows = module.verdict(out_dir)
    meta = {"name": name, "scale": scale, "seconds": round(seconds, 1)}
    results.write_json(out_dir / "run.json", meta)
    save_verdict(out_dir, rows)
    return rows


def save_verdict(out_dir: Path, rows: Sequence[Row]) -> Path:
    from initjax import results

    path = Path(out_dir) / "verdict.json"
    results.write_json(path, [dataclasses.asdict(r) for r in rows])
    return path


def load_verdict(out_dir: Path) -> list[Row]:
    raw = json.loads((Path(out_dir) / "verdict.json").read_text())
    return [Row(**r) for r in raw]
