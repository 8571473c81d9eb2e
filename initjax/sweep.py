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

from initjax import aggregate, checkpoint, lock, plan, results, seal, shard, train
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
from initjax.outer import (  # re-exported: sweeps' outer axes, as users have met them here
    INNER,
    NOT_OUTER,
    OUTER_MARK,
    concat_lrs,
    concat_seeds,
    coord_label,
    join,
    outer_axes,
    outer_config,
)
from initjax.train import Config

__all__ = [
    "INNER",
    "NOT_OUTER",
    "OUTER_MARK",
    "Grid",
    "Position",
    "SweepState",
    "advance_grid",
    "attrs",
    "carry_finished",
    "compile_count",
    "concat_lrs",
    "concat_seeds",
    "coord_label",
    "epochs_done",
    "init_grid",
    "init_std",
    "join",
    "outer_axes",
    "outer_config",
    "run",
    "run_grid",
    "sigma_attrs",
    "start",
    "to_dataset",
]

PARTS = "parts"


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
            cfg, data, grid, out, every=checkpoint_every, overwrite=overwrite, progress=progress,
            devices=devices,
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
    epochs = [0] * total if folder is None else epochs_done(cfg, data, grid, axes, chunks, folder)
    if done := sum(e == cfg.epochs for e in epochs):  # outer axes never change the epochs
        checkpoint.log_stderr(
            f"{folder}: {done} of {total} programs finished earlier (read back, not trained); "
            f"{total - done} to train"
        )
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
                    devices=kw["devices"],
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


def _outer_fingerprint(
    cfg: Config,
    data: datasets.Dataset,
    grid: Grid,
    axes: list[tuple[str, list]],
    seed_chunks: list[list[int]] | None = None,
) -> dict[str, Any]:
    """The fingerprint of an outer (or chunked) sweep's folder: it covers every slice's config
    and the seed chunks (a chunk size is part of what the numbers are)."""
    fp = results.fingerprint(cfg, grid, data)
    fp["config"] = json.loads(outer_config(cfg, axes))
    fp["over"] = {n: [str(coord_label(v)) for v in values] for n, values in axes}
    if seed_chunks and any(len(c) > 1 for c in seed_chunks):
        fp["seed_chunks"] = seed_chunks
    text = json.dumps({k: v for k, v in fp.items() if k != "hash"}, sort_keys=True)
    fp["hash"] = hashlib.sha256(text.encode()).hexdigest()
    return fp


def epochs_done(
    cfg: Config,
    data: datasets.Dataset,
    grid: Grid,
    axes: list[tuple[str, list]],
    chunks: list[list[np.ndarray]],
    out: Path,
) -> list[int]:
    """Per program of the sweep (outer combinations × seed chunks, in run order): the epochs
    a run into ``out`` would not train again. Nothing is written.

    ``cfg.epochs`` for a program whose results it would read back (all of them when ``out``
    holds this sweep's joined results; else each part ``out/parts/<j>/`` sealed under its
    program's fingerprint); for one with epoch checkpoints of its fingerprint, the latest
    one's epoch (the run verifies it, and falls back to an earlier one if it is damaged);
    else 0. Raises :class:`~initjax.checkpoint.FingerprintMismatch` when ``out`` holds
    another sweep, as the run would.
    """
    n = sum(map(len, chunks))
    if not out.exists():
        return [0] * n
    single = not axes and len(chunks[0]) == 1
    sizes = [[int(c.size) for c in cs] for cs in chunks]
    fp = (
        results.fingerprint(cfg, grid, data)
        if single
        else _outer_fingerprint(cfg, data, grid, axes, sizes)
    )
    checkpoint.check_folder(out, fp)
    if (out / checkpoint.FINGERPRINT).exists() and (
        (out / checkpoint.RESULTS).exists() or seal.is_sealed(out)
    ):
        return [cfg.epochs] * n
    if single:
        return [_checkpointed(out, cfg.epochs)]
    done, j = [], 0
    names = [a for a, _ in axes]
    for combo, seed_chunks in zip(itertools.product(*(v for _, v in axes)), chunks, strict=True):
        sub = cfg.replace(**dict(zip(names, combo, strict=True)))
        for seeds_k in seed_chunks:
            part = out / PARTS / str(j)
            want = results.fingerprint(sub, grid.with_seeds(seeds_k), data)["hash"]
            try:
                have = json.loads((part / checkpoint.FINGERPRINT).read_text()).get("hash")
            except (OSError, ValueError):
                have = None
            if have != want:
                done.append(0)  # not begun (a part of another program is refused on the run)
            elif seal.is_sealed(part):
                done.append(sub.epochs)
            else:
                done.append(_checkpointed(part, sub.epochs))
            j += 1
    return done


def _checkpointed(folder: Path, epochs: int) -> int:
    """The epoch of ``folder``'s latest complete epoch checkpoint (its manifest written), or 0."""
    found = [
        int(d.name)
        for d in (folder / checkpoint.CHECKPOINTS).glob("*")
        if d.name.isdigit() and (d / checkpoint.MANIFEST).exists()
    ]
    return min(max(found, default=0), epochs)


def carry_finished(src: str | Path, dst: str | Path) -> int:
    """Copy the finished programs of the sweep folders under ``src`` into ``dst`` (same
    layout): each sealed part's ``fingerprint.json``, ``results.nc`` and seal, and the
    ``fingerprint.json`` of each sweep with parts; no CSV (rewritten from the verified netCDF
    on reuse) and no epoch checkpoints. A run into ``dst`` (after a copy back, on a fresh
    machine) reads them back and trains the rest. Returns the number of parts copied."""
    src, dst = Path(src), Path(dst)
    if dst.resolve().is_relative_to(src.resolve()):
        raise ValueError(f"carry_finished: {dst} lies inside {src}; carry to another folder")
    copied = 0
    for sealed in sorted(src.rglob(results.SEAL)):
        if checkpoint.CHECKPOINTS in sealed.relative_to(src).parts:
            continue
        to = dst / sealed.parent.relative_to(src)
        to.mkdir(parents=True, exist_ok=True)
        for name in (checkpoint.FINGERPRINT, checkpoint.RESULTS, results.SEAL):
            shutil.copy2(sealed.parent / name, to / name)
        copied += 1
    for parts in sorted(src.rglob(PARTS)):
        if parts.is_dir() and (parts.parent / checkpoint.FINGERPRINT).exists():
            to = dst / parts.parent.relative_to(src)
            to.mkdir(parents=True, exist_ok=True)
            shutil.copy2(parts.parent / checkpoint.FINGERPRINT, to / checkpoint.FINGERPRINT)
    return copied


def _outer_folder(
    cfg: Config,
    data: datasets.Dataset,
    grid: Grid,
    axes: list[tuple[str, list]],
    out: Path,
    overwrite: bool,
    seed_chunks: list[list[int]] | None = None,
) -> Path:
    """Claim ``out`` for this outer (or chunked) sweep (see :func:`_outer_fingerprint`)."""
    fp = _outer_fingerprint(cfg, data, grid, axes, seed_chunks)
    if overwrite:
        checkpoint.clear(out)
        shutil.rmtree(out / PARTS, ignore_errors=True)
    else:
        checkpoint.check_folder(out, fp)
    if (out / checkpoint.RESULTS).exists() or seal.is_sealed(out):
        checkpoint.finished(out, fp["hash"])  # verified; rebuilt from the CSV when damaged
        return out
    out.mkdir(parents=True, exist_ok=True)
    if not (out / checkpoint.FINGERPRINT).exists():
        results.write_json(out / checkpoint.FINGERPRINT, fp)
    return out
