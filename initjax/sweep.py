"""Sweeps: a (seed, σ, lr) grid as one compiled program, outer axes looped, saved if asked.

::

    res = ij.sweep.run(cfg, data, seeds=8, sigmas=[0.5, 1, 2], lrs=[0.1],
                       over={"scheme": ["he_normal", "lecun_normal", my_builder],
                             "hidden": [(64,), (256,)]},
                       out="runs/schemes")                  # optional: resumable, saved

**Inner axes** (seed, σ, lr) are arrays: :mod:`initjax.grid` trains every cell as one
program (``train``'s run vmapped; no recompile for a new grid of the same shape).
**Outer axes** are Config fields that change the program (scheme, model, hidden, activation,
batch_norm, optimizer, batch_size …): each combination of their values is its own compiled
program over the inner grid, and the slices are joined into **one** ``xarray.Dataset`` with a
dimension per outer axis, labelled coordinates and per-slice provenance (the ``config``
variable holds each slice's Config as JSON; ``attrs["config"]`` marks outer fields).
A slice is exactly the standalone sweep of its config (same program, bit for bit).

With ``out=DIR`` the sweep is resumable (:mod:`initjax.checkpoint`): without outer axes DIR
is one checkpointed sweep; with them, slice *i* lives in ``DIR/parts/<i>/`` until all are
done, then ``DIR/results.nc`` holds the joined Dataset and the parts are removed. A killed
sweep resumes at the right outer value and epoch.

Every result carries ``init_std`` (dims: outer axes, sigma, layer), the standard deviation
each layer's kernel is drawn with, so schemes whose σ means different things share an axis.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from initjax import aggregate, checkpoint, lock, plan, results, seal, shard, train, variables
from initjax import data as datasets
from initjax.grid import (  # re-exported: the engine's names, as users have met them here
    Grid,
    Position,
    SweepState,
    advance_grid,
    attrs,
    compile_count,
    init_grid,
    init_std,
    sigma_attrs,
    start,
    to_dataset,
)
from initjax.grid import run as run_grid
from initjax.train import Config

__all__ = [
    "INNER",
    "NOT_OUTER",
    "Grid",
    "Position",
    "SweepState",
    "advance_grid",
    "attrs",
    "compile_count",
    "init_grid",
    "init_std",
    "outer_axes",
    "run",
    "run_grid",
    "sigma_attrs",
    "start",
    "to_dataset",
]

INNER = {"sigma": "sigmas", "lr": "lrs"}
"""Config fields that are inner (array) axes, and the argument that varies them."""
NOT_OUTER = {
    "dataset": "a sweep trains on one dataset; run one sweep per dataset",
    "num_classes": "it follows the dataset",
    "normalize": "it changes the data, not the program; run one sweep per normalization",
    "epochs": "slices must share the epoch axis; slice results by epoch instead",
}
PARTS = "parts"


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


def _one_writer(fn: Any) -> Any:
    """Hold ``out``'s lock for an outer sweep (a single grid is locked by checkpoint.run)."""

    @functools.wraps(fn)
    def locked(*args: Any, **kw: Any) -> Any:
        if kw.get("out") is None or not kw.get("over") or jax.process_index() != 0:
            return fn(*args, **kw)
        with lock.hold(kw["out"]):
            return fn(*args, **kw)

    return locked


@_one_writer
def run(
    cfg: Config,
    data: datasets.Dataset,
    seeds: Iterable[int] | int,
    sigmas: Iterable[float] | None = None,
    lrs: Iterable[float] | None = None,
    *,
    over: Mapping[str, Sequence[Any]] | None = None,
    out: str | Path | None = None,
    checkpoint_every: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    devices: list[Any] | None = None,
    max_memory: int | None = None,
    **grid_kwargs: Any,
) -> xr.Dataset:
    """Train every (outer value, seed, σ, lr) cell and return one labelled Dataset.

    Args:
      cfg: the runs' configuration (``cfg.epochs`` epochs each); outer fields are replaced.
      data: the dataset (``cfg.dataset`` must name it).
      seeds: an int (``range(seeds)``) or the seeds themselves.
      sigmas: the scheme's scale values (default: ``[cfg.default_sigma()]``).
      lrs: learning rates (default: ``[cfg.lr]``).
      over: outer axes ``{field: [values]}`` (see the module docstring); their product is
        looped, one compiled program per combination.
      out: a folder to make the sweep resumable and saved (results.nc, results.csv).
      checkpoint_every: with ``out``: epochs between checkpoints.
      overwrite: with ``out``: discard a different sweep found there.
      progress: progress bar with outer position, ETA and model-steps/s.
      devices: devices to shard each grid over (default: those of
        :func:`initjax.shard.on_devices`, else all).
      max_memory: bytes a grid may use (default: :func:`initjax.memory.limit`); a grid that
        needs more runs as chunks of seeds that fit (:mod:`initjax.plan`), joined along seed.
      grid_kwargs: passed to :func:`initjax.grid.run` (``chunk_epochs``, ``resume``,
        ``on_chunk``) when there is neither ``over`` nor ``out``.

    Returns:
      ``xarray.Dataset`` with dims ``(*outer, seed, sigma, lr, epoch)`` (+ ``layer`` for
      per-layer values): metrics per epoch (epoch 0 is before training), ``diverged``,
      ``diverged_step`` and ``diverged_epoch`` per cell, ``init_std``, provenance in attrs;
      every variable has ``long_name``/``units``. Warns (DivergedWarning) once when runs
      diverged: aggregate with :func:`initjax.aggregate.over_seeds`, not ``.mean("seed")``.
    """
    train._check_data(cfg, data)
    devices = shard.default_devices() if devices is None else devices
    axes = outer_axes(cfg, over)
    grid = Grid.of(cfg, seeds, sigmas, lrs)
    if grid_kwargs and (axes or out is not None):
        raise ValueError(f"{sorted(grid_kwargs)} apply to a single in-memory grid only")
    names = [n for n, _ in axes]
    combos = list(itertools.product(*(v for _, v in axes)))
    subs = [cfg.replace(**dict(zip(names, c, strict=True))) for c in combos]
    chunks = [plan.seed_chunks(sub, grid, data, max_memory) for sub in subs]
    if not axes and len(chunks[0]) == 1:
        if out is None:
            return _warned(run_grid(
                cfg, data, *grid.values(), progress=progress, devices=devices, **grid_kwargs
            ))  # fmt: skip
        return _warned(checkpoint.run(
            cfg, data, grid, out, every=checkpoint_every, overwrite=overwrite, progress=progress
        ).result)  # fmt: skip
    if grid_kwargs:
        raise ValueError(f"{sorted(grid_kwargs)} apply to a grid that fits in memory only")
    held = lock.hold(out) if out is not None and not axes else contextlib.nullcontext()
    with held:
        return _warned(_run_parts(
            cfg, data, grid, axes, combos, subs, chunks, out, overwrite,
            checkpoint_every=checkpoint_every, progress=progress, devices=devices,
        ))  # fmt: skip


def _warned(ds: xr.Dataset) -> xr.Dataset:
    """``ds``, after a :class:`initjax.aggregate.DivergedWarning` if some runs diverged."""
    aggregate.warn_diverged(ds, stacklevel=4)  # warn_diverged, _warned, run, locked: the caller
    return ds


def _run_parts(
    cfg: Config,
    data: datasets.Dataset,
    grid: Grid,
    axes: list[tuple[str, list]],
    combos: list[tuple],
    subs: list[Config],
    chunks: list[list[np.ndarray]],
    out: str | Path | None,
    overwrite: bool,
    **kw: Any,
) -> xr.Dataset:
    """Each (outer combination, seed chunk) as its own program — in ``out/parts/<j>/`` when
    saving — then the chunks joined along ``seed`` and the combinations along the outer axes."""
    names = [n for n, _ in axes]
    sizes = [[int(c.size) for c in cs] for cs in chunks]
    folder = (
        None if out is None else _outer_folder(cfg, data, grid, axes, Path(out), overwrite, sizes)
    )
    if folder is not None and (folder / checkpoint.RESULTS).exists():
        return results.load(folder / checkpoint.RESULTS)
    total, j, parts = sum(map(len, chunks)), 0, []
    for combo, sub, seed_chunks in zip(combos, subs, chunks, strict=True):
        pieces = []
        for seeds_k in seed_chunks:
            label = " ".join(f"{n}={coord_label(v)}" for n, v in zip(names, combo, strict=True))
            if len(seed_chunks) > 1:
                label = f"{label} seeds {seeds_k[0]}..{seeds_k[-1]}".strip()
            where = Position(j, total, label)
            part = grid.with_seeds(seeds_k)
            if folder is None:
                ds = run_grid(
                    sub, data, *part.values(),
                    progress=kw["progress"], devices=kw["devices"], position=where,
                )  # fmt: skip
            else:
                ds = checkpoint.run(
                    sub, data, part, folder / PARTS / str(j),
                    every=kw["checkpoint_every"], progress=kw["progress"], position=where,
                ).result  # fmt: skip
            pieces.append(ds)
            j += 1
        parts.append(concat_seeds(pieces))
    joined = join(cfg, axes, combos, parts) if axes else parts[0]
    if folder is not None:
        fingerprint = json.loads((folder / checkpoint.FINGERPRINT).read_text())["hash"]
        joined.attrs["fingerprint"] = fingerprint
        joined = seal.write(results.with_blowups(joined), folder, fingerprint)
        shutil.rmtree(folder / PARTS, ignore_errors=True)
    return joined


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


def _outer_folder(
    cfg: Config,
    data: datasets.Dataset,
    grid: Grid,
    axes: list[tuple[str, list]],
    out: Path,
    overwrite: bool,
    seed_chunks: list[list[int]] | None = None,
) -> Path:
    """Claim ``out`` for this outer (or chunked) sweep: its fingerprint covers every slice's
    config and the seed chunks (a chunk size is part of what the numbers are)."""
    fp = results.fingerprint(cfg, grid, data)
    fp["config"] = json.loads(outer_config(cfg, axes))
    fp["over"] = {n: [str(coord_label(v)) for v in values] for n, values in axes}
    if seed_chunks and any(len(c) > 1 for c in seed_chunks):
        fp["seed_chunks"] = seed_chunks
    text = json.dumps({k: v for k, v in fp.items() if k != "hash"}, sort_keys=True)
    fp["hash"] = hashlib.sha256(text.encode()).hexdigest()
    if overwrite:
        checkpoint.clear(out)
        shutil.rmtree(out / PARTS, ignore_errors=True)
    else:
        try:
            checkpoint.check_folder(out, fp)
        except checkpoint.FingerprintMismatch as e:
            if not all(d.startswith("seed_chunks") for d in e.differences):
                raise
            old = json.loads((out / checkpoint.FINGERPRINT).read_text()).get("seed_chunks")
            change = plan.chunking_change(old, seed_chunks)
            raise checkpoint.FingerprintMismatch(out, [change]) from None
    if (out / checkpoint.RESULTS).exists() or seal.is_sealed(out):
        checkpoint.finished(out, fp["hash"])  # verified; rebuilt from the CSV when damaged
        return out
    out.mkdir(parents=True, exist_ok=True)
    if not (out / checkpoint.FINGERPRINT).exists():
        results.write_json(out / checkpoint.FINGERPRINT, fp)
    return out


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
