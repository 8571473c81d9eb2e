"""Labelled results on disk: xarray ↔ netCDF, tidy tables, JSON, all written atomically.

Every write goes to a temporary file in the destination's directory and is then renamed over
the destination (``os.replace`` is atomic on POSIX), so a reader never sees a half-written
file and an interrupted write leaves the previous version intact.

A saved sweep carries its provenance in the netCDF attributes: the config (JSON), the
package versions, and the git commit of the initjax checkout that produced it::

    results.save(res, "runs/d2l/results.nc")
    res = results.load("runs/d2l/results.nc")       # equal to what was saved, attrs included
    results.export(res, "runs/d2l/results.csv")     # long table: one row per value
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from initjax import aggregate, variables

if TYPE_CHECKING:
    from initjax.data import Dataset
    from initjax.grid import Grid
    from initjax.train import Config

ENGINE: Literal["netcdf4"] = "netcdf4"
PACKAGES = ("initjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "xarray")
TABLE_SUFFIXES = (".csv", ".parquet")
INNER_DIMS = ("seed", "sigma", "lr")


def _umask() -> int:
    # os.umask can only be read by setting it; done once at import, before any thread writes.
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; a renamed result should get the usual permissions instead.
_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is removed and ``path``
    is untouched.
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
        os.chmod(tmp_path, _FILE_MODE)
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


def to_dataframe(ds: xr.Dataset) -> pd.DataFrame:
    """The result as a long ("tidy") table: one row per value.

    Columns: the config fields of :data:`initjax.variables.CONFIG_COLUMNS` that are not outer
    axes (scheme, model, dataset, activation, hidden, optimizer: so that the tables of several
    sweeps concatenate), every dimension of ``ds`` (``seed, sigma, lr, epoch`` and e.g.
    ``layer``, outer axes such as ``scheme``), then ``variable`` (the data variable's name)
    and ``value`` (float64; booleans as 0/1). A variable without some dimension (``diverged``
    has no ``epoch``) leaves that column empty (NaN, or ``<NA>`` for integer labels) in its
    rows. Pivot back with e.g.
    ``df[df.variable == "test_acc"].pivot_table("value", "epoch", "sigma")``.
    """
    dims = list(ds.dims)
    frames = []
    for name in ds.data_vars:
        var = ds[name]
        if var.dtype == bool:
            var = var.astype(np.float64)
        elif not np.issubdtype(var.dtype, np.number):
            continue  # per-slice provenance (config JSON), not a value
        frame = var.to_dataframe(name="value").reset_index()
        frame = frame[[*var.dims, "value"]]  # drop non-dimension coordinates
        frame.insert(len(var.dims), "variable", str(name))
        frames.append(frame.astype({"value": np.float64}))
    if not frames:
        return pd.DataFrame(columns=[*dims, "variable", "value"])
    table = pd.concat(frames, ignore_index=True).reindex(columns=[*dims, "variable", "value"])
    for dim in dims:  # integer labels (seed, epoch) stay integers where a variable lacks them
        if dim in ds.coords and np.issubdtype(ds[dim].dtype, np.integer):
            table[dim] = table[dim].astype("Int64")
    for i, (field, value) in enumerate(variables.config_columns(ds).items()):
        table.insert(i, field, value)  # so that tables of several sweeps stack
    return table


def export(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write :func:`to_dataframe` of ``ds`` as CSV or parquet (by suffix), atomically.

    Parquet needs ``pyarrow`` (``pip install pyarrow``); without it this raises ImportError
    before writing anything.
    """
    dest = Path(path)
    suffix = dest.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"cannot export to {dest.name!r}: unknown table format {suffix or '(no suffix)'!r}; "
            f"valid suffixes: {', '.join(TABLE_SUFFIXES)}"
        )
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError(
            f"writing {dest.name} needs pyarrow, which is not installed "
            "(pip install pyarrow), or export to .csv instead"
        )
    table = to_dataframe(ds)
    with atomic_path(dest) as tmp:
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False, engine="pyarrow")
    return dest


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


SUMMARY_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
BLOWUP = 10.0
"""A cell whose final loss exceeds this multiple of its loss at init has blown up."""


def blown_up(ds: xr.Dataset) -> xr.DataArray:
    """Cells that blew up but are not flagged ``diverged``: final loss > BLOWUP × initial.

    Whatever rule training used to flag divergence, such a cell must not read as healthy:
    :func:`summary` counts it with the diverged cells and leaves it out of the means, and
    sweeps saved by :mod:`initjax.checkpoint` carry it as the variable ``blown_up``.
    """
    cells = ds["diverged"] if "diverged" in ds else None
    out = xr.zeros_like(cells, dtype=bool) if cells is not None else xr.DataArray(False)
    if "epoch" not in ds.dims:
        return out
    for name in ("train_loss", "batch_loss"):
        if name not in ds:
            continue
        first, last = ds[name].isel(epoch=0), ds[name].isel(epoch=-1)
        grew = np.isfinite(first) & (~np.isfinite(last) | (last > BLOWUP * np.abs(first)))
        out = out | grew
    if cells is not None:
        out = out & ~cells.astype(bool)
    return out.rename("blown_up")


def with_blowups(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the per-cell variable ``blown_up`` (see :func:`blown_up`)."""
    flag = blown_up(ds)
    return variables.describe(ds.assign(blown_up=flag)) if flag.ndim else ds


def summary(ds: xr.Dataset, max_rows: int = 40) -> str:
    """One screen: final-epoch metrics per (σ, lr): mean ± 95% CI over seeds, n finite / N.

    Diverged runs (NaN metrics) and runs that blew up without being flagged (:func:`blown_up`,
    marked ``*``) are left out of the means and counted: each cell says how many seeds it
    averages, and a last line says how many runs diverged in all
    (:func:`initjax.aggregate.over_seeds`).
    """
    blown = ds["blown_up"].astype(bool) if "blown_up" in ds else blown_up(ds)
    bad = blown | ds["diverged"].astype(bool) if "diverged" in ds else blown
    final = ds.isel(epoch=-1) if "epoch" in ds.dims else ds
    names = [m for m in SUMMARY_METRICS if m in ds]
    n_seeds = ds.sizes.get("seed", 1)
    outer = [str(d) for d in ds.dims if d not in (*INNER_DIMS, "epoch", "layer", "hidden_layer")]
    header = [*outer, "sigma", "lr", *names, "diverged"]
    aggs = {
        n: aggregate.over_seeds(final[n].where(~bad), warn=False) if "seed" in ds.dims else None
        for n in names
    }
    rows = []
    sigmas = ds["sigma"].values if "sigma" in ds.dims else [None]
    lrs = ds["lr"].values if "lr" in ds.dims else [None]
    outer_values = itertools.product(*(ds[d].values for d in outer))
    for where, sigma, lr in itertools.product(outer_values, sigmas, lrs):
        at = {**dict(zip(outer, where, strict=True)), "sigma": sigma, "lr": lr}
        row = [*(str(w) for w in where), _num(sigma), _num(lr)]
        for name in names:
            agg = aggs[name]
            row.append(aggregate.cell_text(_at(agg, at)) if agg is not None else "-")
        mark = "*" if bool(_at(blown, at).any()) else ""
        row.append(f"{int(np.asarray(_at(bad, at).values).sum())}/{n_seeds}{mark}")
        rows.append(row)
    shown, hidden = rows[:max_rows], len(rows) - max_rows
    widths = [max(len(r[i]) for r in [header, *shown]) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *shown]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    epochs = int(ds["epoch"].values[-1]) if "epoch" in ds.dims else 0
    lines.insert(
        0,
        f"after epoch {epochs}: mean ± {aggregate.LEVEL:.0%} CI over seeds "
        f"(n finite / N = {n_seeds} seeds):",
    )
    if hidden > 0:
        lines.append(f"... {hidden} more rows (see the saved table)")
    if n_blown := int(blown.sum()):
        lines.append(
            f"* {n_blown} run(s) counted as diverged: their final loss exceeds {BLOWUP:g}× "
            "the loss at init (training did not flag them); left out of the means"
        )
    message = aggregate.diverged_message(ds)
    if message is not None:
        lines.append(f"warning: {message}")
    return "\n".join(lines)


def _at(x: Any, at: dict[str, Any]) -> Any:
    """``x`` at the coordinates of ``at`` that it has (None: not an axis of the result)."""
    return x.sel({k: v for k, v in at.items() if v is not None and k in x.dims})


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}"
