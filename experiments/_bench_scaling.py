"""Throughput benchmark measurements beside the variant table: the machine's GEMM peak, the
softmax grid's GEMM-only ceiling, the sampled RSS of the main process, evaluation's share of an
epoch, and time and memory of large grids (issue 18). Used by ``throughput.py`` beside it."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import statistics
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench as B
import _bench_torch as BT
import _bench_worker as W
import jax
import jax.numpy as jnp
import numpy as np
from _bench import BATCH, LR, Workload, flops_per_step, max_rss_bytes, timed

from initjax import data as datasets
from initjax import results, sweep
from initjax.train import DataArrays


def evaluation_share(data: datasets.Dataset, m: int, repeats: int) -> dict[str, Any]:
    """Seconds of one whole softmax-grid epoch (M cells) without and with the per-epoch
    evaluation (every train and test example, forward only), and evaluation's share of it.

    Also the share with ``eval_examples=2000`` (a fixed subset): what ``eval_every`` /
    ``eval_examples`` save. Median of ``repeats`` after a warm-up each.
    """
    arrays = DataArrays(*jax.device_put(DataArrays.from_dataset(data)))
    cells = (
        jnp.arange(m, dtype=jnp.int32),
        jnp.full(m, B.SIGMA, jnp.float32),
        jnp.full(m, B.LR, jnp.float32),
    )
    base = B.WORKLOADS["softmax"]
    variants = {
        "train_only": dataclasses.replace(base, evaluate=False),
        "full_evaluation": dataclasses.replace(base, evaluate=True),
        "eval_2000_examples": dataclasses.replace(base, evaluate=True, eval_examples=2000),
    }
    seconds = {}
    for name, cfg in variants.items():
        state = sweep.init_grid(cfg, arrays, *cells)[0]

        def once(cfg=cfg, state=state) -> None:
            copy = jax.tree_util.tree_map(lambda a: a.copy(), state)
            jax.block_until_ready(sweep.advance_grid(cfg, arrays, copy, 1))

        once()  # compile and warm up
        seconds[name] = statistics.median(B.timed(once)[0] for _ in range(repeats))
    full, train = seconds["full_evaluation"], seconds["train_only"]
    return {
        "M": m,
        "seconds": seconds,
        "share_full": max(0.0, 1 - train / full),
        "share_2000": max(0.0, 1 - train / seconds["eval_2000_examples"]),
        "examples_evaluated": data.num_train + data.num_test,
    }


def scaling(ms: dict[str, tuple[int, ...]], steps: int, devices: tuple[int, ...]) -> list[dict]:
    """Seconds per epoch and peak memory of the initjax grid at large M, one process per
    (workload, M, devices) so that each peak RSS is that grid's alone.

    ``steps`` batches are timed (one repeat after the compiling first call) and scaled to an
    epoch. Rows: workload, M, devices, s_per_epoch, rss_peak_mb (None where the worker failed).
    """
    rows = []
    for workload, values in ms.items():
        for n in devices:
            for m in values:
                spec = {"cpu_devices": n if n > 1 else None, "workloads": [workload],
                        "ms": [m], "steps": steps, "repeats": 1,
                        "compile_repeats": 1}  # fmt: skip
                answer = W.launch_worker(spec, timeout=3600)
                row = {"workload": workload, "M": m, "devices": n, "steps": steps}
                if "error" in answer:
                    rows.append(row | {"s_per_epoch": None, "rss_peak_mb": None,
                                       "note": answer["error"][-300:]})  # fmt: skip
                    continue
                got = answer["rows"][0]
                per_step = float(np.median(got["times_s"])) / steps
                rows.append(row | {"s_per_epoch": per_step * (60_000 // B.BATCH),
                                   "rss_peak_mb": answer["rss_mb"], "cells": got["cells"],
                                   "note": ""})  # fmt: skip
    return rows


class RssMonitor:
    """Peak resident memory of this process since ``reset()``, sampled every 10 ms.

    Uses psutil (the ``[bench]`` extra) when present; otherwise falls back to the process's
    high-water mark (:func:`max_rss_bytes`), which never goes down and so is only an upper bound.
    """

    def __init__(self, interval: float = 0.01) -> None:
        try:
            import psutil

            self._read: Callable[[], int] = psutil.Process().memory_info
            self.source = "psutil (sampled every 10 ms)"
        except ImportError:
            self._read = None  # type: ignore[assignment]
            self.source = "process high-water mark (VmHWM)"
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        if self._read is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _rss(self) -> int:
        if self._read is None:
            return max_rss_bytes()
        return int(self._read().rss)  # type: ignore[attr-defined]

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self._rss())

    def reset(self) -> None:
        self._peak = self._rss()

    @property
    def peak_mb(self) -> float:
        return max(self._peak, self._rss()) / 2**20

    def close(self) -> None:
        self._stop.set()


def gemm_peak(n: int = 2048, repeats: int = 5) -> dict[str, Any]:
    """fp32 GEMM rate of ``jnp`` (jitted, on JAX's default device) and of numpy (host BLAS).

    GFLOP/s = 2·n³ / median seconds over ``repeats`` after a warm-up. On CPU the peak is the
    higher of the two; on an accelerator it is jnp's (numpy measures the host).
    """
    rng = np.random.default_rng(0)
    a_np, b_np = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    a, b = jnp.asarray(a_np), jnp.asarray(b_np)
    matmul = jax.jit(jnp.matmul)
    runs = {
        "jnp": lambda: matmul(a, b).block_until_ready(),
        "numpy": lambda: np.matmul(a_np, b_np),
    }
    gflops = {}
    for name, fn in runs.items():
        fn()
        seconds = [timed(fn)[0] for _ in range(repeats)]
        gflops[name] = 2 * n**3 / statistics.median(seconds) / 1e9
    on_cpu = jax.default_backend() == "cpu"
    source = max(gflops, key=gflops.__getitem__) if on_cpu else "jnp"
    return {"n": n, "repeats": repeats, "gflops": gflops[source], "source": source} | {
        f"{k}_gflops": v for k, v in gflops.items()
    }


def gemm_ceiling(w: Workload, m: int, repeats: int) -> dict[str, Any]:
    """The rate of an epoch of softmax regression's GEMMs alone, at M models, as one program.

    A ``lax.scan`` over the epoch's batches of ``z = x·W``, ``W -= lr·xᵀ(z − t)/B`` with the M
    models' weights side by side as one (D, M·K) matrix: the 4·B·P·M FLOPs of the workload
    in their best layout, without softmax, bias, gathers of the labels or per-cell
    bookkeeping. What the grid step could reach at these shapes; median seconds of
    ``repeats`` after a warm-up, GFLOP/s counted like the rows.
    """
    k = w.cfg.num_classes
    x_NxBxD = w.arrays.x_train[w.order_NxB]
    y_NxB = w.arrays.y_train[w.order_NxB]
    w_DxMK = jnp.zeros((x_NxBxD.shape[-1], m * k), jnp.float32)

    @jax.jit
    def epoch(w_DxMK: jax.Array) -> jax.Array:
        def body(w_: jax.Array, xy: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
            x_BxD, y_B = xy
            t_BxMK = jnp.tile(jax.nn.one_hot(y_B, k, dtype=jnp.float32), (1, m))
            z_BxMK = x_BxD @ w_
            return w_ - (LR / BATCH) * (x_BxD.T @ (z_BxMK - t_BxMK)), None

        return jax.lax.scan(body, w_DxMK, (x_NxBxD, y_NxB))[0]

    epoch(w_DxMK).block_until_ready()
    seconds = statistics.median(
        timed(lambda: epoch(w_DxMK).block_until_ready())[0] for _ in range(repeats)
    )
    gflops = m * w.steps * flops_per_step(w.cfg) / seconds / 1e9
    return {"M": m, "seconds": seconds, "gflops": gflops}


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """The device this ran on and what else shaped the numbers (load, versions, threads)."""
    dev = jax.devices()[0]
    torch = BT.torch_module()
    cpu_model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": dev.platform,
        "device_kind": dev.device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "loadavg_start": list(os.getloadavg()),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "torch_device": None if torch is None else BT.torch_device(torch),
        "matmul_precision": str(getattr(jax.config, "jax_default_matmul_precision", None)),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        # a persistent compilation cache turns the main process's repeated compiles into reads
        "compilation_cache": jax.config.jax_compilation_cache_dir,
        "python": sys.version.split()[0],
        "git_commit": results.git_commit(),
    }
