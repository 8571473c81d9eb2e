"""A sweep's checkpoints: orbax saves of its SweepState, sealed, validated on restore.

:class:`Checkpointer` writes the state of every cell and the metrics so far under
``checkpoints/<epoch>/`` (the newest ``KEEP``), seals each checkpoint with the SHA-256 of its
files (``MANIFEST``) and of every array, and on restore checks all of it, moving a checkpoint
that fails to ``corrupt/`` and trying the previous one. :mod:`initjax.checkpoint` drives it
(the folder, the fingerprint, resuming) and re-exports it.
"""

from __future__ import annotations

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

from initjax import data as datasets
from initjax import grid as engine
from initjax import results, shard, space
from initjax.grid import Grid, SweepState
from initjax.train import Config, DataArrays

__all__ = ["CORRUPT", "KEEP", "MANIFEST", "Checkpointer", "log_stderr"]

KEEP = 2
CORRUPT = "corrupt"
MANIFEST = "initjax-files.sha256.json"
_FORMAT = 1


def log_stderr(msg: str) -> None:
    """The default log of checkpointed sweeps: one line on stderr, flushed."""
    print(msg, file=sys.stderr, flush=True)


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
        log: Callable[[str], None] = log_stderr,
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
        # orbax refuses zero-size arrays (e.g. per-layer metrics of a net without hidden
        # layers): they are left out and rebuilt from their spec in ``meta`` on restore.
        tree = {
            "leaves": {f"{i:04d}": a for i, a in enumerate(leaves) if a.size},
            "metrics": {k: a for k, a in metrics.items() if a.size},
        }
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
        empty = lambda spec: 0 in spec["shape"]  # noqa: E731  # not saved: see save()
        target = {
            "leaves": {f"{i:04d}": zeros(x) for i, x in enumerate(meta["leaves"]) if not empty(x)},
            "metrics": {k: zeros(x) for k, x in meta["metrics"].items() if not empty(x)},
        }
        tree = manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
        ).state
        leaves = [
            zeros(x) if empty(x) else np.asarray(tree["leaves"][f"{i:04d}"])
            for i, x in enumerate(meta["leaves"])
        ]
        metrics = {
            k: zeros(x) if empty(x) else np.asarray(tree["metrics"][k])
            for k, x in meta["metrics"].items()
        }
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
