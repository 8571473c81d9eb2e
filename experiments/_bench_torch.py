"""The throughput benchmark's PyTorch variants (``torch-loop``, ``torch-vmap``), beside
``_bench.py``: the same workloads, initial weights and batch order as the JAX variants.

torch is optional (the ``bench`` extra); without it these variants report "not run".
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax
import numpy as np
from _bench import INPUT_DIM, LR, Bench, Outcome, Workload, timed

from initjax.train import Config, TrainState


def torch_module() -> ModuleType | None:
    """torch when the ``[bench]`` extra is installed, else None (tests patch this)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_device(torch: ModuleType) -> str:
    on_gpu = jax.default_backend() == "gpu"
    return "cuda" if on_gpu and torch.cuda.is_available() else "cpu"


def tune_torch_threads(w: Workload) -> dict[str, Any] | None:
    """Give torch its best CPU thread count for this workload: 1 or all cores, whichever
    trains faster (median of 3 × 10 steps). OpenMP's spinning threads can be many times
    slower than one thread when the cores are shared, so the baseline is not left to chance.
    Sets ``torch.set_num_threads`` for the rest of the process; returns what it measured.
    """
    torch = torch_module()
    if torch is None or torch_device(torch) != "cpu":
        return None
    x = torch.from_numpy(np.array(w.arrays.x_train[: w.cfg.batch_size]))
    y = torch.from_numpy(np.asarray(w.arrays.y_train[: w.cfg.batch_size]).astype(np.int64))
    net, loss_fn = _net(torch, w.cfg), torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=LR)

    def steps() -> None:
        for _ in range(10):
            loss = loss_fn(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    ms_per_step = {}
    for n in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(n)
        steps()
        ms_per_step[n] = 100 * statistics.median(timed(steps)[0] for _ in range(3))
    best = min(ms_per_step, key=ms_per_step.__getitem__)
    torch.set_num_threads(best)
    return {"threads": best, "ms_per_step": {str(k): v for k, v in ms_per_step.items()}}


def _torch_inputs(torch: ModuleType, w: Workload, state: TrainState, m: int) -> Any:
    dev = torch_device(torch)
    x = np.asarray(w.arrays.x_train)[w.order_NxB]
    y = np.asarray(w.arrays.y_train)[w.order_NxB].astype(np.int64)
    batches = [
        (torch.from_numpy(x[i]).to(dev), torch.from_numpy(y[i]).to(dev)) for i in range(w.steps)
    ]
    layers = ["hidden_0", "output"] if w.cfg.model == "mlp" else ["output"]
    params = jax.tree_util.tree_map(np.asarray, state.params)
    # nn.Linear keeps weight as (out, in); Flax's Dense kernel is (in, out).
    stacked = {}
    for j, layer in enumerate(layers):
        k = 2 * j
        stacked[f"{k}.weight"] = np.array(params[layer]["kernel"][:m].swapaxes(1, 2), order="C")
        stacked[f"{k}.bias"] = np.array(params[layer]["bias"][:m])  # writable copies for torch
    lrs = np.array(state.lr)[:m]
    return dev, batches, layers, stacked, lrs


def _net(torch: ModuleType, cfg: Config) -> Any:
    nn = torch.nn
    if cfg.model == "mlp":
        hidden = cfg.hidden[0]
        return nn.Sequential(nn.Linear(INPUT_DIM, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    return nn.Sequential(nn.Linear(INPUT_DIM, cfg.num_classes))


def _torch_params(layers: list[str], named: dict[str, Any], index: Any) -> dict[str, np.ndarray]:
    out = {}
    for j, layer in enumerate(layers):
        out[f"{layer}/kernel"] = named[f"{2 * j}.weight"][index].detach().cpu().numpy().T
        out[f"{layer}/bias"] = named[f"{2 * j}.bias"][index].detach().cpu().numpy()
    return out


def torch_loop(w: Workload, state: TrainState, m: int) -> Bench | None:
    torch = torch_module()
    if torch is None:
        return None
    dev, batches, layers, stacked, lrs = _torch_inputs(torch, w, state, m)
    nets: list[Any] = []

    def reset() -> None:
        nets.clear()
        for i in range(m):
            net = _net(torch, w.cfg).to(dev)
            with torch.no_grad():
                for name, p in net.named_parameters():
                    p.copy_(torch.from_numpy(stacked[name][i]))
            nets.append((net, torch.optim.SGD(net.parameters(), lr=float(lrs[i]))))

    def run() -> Callable[[], Outcome]:
        loss_fn = torch.nn.CrossEntropyLoss()
        done = []
        for net, opt in nets:
            losses = []
            for x, y in batches:
                loss = loss_fn(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            done.append(torch.stack(losses))
        if dev == "cuda":
            torch.cuda.synchronize()
        named = {k: v[None] for k, v in nets[0][0].named_parameters()}
        return lambda: Outcome(
            np.asarray([float(ls.mean()) for ls in done]),
            float(done[0][0]),
            _torch_params(layers, named, 0),
        )

    return Bench(run, reset)


def torch_vmap(w: Workload, state: TrainState, m: int) -> Bench | None:
    torch = torch_module()
    if torch is None:
        return None
    from torch.func import functional_call, grad_and_value, vmap

    dev, batches, layers, stacked, lrs = _torch_inputs(torch, w, state, m)
    base = _net(torch, w.cfg).to(dev)
    lr_M = torch.from_numpy(lrs).to(dev)

    def loss_fn(p: dict[str, Any], x: Any, y: Any) -> Any:
        return torch.nn.functional.cross_entropy(functional_call(base, p, (x,)), y)

    step = vmap(grad_and_value(loss_fn), in_dims=(0, None, None))
    params: dict[str, Any] = {}

    def reset() -> None:
        params.clear()
        params.update({k: torch.from_numpy(v).to(dev) for k, v in stacked.items()})

    def run() -> Callable[[], Outcome]:
        p = dict(params)
        losses = []
        for x, y in batches:
            grads, loss_M = step(p, x, y)
            p = {k: v - lr_M.view(-1, *[1] * (v.dim() - 1)) * grads[k] for k, v in p.items()}
            losses.append(loss_M)
        if dev == "cuda":
            torch.cuda.synchronize()
        loss_SxM = torch.stack(losses)
        return lambda: Outcome(
            loss_SxM.mean(0).cpu().numpy(), float(loss_SxM[0, 0]), _torch_params(layers, p, 0)
        )

    return Bench(run, reset)
