"""Resumable sweeps: ``grid.run`` into a folder, with orbax checkpoints of its SweepState.

In the results layer (DESIGN) but its own module, as it drives :mod:`initjax.sweep`::

    out_dir/
      fingerprint.json      what this sweep is (results.fingerprint): config, grid, dataset
      checkpoints/<epoch>/  orbax checkpoints, the newest KEEP; removed once results.nc exists
      corrupt/<epoch>-<t>/  checkpoints that failed validation, moved aside for inspection
      results.nc            the finished sweep (results.save); its presence means "done"
      results.csv           the same as a long table (results.export)
      results.seal.json     checksums of both and of every variable (initjax.seal)
      .initjax.lock         held by the one process writing here (initjax.lock)

**Resume.** Every ``every`` epochs the state of all cells (parameters, optimizer state, batch
statistics, raw data keys, epoch counters, ``diverged_step``) and the metrics so far are saved.
Run again, :func:`run` restores the newest *valid* checkpoint and continues; epoch ``e`` draws
its batches from ``fold_in(key, e)`` and chunks stay aligned to multiples of ``every``, so the
result is bit-identical to an uninterrupted run. A finished folder is loaded, not retrained.

**Validation.** orbax lists only checkpoints renamed into place after a complete write. Ours
are then sealed with the SHA-256 of every file (``MANIFEST``), and their metadata holds the
fingerprint hash, the epoch and each array's path, shape, dtype and SHA-256, checked after
reading. A checkpoint failing any check is reported and moved to ``corrupt/``, and the
previous one is tried; with none left the sweep starts again. Wrong numbers are never resumed.

**Finished results** are sealed (:mod:`initjax.seal`) and checked whenever they are reused;
a damaged ``results.nc`` or ``results.csv`` is rebuilt from the other, bit for bit, or the
sweep is refused naming what is damaged. The last epoch is checkpointed before the results
are written, so a failed write (a full disk) never throws the trained state away.

**One writer.** :func:`run` holds the folder's lock (:mod:`initjax.lock`; process 0 of a
multi-process sweep) from start to end; a second sweep into the folder raises
:class:`~initjax.lock.FolderLocked` naming the holder's PID. Leftovers of a dead run
(temporary files, checkpoints beside complete results) are removed by the next one.

**Fingerprint.** A folder holds one sweep: another config, grid or dataset raises
:class:`FingerprintMismatch` naming what differs, unless ``overwrite=True``.

**Ctrl-C, SIGTERM.** The first asks for a stop at the next chunk boundary: the checkpoint is
written and :class:`Interrupted` raised (during the last chunk: after the results are
written and sealed, so a sweep of several programs keeps this one whole). A second one
exits the process at once with status 130 (SIGTERM: 143) after printing how to resume
(:mod:`initjax.stop`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from initjax import data as datasets
from initjax import grid as engine
from initjax import lock, memory, plan, results, seal, shard, stop
from initjax.checkpointer import CORRUPT, KEEP, MANIFEST, Checkpointer, log_stderr
from initjax.grid import Grid, Position, SweepState
from initjax.train import Config

FINGERPRINT = "fingerprint.json"
CHECKPOINTS = "checkpoints"
RESULTS = "results.nc"
TABLE = "results.csv"

__all__ = [
    "CHECKPOINTS",
    "CORRUPT",
    "FINGERPRINT",
    "KEEP",
    "MANIFEST",
    "RESULTS",
    "TABLE",
    "Checkpointer",
    "FingerprintMismatch",
    "Interrupted",
    "Outcome",
    "check_folder",
    "clear",
    "finished",
    "remove_leftovers",
    "run",
]


class FingerprintMismatch(ValueError):
    """The output folder holds a different sweep; ``differences`` says what differs."""

    def __init__(self, out_dir: Path, differences: list[str]):
        self.out_dir, self.differences = Path(out_dir), differences
        super().__init__(
            f"{out_dir} holds a different sweep (fingerprint mismatch): "
            + "; ".join(differences)
            + ". Use another --out folder, or --overwrite to discard it."
        )


class Interrupted(Exception):
    """A sweep stopped at a chunk boundary on request; its checkpoint is saved.

    ``signum`` is the signal that asked (SIGINT or SIGTERM); ``exit_code`` is 128 + it.
    """

    def __init__(self, epochs_done: int, epochs: int, signum: int = 2):
        self.epochs_done, self.epochs, self.signum = epochs_done, epochs, signum
        self.exit_code = stop.exit_code(signum)
        if epochs_done == epochs:  # asked during the last chunk: the results are written
            super().__init__(f"stopped after the last epoch ({epochs}); results saved")
        else:
            super().__init__(f"stopped after epoch {epochs_done} of {epochs}; checkpoint saved")


def check_folder(out_dir: Path, fp: dict[str, Any]) -> None:
    """Raise :class:`FingerprintMismatch` unless ``out_dir`` is empty of sweeps or holds ``fp``'s."""
    path = out_dir / FINGERPRINT
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise FingerprintMismatch(out_dir, [f"{path} is unreadable ({e})"]) from None
        if old.get("hash") != fp["hash"]:
            differences = results.differences(old, fp)
            if differences and all(d.startswith("seed_chunks") for d in differences):
                # the same sweep, chunked otherwise (--seeds-per-program): say how to resume
                differences = [plan.chunking_change(old.get("seed_chunks"), fp.get("seed_chunks"))]
            raise FingerprintMismatch(out_dir, differences)
    elif (out_dir / RESULTS).exists() or (out_dir / CHECKPOINTS).exists():
        raise FingerprintMismatch(
            out_dir, [f"it has {RESULTS} or {CHECKPOINTS}/ but no {FINGERPRINT}"]
        )


def clear(out_dir: Path) -> None:
    """Remove what :func:`run` writes in ``out_dir`` (and nothing else)."""
    for name in (CHECKPOINTS, CORRUPT):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    for name in (RESULTS, TABLE, FINGERPRINT, results.SEAL):
        (out_dir / name).unlink(missing_ok=True)
    remove_leftovers(out_dir)


def remove_leftovers(out_dir: Path) -> list[str]:
    """Delete temporary files an interrupted atomic write left in ``out_dir``; their names."""
    gone = []
    for name in (RESULTS, TABLE, FINGERPRINT, results.SEAL):
        for tmp in out_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
            gone.append(tmp.name)
    return gone


def _barrier(name: str) -> None:
    """Wait for every process (no-op in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _agree_on_epoch(epochs_done: int) -> None:
    """Every process must resume from the same checkpoint, or results would mix epochs."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    primary = int(multihost_utils.broadcast_one_to_all(np.int32(epochs_done)))
    if primary != epochs_done:
        raise RuntimeError(
            f"process {jax.process_index()} found a checkpoint after epoch {epochs_done} but "
            f"process 0 found epoch {primary}: is --out a folder every process sees?"
        )


# ----------------------------------------------------------------------------- the driver


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What :func:`run` did: the result, and whether it resumed or found the sweep done."""

    result: xr.Dataset
    resumed_from: int | None
    """Epochs restored from a checkpoint (None: started at epoch 0 or already complete)."""
    already_complete: bool


def _one_writer(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Run ``fn`` holding ``out_dir``'s lock (process 0 only: the others never write) with
    Ctrl-C/SIGTERM handled (:mod:`initjax.stop`)."""

    @functools.wraps(fn)
    def locked(cfg: Config, data: Any, grid: Grid, out_dir: str | Path, **kw: Any) -> Outcome:
        held = lock.hold(out_dir) if jax.process_index() == 0 else contextlib.nullcontext()
        # Signals are handled from the start (not only while training): a Ctrl-C during the
        # restore is a stop request too, and a second one never unwinds into XLA.
        with held, stop.StopOnSignal(kw.get("log", log_stderr), kw.get("abort_message", "")):
            return fn(cfg, data, grid, out_dir, **kw)

    return locked


@_one_writer
def run(
    cfg: Config,
    data: datasets.Dataset,
    grid: Grid,
    out_dir: str | Path,
    *,
    every: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    keep: int = KEEP,
    log: Callable[[str], None] = log_stderr,
    position: Position = Position(),
    abort_message: str = "",
    devices: list[Any] | None = None,
) -> Outcome:
    """``grid.run`` into ``out_dir``: checkpoint every ``every`` epochs, resume, save results.

    Holds ``out_dir``'s lock throughout (:class:`~initjax.lock.FolderLocked` when another
    process does). Raises :class:`FingerprintMismatch` (before writing anything) when
    ``out_dir`` holds another sweep and ``overwrite`` is False, :class:`Interrupted` after a
    Ctrl-C or SIGTERM (a second one ends the process, printing ``abort_message``),
    :class:`~initjax.results.DamagedResults` when its finished results are damaged beyond
    recovery and :class:`~initjax.space.DiskFull` when a write cannot fit. ``devices``: as
    :func:`initjax.grid.run`'s (default: those of :func:`initjax.shard.on_devices`, else all).
    """
    if every < 1:
        raise ValueError(f"checkpoint interval must be >= 1 epoch, got {every}")
    out = Path(out_dir)
    fp = results.fingerprint(cfg, grid, data)
    # Several processes (jax.distributed): process 0 alone writes to ``out_dir``, which must
    # be a folder every process sees; the others read the same checkpoints.
    primary = jax.process_index() == 0
    if overwrite or not (out / RESULTS).exists():
        memory.check(cfg, grid, data)  # before the first write: refuse what cannot fit
    if overwrite:
        if primary:
            clear(out)
        _barrier("initjax-cleared")
    else:
        check_folder(out, fp)
    if primary and (gone := remove_leftovers(out)):
        log(f"removed temporary files a stopped run left: {', '.join(gone)}")
    if (out / RESULTS).exists() or seal.is_sealed(out):
        ds = finished(out, fp["hash"], log) if primary else results.load(out / RESULTS)
        if primary and (out / CHECKPOINTS).exists():
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
            log(f"removed {out / CHECKPOINTS}: the results are complete")
        return Outcome(ds, None, True)
    if primary:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / FINGERPRINT).exists():
            results.write_json(out / FINGERPRINT, fp)
    ckpt = Checkpointer(out / CHECKPOINTS, cfg, grid, data, fp["hash"], keep=keep, log=log)
    devices = shard.default_devices() if devices is None else devices
    padded = shard.padded_size(grid.size, shard.grid_mesh(shard.grid_devices(cfg.record, devices)))
    resume = ckpt.restore(padded)
    _agree_on_epoch(0 if resume is None else resume.epochs_done)
    if resume is not None:
        log(f"resuming from the checkpoint after epoch {resume.epochs_done} of {cfg.epochs}")
    with stop.StopOnSignal(log, abort_message) as stopper:

        def on_chunk(state: SweepState) -> None:
            # The last epoch too: if writing the results fails, the rerun only writes them.
            ckpt.save(state)
            if stopper.requested and state.epochs_done < cfg.epochs:
                raise Interrupted(state.epochs_done, cfg.epochs, stopper.requested)

        if stopper.requested:  # asked before training started
            raise Interrupted(
                0 if resume is None else resume.epochs_done, cfg.epochs, stopper.requested
            )
        try:
            ds = engine.run(
                cfg,
                data,
                *grid.values(),
                progress=progress,
                chunk_epochs=every,
                resume=resume,
                on_chunk=on_chunk,
                position=position,
                devices=devices,
            )
        finally:
            ckpt.close()
        asked = stopper.requested  # during the last chunk: the results are written first
    ds.attrs["fingerprint"] = fp["hash"]
    if primary:
        ds = seal.write(results.with_blowups(ds), out, fp["hash"])
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    _barrier("initjax-results-written")
    if asked:  # a sweep of several programs stops here, this one sealed
        raise Interrupted(cfg.epochs, cfg.epochs, asked)
    return Outcome(ds, None if resume is None else resume.epochs_done, False)


def finished(out: Path, fingerprint: str, log: Callable[[str], None] = log_stderr) -> xr.Dataset:
    """The complete results in ``out``, verified (rebuilt when damaged; sealed when older)."""
    if seal.is_sealed(out):
        return seal.reuse(out, fingerprint, log)
    ds = results.load(out / RESULTS)  # written before results were sealed
    if ds.attrs.get("fingerprint") != fingerprint:
        raise FingerprintMismatch(out, [f"{RESULTS} is not this sweep's (fingerprint attr)"])
    results.export(ds, out / TABLE)
    seal.write(ds, out, fingerprint)
    log(f"{out / RESULTS} had no content seal (an older initjax wrote it); sealed it now")
    return ds
