"""Outer axes of a sweep: which Config fields may be one, their values as coordinates, and
the joining of per-program results (seed chunks along ``seed``, outer combinations along a
dimension per axis, lr grids trained apart along ``lr``) into one labelled Dataset.
:mod:`initjax.sweep` runs the programs."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from initjax import train, variables
from initjax.train import Config

INNER = {"sigma": "sigmas", "lr": "lrs"}
"""Config fields that are inner (array) axes, and the argument that varies them."""
NOT_OUTER = {
    "dataset": "a sweep trains on one dataset; run one sweep per dataset",
    "num_classes": "it follows the dataset",
    "normalize": "it changes the data, not the program; run one sweep per normalization",
    "epochs": "slices must share the epoch axis; slice results by epoch instead",
}


def outer_axes(cfg: Config, over: Mapping[str, Sequence[Any]] | None) -> list[tuple[str, list]]:
    """Validate ``over`` against ``cfg``: ``[(field, values), ...]`` in the order given.

    ValueError names a field that is not a Config field, an inner axis, or not allowed; an
    empty or repeated value list; or a value the Config rejects (checked per combination).
    """
    if not over:
        return []
    fields = {f for f in train.Config.__dataclass_fields__}
    axes = []
    for name, values in over.items():
        if name in INNER:
            raise ValueError(f"{name} is an inner axis: pass {INNER[name]}=[...] instead of over")
        if name not in fields:
            raise ValueError(
                f"over: {name!r} is not a Config field; valid choices: "
                + ", ".join(sorted(fields - set(INNER) - set(NOT_OUTER)))
            )
        if name in NOT_OUTER:
            raise ValueError(f"over: {name} cannot be an outer axis ({NOT_OUTER[name]})")
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise ValueError(f"over[{name!r}] must be a list of values, got {values!r}")
        values = [tuple(v) if isinstance(v, list) else v for v in values]
        labels = [coord_label(v) for v in values]
        if not values:
            raise ValueError(f"over[{name!r}] is empty")
        if len(set(labels)) != len(labels):
            raise ValueError(f"over[{name!r}] has repeated values: {labels}")
        axes.append((name, values))
    for combo in itertools.product(*(v for _, v in axes)):
        cfg.replace(**dict(zip([n for n, _ in axes], combo, strict=True)))  # raises if invalid
    return axes


def coord_label(value: Any) -> Any:
    """An outer value as a coordinate: names, numbers and bools as they are, a tuple as
    ``"64,64"``, a callable as ``module.qualname``."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if callable(value) and not isinstance(value, str):
        return train.label(value)
    return value


def concat_seeds(pieces: list[xr.Dataset]) -> xr.Dataset:
    """Join seed chunks of one grid along ``seed`` (variables without it are taken once)."""
    if len(pieces) == 1:
        return pieces[0]
    joined = xr.concat(
        pieces, dim="seed", data_vars="minimal", coords="minimal", compat="override",
        combine_attrs="override",
    )  # fmt: skip
    joined.attrs.pop("fingerprint", None)
    joined.attrs["seed_chunks"] = json.dumps([int(p.sizes["seed"]) for p in pieces])
    return variables.describe(joined)


def concat_lrs(pieces: list[xr.Dataset]) -> xr.Dataset:
    """Join sweeps of one grid trained on disjoint lr values along ``lr`` (sorted).

    Every (seed, σ, lr) cell is its own run, so a grid whose lrs were trained in two sweeps
    (e.g. a finished sweep and the lrs it turned out to need) is the same computation as one
    sweep over all of them, up to the rounding of batched GEMMs. The pieces must agree on
    everything but lr: config, every other coordinate, and the variables without an lr
    dimension (within rtol 1e-5); otherwise ValueError naming the difference. The result
    records each piece's lrs (``lr_pieces``) and commits (``lr_pieces_git_commit``).
    """
    if not pieces:
        raise ValueError("concat_lrs: no pieces to join")
    if len(pieces) == 1:
        return pieces[0]
    first = pieces[0]
    lrs = [[float(v) for v in p.lr.values] for p in pieces]
    flat = [v for group in lrs for v in group]
    if len(set(flat)) != len(flat):
        raise ValueError(f"concat_lrs: the pieces' lrs overlap: {lrs}")
    for i, p in enumerate(pieces[1:], 1):
        if p.attrs.get("config") != first.attrs.get("config"):
            raise ValueError(f"concat_lrs: piece {i} has another config than piece 0")
        for name in set(first.coords) | set(p.coords):
            if name == "lr":
                continue
            if (
                name not in first.coords
                or name not in p.coords
                or not np.array_equal(first[name].values, p[name].values)
            ):
                raise ValueError(
                    f"concat_lrs: piece {i} differs from piece 0 in coordinate {name!r}"
                )
        for name in first.data_vars:
            if "lr" in first[name].dims:
                continue
            if name not in p or not _same(first[name].values, p[name].values):
                raise ValueError(
                    f"concat_lrs: piece {i} differs from piece 0 in {name!r} (no lr dim)"
                )
    per_lr = [str(v) for v in first.data_vars if "lr" in first[v].dims]
    joined = xr.concat([p[per_lr] for p in pieces], dim="lr", join="exact").sortby("lr")
    rest = first[[v for v in first.data_vars if v not in per_lr]]
    out = xr.merge([joined, rest], join="exact", combine_attrs="override")
    out.attrs = {k: v for k, v in first.attrs.items() if k != "fingerprint"}
    out.attrs["lr_pieces"] = json.dumps(lrs)
    out.attrs["lr_pieces_git_commit"] = json.dumps([p.attrs.get("git_commit") for p in pieces])
    return variables.describe(out)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays: numbers within rtol 1e-5 (NaN equal to NaN), anything else exactly."""
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-5, equal_nan=True))
    return bool(np.array_equal(a, b))


OUTER_MARK = "(outer axis: see the config variable)"


def outer_config(cfg: Config, axes: list[tuple[str, list]]) -> str:
    """``cfg`` as JSON with every outer field replaced by :data:`OUTER_MARK`."""
    raw = json.loads(cfg.to_json())
    for name, _ in axes:
        raw[name] = OUTER_MARK
    return json.dumps(raw, sort_keys=True)


def join(
    cfg: Config,
    axes: list[tuple[str, list]],
    combos: list[tuple],
    parts: list[xr.Dataset],
) -> xr.Dataset:
    """Stack per-combination Datasets into one with a dimension per outer axis.

    Attributes true of one slice only (its config, σ's meaning) become variables along the
    outer dimensions; the others stay attributes.
    """
    names = [n for n, _ in axes]
    shape = [len(v) for _, v in axes]
    slices = []
    for combo, p in zip(combos, parts, strict=True):
        q = p.copy()
        q.attrs = {}
        q["sigma"].attrs = {}
        q["config"] = ((), p.attrs["config"])
        q["scale_param"] = ((), p.attrs["scale_param"])
        q = q.expand_dims({n: [coord_label(v)] for n, v in zip(names, combo, strict=True)})
        slices.append(q)
    nested: Any = np.empty(shape, dtype=object)
    for k, q in enumerate(slices):
        nested[np.unravel_index(k, shape)] = q
    stacked = xr.combine_nested(
        nested.tolist(), concat_dim=names, join="outer", combine_attrs="drop"
    )
    order = [*names, *[d for d in ("seed", "sigma", "lr", "epoch") if d in stacked.dims]]
    stacked = stacked.transpose(*order, *[d for d in stacked.dims if d not in order])
    for n, values in axes:
        stacked = stacked.reindex({n: [coord_label(v) for v in values]})
        stacked[n].attrs["long_name"] = f"Config.{n} (outer axis)"
    assert [stacked.sizes[n] for n in names] == shape
    stacked.attrs.update({k: v for k, v in parts[0].attrs.items() if k != "fingerprint"})
    user: dict[
        str, dict[str, Any]
    ] = {}  # where each slice's user code came from, merged (names do not collide)
    for p in parts:
        for field, source in json.loads(str(p.attrs.get("user_code", "{}"))).items():
            user.setdefault(field, {})[json.loads(p.attrs["config"])[field]] = source
    stacked.attrs.pop("user_code", None)
    if user:
        stacked.attrs["user_code"] = json.dumps(user, sort_keys=True)
    stacked.attrs["config"] = outer_config(cfg, axes)
    stacked.attrs["scale_param"] = (
        OUTER_MARK if "scheme" in names else parts[0].attrs["scale_param"]
    )
    stacked.attrs["outer_axes"] = json.dumps(names)
    stacked["sigma"].attrs.update(parts[0]["sigma"].attrs)
    if "scheme" in names:
        stacked["sigma"].attrs.update(
            long_name="init scale σ (its meaning per scheme: the scale_param variable)",
            scale_param=OUTER_MARK,
            meaning=OUTER_MARK,
        )
    return variables.describe(stacked)
