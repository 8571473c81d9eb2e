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
written and :class:`Interrupted` raised. A second one exits the process at once with status
130 (SIGTERM: 143) after printing how to resume (:mod:`initjax.stop`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from initjax import data as datasets
from initjax import grid as engine
from initjax import lock, memory, results, seal, shard, space, stop
from initjax.grid import Grid, Position, SweepState
from initjax.train import Config, DataArrays

KEEP = 2
FINGERPRINT = "fingerprint.json"
CHECKPOINTS = "checkpoints"
CORRUPT = "corrupt"
RESULTS = "results.nc"
TABLE = "results.csv"
MANIFEST = "initjax-files.sha256.json"
_FORMAT = 1


class FingerprintMismatch(ValueError):
    """The output folder holds a different sweep; ``differences`` says what differs."""

    def __init__(self, out_dir: Path, differences: list[str]):
        self.differences = differences
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
        super().__init__(f"stopped after epoch {epochs_done} of {epochs}; checkpoint saved")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_folder(out_dir: Path, fp: dict[str, Any]) -> None:
    """Raise :class:`FingerprintMismatch` unless ``out_dir`` is empty of sweeps or holds ``fp``'s."""
    path = out_dir / FINGERPRINT
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise FingerprintMismatch(out_dir, [f"{path} is unreadable ({e})"]) from None
        if old.get("hash") != fp["hash"]:
            raise FingerprintMismatch(out_dir, results.differences(old, fp))
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


# ----------------------------------------------------------------------------- checkpoints


def _abstract_state(cfg: Config, grid: Grid, data: datasets.Dataset) -> tuple[Any, dict]:
    """Shapes of the per-cell state and epoch-0 metrics of ``grid`` (no computation)."""
    arrays = DataArrays._make(
        jax.ShapeDtypeStruct(a.shape, a.dtype)
        for a in (data.x_train, data.y_train, data.x_test, data.y_test)
    )
    m = grid.size
    cells = (
        jax.ShapeDtypeStruct((m,), np.int32),
        jax.ShapeDtypeStruct((m,), np.float32),
        jax.ShapeDtypeStruct((m,), np.float32),
    )
    return jax.eval_shape(lambda a, s, g, lr: engine.init_grid(cfg, a, s, g, lr), arrays, *cells)


class Checkpointer:
    """Saves and restores a sweep's :class:`SweepState` under ``directory`` with orbax."""

    def __init__(
        self,
        directory: Path,
        cfg: Config,
        grid: Grid,
        data: datasets.Dataset,
        fingerprint_hash: str,
        keep: int = KEEP,
        log: Callable[[str], None] = _log,
    ):
        self.directory = Path(directory).absolute()
        self.grid, self.hash, self.keep, self.log = grid, fingerprint_hash, keep, log
        state, first = _abstract_state(cfg, grid, data)
        self._paths, self._treedef = _paths_and_treedef(state)
        self._leaf_specs = jax.tree_util.tree_leaves(state)
        self._metric_specs = first
        self._writer: Any = None

    def _manager(self) -> Any:
        import orbax.checkpoint as ocp

        # Each process uses orbax as if it were alone: process 0 writes (the state is
        # gathered to host arrays first, so it holds every cell), every process reads.
        me = jax.process_index()
        alone = jax.process_count() == 1
        self.directory.mkdir(parents=True, exist_ok=True)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=self.keep,
            enable_async_checkpointing=False,
            create=alone,  # orbax refuses create=True with active_processes set
            cleanup_tmp_directories=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions()
            if alone
            else ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me}),
        )
        return ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

    # ---- save --------------------------------------------------------------------------

    def save(self, state: SweepState) -> None:
        """Write ``state`` (the real cells only, as host arrays) as checkpoint ``epochs_done``."""
        import orbax.checkpoint as ocp

        m = self.grid.size
        # A collective when several processes share the grid: every process must call save.
        leaves = [x[:m] for x in shard.to_host(jax.tree_util.tree_leaves(state.state))]
        metrics = {k: np.asarray(v)[:m] for k, v in state.metrics.items()}
        if jax.process_index() != 0:
            return
        meta = {
            "format": _FORMAT,
            "fingerprint": self.hash,
            "epochs_done": state.epochs_done,
            "cells": m,
            "leaves": [_spec(p, a) for p, a in zip(self._paths, leaves, strict=True)],
            "metrics": {k: _spec(k, a) for k, a in metrics.items()},
        }
        tree = {"leaves": {f"{i:04d}": a for i, a in enumerate(leaves)}, "metrics": metrics}
        needed = 2 * space.tree_bytes(*leaves, *metrics.values()) + (1 << 20)
        what = f"the checkpoint after epoch {state.epochs_done}"
        space.require(self.directory.parent, needed, what)
        if self._writer is None:
            self._writer = self._manager()
        try:
            saved = self._writer.save(
                state.epochs_done,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)
                ),
            )
        except Exception as e:
            raise space.translate(e, self.directory.parent, needed, what) from e
        if not saved:
            raise RuntimeError(
                f"orbax refused to save epoch {state.epochs_done} in {self.directory} "
                f"(existing steps: {self._writer.all_steps()})"
            )
        # Our own seal, written after orbax has finalized the step: the checksum of every
        # file. A step without it (killed in between) or with a changed file is not resumed.
        step_dir = self.directory / str(state.epochs_done)
        results.write_json(step_dir / MANIFEST, _file_digests(step_dir))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ---- restore -----------------------------------------------------------------------

    def restore(self, padded_cells: int) -> SweepState | None:
        """The newest valid checkpoint, padded to ``padded_cells``; None when there is none.

        Invalid checkpoints are reported and moved to ``../corrupt/``.
        """
        if not self.directory.exists():
            return None
        partial = sorted(p.name for p in self.directory.glob("*.orbax-checkpoint-tmp*"))
        if partial:
            self.log(f"ignoring partially written checkpoint(s): {', '.join(partial)}")
        manager = self._manager()
        try:
            steps = sorted(manager.all_steps(), reverse=True)
            for step in steps:
                try:
                    state = self._restore_step(manager, step)
                except Exception as e:
                    if jax.process_index() != 0:
                        continue  # process 0 reports and moves it
                    where = self._quarantine(step)
                    self.log(
                        f"checkpoint at epoch {step} is corrupt or incomplete ({_short(e)}); "
                        f"moved to {where}; trying the previous one"
                    )
                    continue
                return _pad(state, padded_cells)
        finally:
            manager.close()
        if steps:
            self.log("no valid checkpoint left: starting again from epoch 0")
        return None

    def _restore_step(self, manager: Any, step: int) -> SweepState:
        import orbax.checkpoint as ocp

        step_dir = self.directory / str(step)
        try:
            sealed = json.loads((step_dir / MANIFEST).read_text())
        except (OSError, ValueError):
            raise ValueError(f"no valid {MANIFEST}: the save did not finish") from None
        found = _file_digests(step_dir)
        if changed := sorted(
            k for k in sealed.keys() | found.keys() if sealed.get(k) != found.get(k)
        ):
            raise ValueError(f"file checksum mismatch: {', '.join(changed[:3])}")
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError("missing or unknown checkpoint metadata")
        if meta["fingerprint"] != self.hash:
            raise ValueError("it belongs to another sweep (fingerprint differs)")
        if meta["epochs_done"] != step or meta["cells"] != self.grid.size:
            raise ValueError(f"metadata says epoch {meta['epochs_done']}, {meta['cells']} cells")
        expected = [
            [p, list(s.shape), np.dtype(s.dtype).str]
            for p, s in zip(self._paths, self._leaf_specs, strict=True)
        ]
        if [[x["path"], x["shape"], x["dtype"]] for x in meta["leaves"]] != expected:
            raise ValueError("its arrays do not have this sweep's structure")
        if set(meta["metrics"]) != set(self._metric_specs):
            raise ValueError(f"metrics {sorted(meta['metrics'])} differ from the sweep's")
        zeros = lambda spec: np.zeros(tuple(spec["shape"]), spec["dtype"])  # noqa: E731
        target = {
            "leaves": {f"{i:04d}": zeros(x) for i, x in enumerate(meta["leaves"])},
            "metrics": {k: zeros(x) for k, x in meta["metrics"].items()},
        }
        tree = manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
        ).state
        leaves = [np.asarray(tree["leaves"][f"{i:04d}"]) for i in range(len(meta["leaves"]))]
        metrics = {k: np.asarray(v) for k, v in tree["metrics"].items()}
        for spec, a in zip(meta["leaves"], leaves, strict=True):
            _verify(spec, a)
        for k, a in metrics.items():
            _verify(meta["metrics"][k], a)
            if a.shape[1] != step + 1:
                raise ValueError(f"metric {k} has {a.shape[1]} epochs, expected {step + 1}")
        state = jax.tree_util.tree_unflatten(self._treedef, leaves)
        return SweepState(step, state, metrics)

    def _quarantine(self, step: int) -> Path:
        src = self.directory / str(step)
        dest = self.directory.parent / CORRUPT / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.exists():
            shutil.move(str(src), str(dest))
        return dest


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


def _file_digests(step_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under ``step_dir`` but the manifest, by relative path."""
    out = {}
    for path in sorted(step_dir.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            out[str(path.relative_to(step_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _paths_and_treedef(state: Any) -> tuple[list[str], Any]:
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(state)
    return [jax.tree_util.keystr(p) for p, _ in with_paths], treedef


def _spec(path: str, a: np.ndarray) -> dict[str, Any]:
    return {
        "path": path,
        "shape": list(a.shape),
        "dtype": np.dtype(a.dtype).str,
        "sha256": results.digest(a),
    }


def _verify(spec: dict[str, Any], a: np.ndarray) -> None:
    if list(a.shape) != spec["shape"] or np.dtype(a.dtype).str != spec["dtype"]:
        raise ValueError(
            f"{spec['path']}: read {a.dtype}{a.shape}, saved {spec['dtype']}{spec['shape']}"
        )
    if results.digest(a) != spec["sha256"]:
        raise ValueError(f"{spec['path']}: checksum mismatch")


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


def _pad(state: SweepState, size: int) -> SweepState:
    pad = lambda a: shard.pad_cells(np.asarray(a), size)  # noqa: E731
    return SweepState(
        state.epochs_done,
        jax.tree_util.tree_map(pad, state.state),
        {k: pad(v) for k, v in state.metrics.items()},
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
        with held, stop.StopOnSignal(kw.get("log", _log), kw.get("abort_message", "")):
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
    log: Callable[[str], None] = _log,
    position: Position = Position(),
    abort_message: str = "",
) -> Outcome:
    """``grid.run`` into ``out_dir``: checkpoint every ``every`` epochs, resume, save results.

    Holds ``out_dir``'s lock throughout (:class:`~initjax.lock.FolderLocked` when another
    process does). Raises :class:`FingerprintMismatch` (before writing anything) when
    ``out_dir`` holds another sweep and ``overwrite`` is False, :class:`Interrupted` after a
    Ctrl-C or SIGTERM (a second one ends the process, printing ``abort_message``),
    :class:`~initjax.results.DamagedResults` when its finished results are damaged beyond
    recovery and :class:`~initjax.space.DiskFull` when a write cannot fit.
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
    padded = shard.padded_size(grid.size, shard.grid_mesh())
    resume = ckpt.restore(padded)
    _agree_on_epoch(0 if resume is None else resume.epochs_done)
    if resume is not None:
        log(f"resuming from the checkpoint after epoch {resume.epochs_done} of {cfg.epochs}")
    with stop.StopOnSignal(log, abort_message) as stopper:

        def on_chunk(state: SweepState) -> None:
            # The last epoch too: if writing the results fails, the rerun only writes them.
            ckpt.save(state)
            if stopper.requested:
                raise Interrupted(state.epochs_done, cfg.epochs, stopper.requested)

        if stopper.requested:  # asked before training started
            raise Interrupted(
                0 if resume is None else resume.epochs_done, cfg.epochs, stopper.requested
            )
        try:
            ds = engine.run(
                cfg,
                data,
                grid.seeds.tolist(),
                grid.sigmas.tolist(),
                grid.lrs.tolist(),
                progress=progress,
                chunk_epochs=every,
                resume=resume,
                on_chunk=on_chunk,
                position=position,
            )
        finally:
            ckpt.close()
    ds.attrs["fingerprint"] = fp["hash"]
    if primary:
        ds = seal.write(results.with_blowups(ds), out, fp["hash"])
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    _barrier("initjax-results-written")
    return Outcome(ds, None if resume is None else resume.epochs_done, False)


def finished(out: Path, fingerprint: str, log: Callable[[str], None] = _log) -> xr.Dataset:
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
