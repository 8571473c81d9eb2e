"""The benchmark's worker process (beside ``_bench.py``): the vmapped grid timed over all the
devices of a fresh process (N virtual CPU devices must be set before JAX starts), and the peak
memory of one grid in a process of its own. Run as a script, it reads a JSON spec in argv[1]
and prints its JSON answer."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import jax
from _bench import initial_states, initjax, max_rss_bytes, place, timed, workload

import initjax as initjax_pkg
from initjax import data as datasets
from initjax import shard


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Time the vmapped grid (``initjax``) in this process over all of its devices.

    ``spec``: ``cpu_devices`` (split the CPU into that many devices first, or None),
    ``workloads``, ``ms``, ``steps`` (None: a full epoch), ``repeats`` (after one warm-up).
    Returns per (workload, M): compile seconds, first-call and repeat seconds, mean losses of
    the first call, and this process's peak RSS at the end.
    """
    if spec.get("cpu_devices"):
        shard.set_cpu_devices(int(spec["cpu_devices"]))
    data = datasets.load("fashion_mnist")
    mesh = shard.grid_mesh()
    rows = []
    for name in spec["workloads"]:
        w = workload(name, data, spec["steps"], jax.devices()[0], spec.get("compile_repeats", 3))
        arrays = shard.place_replicated(w.arrays, mesh)
        states = initial_states(w, max(spec["ms"]))
        for m in spec["ms"]:
            state = place(states, m, mesh)
            bench = initjax(w, state, m, arrays)
            bench.reset()
            first_s, read = timed(bench.run)
            times = []
            for _ in range(spec["repeats"]):
                bench.reset()
                times.append(timed(bench.run)[0])
            cells, loss = shard.padded_size(m, mesh), read().mean_loss.tolist()
            rows.append(dict(workload=name, M=m, cells=cells, compile_s=bench.compile_s,
                             first_call_s=first_s, times_s=times, mean_loss=loss))  # fmt: skip
            del state, bench
    rss_mb = max_rss_bytes() / 2**20
    return {"devices": jax.device_count(), "rows": rows, "rss_mb": rss_mb}


def launch_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run :func:`worker` in a fresh Python process; its JSON answer or ``{"error": ...}``."""
    import subprocess

    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "force_host_platform_device" not in f]
    env["XLA_FLAGS"] = " ".join(flags)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # the worker times cold compiles
    # the initjax this process runs, also where it is found only from the working directory
    here = str(Path(initjax_pkg.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    if spec.get("cpu_devices"):
        env["JAX_PLATFORMS"] = "cpu"
    else:  # on an accelerator this process already holds most of its memory
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    cmd = [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_peak(memory_m: int | None, steps: int | None) -> dict[str, Any]:
    """Peak RSS of a process that trains a softmax grid of ``memory_m`` runs for one epoch
    (``steps`` steps; None: all)."""
    if memory_m is None:
        return {"M": None, "status": "not run", "note": "full scale only"}
    spec = {
        "workloads": ["softmax"],
        "ms": [memory_m],
        "steps": steps,
        "repeats": 0,
        "compile_repeats": 1,
    }
    answer = launch_worker(spec, timeout=3600)
    if "error" in answer:
        return {"M": memory_m, "status": "not run", "note": answer["error"][-300:]}
    return {"M": memory_m, "status": "measured", "rss_peak_mb": answer["rss_mb"],
            "first_call_s": answer["rows"][0]["first_call_s"],
            "note": "softmax, one device, its own process: data, init, compile, one epoch"}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[1]))))
