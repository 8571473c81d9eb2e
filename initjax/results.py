"""Labelled results on disk: xarray ↔ netCDF, JSON, all written atomically.

Every write goes to a temporary file in the destination's directory and is then renamed over
the destination (``os.replace`` is atomic on POSIX), so a reader never sees a half-written
file and an interrupted write leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import xarray as xr

ENGINE: Literal["netcdf4"] = "netcdf4"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


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


def save(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` as netCDF-4 (netCDF4 engine) atomically, stamping the git commit."""
    ds = ds.copy()
    ds.attrs.setdefault("git_commit", git_commit())
    for name, var in ds.variables.items():
        if var.dtype == bool:  # netCDF has no boolean type
            ds[name] = var.astype("int8")
            ds[name].attrs["dtype"] = "bool"
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE)
    return Path(path)


def load(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a result written by :func:`save` (fully into memory; the file is closed)."""
    with xr.open_dataset(path, engine=ENGINE) as ds:
        out = ds.load()
    for name, var in out.variables.items():
        if var.attrs.get("dtype") == "bool":
            attrs = {k: v for k, v in var.attrs.items() if k != "dtype"}
            out[name] = var.astype(bool)
            out[name].attrs = attrs
    return out
