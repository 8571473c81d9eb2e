"""Throughput benchmark helpers beyond the variant table: evaluation's share of an epoch, and
time and memory of large grids (issue 18). Used by ``throughput.py`` beside it."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

import _bench as B
import jax
import jax.numpy as jnp
import numpy as np

from initjax import data as datasets
from initjax import sweep
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
                        "ms": [m], "steps": steps, "repeats": 1}  # fmt: skip
                answer = B.launch_worker(spec, timeout=3600)
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
