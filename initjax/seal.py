"""Sealed results of a finished sweep folder: written once, checked on every reuse, recovered.

A finished sweep writes ``results.nc`` and ``results.csv`` and then the seal
(:data:`initjax.results.SEAL`): the SHA-256 of both files and, per variable and coordinate,
its dims, dtype and content digest, with the result's attributes. :func:`initjax.results.load`
checks a sealed file's checksum before opening it. :func:`reuse` checks both files and, when
one is damaged, rebuilds it from the other — ``results.nc`` from the CSV is accepted only if
every variable matches its sealed digest, so a recovered result is bit-identical — and raises
:class:`~initjax.results.DamagedResults` naming what is damaged when neither is intact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from initjax import results, space

NETCDF, TABLE = "results.nc", "results.csv"
_FORMAT = 1


def _describe(ds: xr.Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
    variables: dict[str, Any] = {}
    for n, v in ds.data_vars.items():
        variables[str(n)] = {"dims": list(v.dims), "dtype": v.dtype.str}
        if not np.issubdtype(v.dtype, np.number) and v.dtype != bool:
            variables[str(n)]["values"] = v.values.tolist()  # text: not in the CSV table
        variables[str(n)]["sha256"] = results.digest(v.values)
    coords = {
        str(n): {"dtype": v.dtype.str, "values": v.values.tolist()} for n, v in ds.coords.items()
    }
    return variables, coords


def write(ds: xr.Dataset, out: Path, fingerprint: str) -> xr.Dataset:
    """Save ``ds`` as ``out/results.nc`` and ``out/results.csv``, then seal both.

    Checks the free space first (:class:`~initjax.space.DiskFull` names the folder and the
    bytes needed). Returns ``ds`` with the provenance attributes it was saved with.
    """
    ds = ds.copy()
    for key, value in {**results.provenance(), "fingerprint": fingerprint}.items():
        ds.attrs.setdefault(key, value)
    needed = 4 * space.tree_bytes(*(v.values for v in ds.variables.values())) + (1 << 20)
    what = f"writing {NETCDF} and {TABLE}"
    space.require(out, needed, what)
    try:
        results.save(ds, out / NETCDF)
        results.export(ds, out / TABLE)
        _write_seal(ds, out, fingerprint)
    except Exception as e:
        raise space.translate(e, out, needed, what) from e
    return ds


def _write_seal(ds: xr.Dataset, out: Path, fingerprint: str) -> None:
    variables, coords = _describe(ds)
    seal = {
        "format": _FORMAT,
        "fingerprint": fingerprint,
        "files": {n: {"sha256": results.file_sha256(out / n)} for n in (NETCDF, TABLE)},
        "variables": variables,
        "coords": coords,
        "attrs": {k: v.item() if isinstance(v, np.generic) else v for k, v in ds.attrs.items()},
    }
    results.write_json(out / results.SEAL, seal)


def is_sealed(out: Path) -> bool:
    return (out / results.SEAL).exists()


def reuse(out: Path, fingerprint: str, log: Callable[[str], None]) -> xr.Dataset:
    """The finished result in ``out``, verified; a damaged file is rebuilt from the other.

    Raises :class:`~initjax.results.DamagedResults` naming the damaged files when nothing
    intact is left, or when the result belongs to another sweep.
    """
    seal_path = out / results.SEAL
    try:
        seal = json.loads(seal_path.read_text())
        assert seal["format"] == _FORMAT and {NETCDF, TABLE} <= set(seal["files"])
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise results.DamagedResults(
            f"{seal_path} is damaged or unreadable, so {NETCDF} cannot be checked; move "
            f"{NETCDF}, {TABLE} and {results.SEAL} aside and run again to retrain"
        ) from None
    if seal["fingerprint"] != fingerprint:
        raise results.DamagedResults(f"{seal_path} seals another sweep (fingerprint differs)")
    ds, nc_problem = _load_checked(out / NETCDF, seal)
    csv_problem = _file_problem(out / TABLE, seal)
    if ds is not None:
        if csv_problem:
            log(f"{out / TABLE} {csv_problem}; rewritten from the verified {NETCDF}")
            results.export(ds, out / TABLE)
            _write_seal(ds, out, fingerprint)
        return ds
    if csv_problem is None:
        try:
            ds = from_table(out / TABLE, seal)
        except (ValueError, KeyError) as e:
            csv_problem = f"does not rebuild the sealed result ({e})"
    if ds is None:
        raise results.DamagedResults(
            f"{out / NETCDF}: {nc_problem}; and {out / TABLE} {csv_problem}: no intact copy of "
            f"the results is left. Move {NETCDF} and {TABLE} aside (or delete them) and run "
            "the same command again to retrain, or use --overwrite to discard the folder"
        )
    results.save(ds, out / NETCDF)
    _write_seal(ds, out, fingerprint)
    log(f"{out / NETCDF}: {nc_problem}; rebuilt from {TABLE} (every variable matches its seal)")
    return ds


def _file_problem(path: Path, seal: dict[str, Any]) -> str | None:
    if not path.exists():
        return "is missing"
    if results.file_sha256(path) != seal["files"][path.name]["sha256"]:
        return "is damaged (its SHA-256 differs from the seal)"
    return None


def _load_checked(path: Path, seal: dict[str, Any]) -> tuple[xr.Dataset | None, str]:
    if (problem := _file_problem(path, seal)) is not None:
        return None, problem
    try:
        ds = results.load(path)
    except results.DamagedResults as e:
        return None, str(e)
    variables, _ = _describe(ds)
    if variables != seal["variables"]:
        return None, "its variables differ from the seal"
    return ds, ""


def from_table(path: Path, seal: dict[str, Any]) -> xr.Dataset:
    """Rebuild the sealed result from its long CSV table; ValueError unless bit-identical."""
    # Floats must parse exactly (the digests check it): pandas < 3 needs asking for that.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    table = pd.read_csv(path, **exact)  # type: ignore[call-overload]
    coords = {
        name: np.asarray(c["values"], dtype=np.dtype(c["dtype"]))
        for name, c in seal["coords"].items()
    }
    variables = {}
    for name, spec in seal["variables"].items():
        dims = spec["dims"]
        if "values" in spec:  # text variables live in the seal itself
            array = np.asarray(spec["values"], dtype=np.dtype(spec["dtype"]))
            if results.digest(array) != spec["sha256"]:
                raise ValueError(f"variable {name} differs from its sealed checksum")
            variables[name] = (dims, array)
            continue
        rows = table[table["variable"] == name]
        keys = [rows[d].to_numpy().astype(coords[d].dtype) for d in dims]
        index = pd.MultiIndex.from_arrays(keys, names=dims) if dims else None
        full = pd.MultiIndex.from_product([coords[d] for d in dims], names=dims)
        values = pd.Series(rows["value"].to_numpy(), index=index).reindex(full).to_numpy()
        shape = tuple(len(coords[d]) for d in dims)
        array = values.reshape(shape).astype(np.dtype(spec["dtype"]))
        if results.digest(array) != spec["sha256"]:
            raise ValueError(f"variable {name} differs from its sealed checksum")
        variables[name] = (dims, array)
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update(seal["attrs"])
    return ds
