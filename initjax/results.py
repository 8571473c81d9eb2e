"""Labelled results on disk: xarray ↔ netCDF, tidy tables, JSON, all written atomically.

Every write goes to a temporary file in the destination's directory and is then renamed over
the destination (:mod:`initjax.atomic`), so a reader never sees a half-written file and an
interrupted write leaves the previous version intact. This module holds saving and loading
(with provenance and the seal check) and what identifies a sweep (:func:`fingerprint`); the
tables and the one-screen summary are :mod:`initjax.tables`, re-exported here.

A saved sweep carries its provenance in the netCDF attributes: the config (JSON), the
package versions, and the git commit of the initjax checkout that produced it::

    results.save(res, "runs/d2l/results.nc")
    res = results.load("runs/d2l/results.nc")       # equal to what was saved, attrs included
    results.export(res, "runs/d2l/results.csv")     # long table: one row per value
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from initjax.atomic import atomic_path, write_json, write_text
from initjax.tables import (
    BLOWUP,
    INNER_DIMS,
    SUMMARY_METRICS,
    TABLE_SUFFIXES,
    blown_up,
    export,
    summary,
    to_dataframe,
    with_blowups,
)

if TYPE_CHECKING:
    from initjax.data import Dataset
    from initjax.grid import Grid
    from initjax.train import Config

ENGINE: Literal["netcdf4"] = "netcdf4"
PACKAGES = ("initjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "xarray")

__all__ = [
    "BLOWUP",
    "ENGINE",
    "INNER_DIMS",
    "PACKAGES",
    "SEAL",
    "SUMMARY_METRICS",
    "TABLE_SUFFIXES",
    "DamagedResults",
    "atomic_path",
    "blown_up",
    "check_sealed",
    "differences",
    "digest",
    "export",
    "file_sha256",
    "fingerprint",
    "git_commit",
    "load",
    "provenance",
    "save",
    "summary",
    "to_dataframe",
    "versions",
    "with_blowups",
    "write_json",
    "write_text",
]


def recorded_commits(folder: str | os.PathLike[str]) -> list[str]:
    """The short commits (7 hex digits) that the results in ``folder`` (``*.nc``) recorded as
    their ``git_commit`` attribute, in file order, each once (a file xarray cannot open names
    none: this is provenance text, :func:`load` is what verifies results)."""
    found: list[str] = []
    for path in sorted(Path(folder).glob("*.nc")):
        try:
            with xr.open_dataset(path) as ds:
                c = str(ds.attrs.get("git_commit", ""))[:7]
        except (OSError, ValueError):
            continue
        if c and c not in found:
            found.append(c)
    return found


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str:
    """The initjax checkout's commit (``unknown`` when not in a git checkout)."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def versions() -> dict[str, str]:
    """``{"version_<package>": version}`` for the packages a result depends on."""
    out = {}
    for pkg in PACKAGES:
        try:
            out[f"version_{pkg}"] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[f"version_{pkg}"] = "unknown"
    return out


def provenance() -> dict[str, str]:
    """What :func:`save` stamps on a result that lacks it: package versions and git commit."""
    return {**versions(), "git_commit": git_commit()}


def save(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` as netCDF-4 atomically; attributes it lacks get :func:`provenance`.

    Booleans (which netCDF lacks) are stored as int8 tagged ``dtype="bool"`` and come back
    as booleans from :func:`load`. ``ds`` itself is not modified.
    """
    ds = ds.copy()
    for key, value in provenance().items():
        ds.attrs.setdefault(key, value)
    for name, var in ds.variables.items():
        if var.dtype == bool:
            ds[name] = var.astype("int8")
            ds[name].attrs["dtype"] = "bool"
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE)
    return Path(path)


SEAL = "results.seal.json"
"""The seal of a finished sweep folder (:mod:`initjax.seal`): checksums of its result files."""


class DamagedResults(ValueError):
    """A results file is unreadable or differs from the checksum sealed when it was written."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sealed(path: str | os.PathLike[str]) -> None:
    """Raise :class:`DamagedResults` if ``path`` is listed in its folder's seal with another
    checksum (a file no seal lists passes: it was written by :func:`save` alone)."""
    path = Path(path)
    try:
        sealed = json.loads((path.parent / SEAL).read_text())["files"][path.name]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if file_sha256(path) != sealed:
        raise DamagedResults(
            f"{path} is damaged: its SHA-256 differs from the one sealed in "
            f"{path.parent / SEAL} when it was written"
        )


def load(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a result written by :func:`save` (fully into memory; the file is closed).

    A file its folder's seal lists is checked against the sealed checksum first; a damaged,
    truncated or non-netCDF file raises :class:`DamagedResults` naming it.
    """
    check_sealed(path)
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            out = ds.load()
    except FileNotFoundError:
        raise
    except Exception as e:  # netCDF4/HDF5 raise OSError, RuntimeError or ValueError
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise DamagedResults(
            f"{path} cannot be read as netCDF ({type(e).__name__}: {first}): it is truncated, "
            "damaged or not a results file"
        ) from None
    for name, var in out.variables.items():
        if var.attrs.get("dtype") == "bool":
            attrs = {k: v for k, v in var.attrs.items() if k != "dtype"}
            out[name] = var.astype(bool)
            out[name].attrs = attrs
    return out


def digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def fingerprint(cfg: Config, grid: Grid, data: Dataset) -> dict[str, Any]:
    """What identifies a sweep: config, grid values, dataset (name, shapes, content digest).

    ``hash`` is the SHA-256 of the rest; a resumable sweep's folder and its results carry it.
    """
    content = {
        "config": json.loads(cfg.to_json()),
        "grid": {
            "seeds": grid.seeds.tolist(),
            "sigmas": grid.sigmas.tolist(),
            "lrs": grid.lrs.tolist(),
        },
        "dataset": {
            "name": data.name,
            "x_train": list(data.x_train.shape),
            "x_test": list(data.x_test.shape),
            "num_classes": data.num_classes,
            "sha256": digest(data.x_train, data.y_train, data.x_test, data.y_test),
        },
    }
    from initjax import plugins

    if plugins.loaded():  # an edited plugin is another sweep (its path may move freely)
        content["plugins"] = [p["sha256"] for p in plugins.loaded()]
    text = json.dumps(content, sort_keys=True)
    return {**content, "hash": hashlib.sha256(text.encode()).hexdigest()}


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): tree}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"config.epochs: 2 in the folder, 3 now"`` for every entry that differs."""
    a, b = _flat({k: v for k, v in old.items() if k != "hash"}), _flat(new)
    b.pop("hash", None)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append(
                f"{key}: {a.get(key, '(absent)')} in the folder, {b.get(key, '(absent)')} now"
            )
    return out or ["fingerprint hash differs"]
