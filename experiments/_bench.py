"""Machinery of the throughput benchmark: workloads, the variants, timers, the GEMM peak.

Every variant trains the same M runs (seeds ``0..M-1``, σ = 0.01, lr = 0.1) for one epoch from
the same initial weights (``sweep.init_grid``) on the same batch order (the order
``train.train_epochs`` draws for epoch 0), so their times are directly comparable:

* ``jax-loop``: a Python loop over the steps calling the jitted ``train.train_step`` on
  pre-batched device arrays, one run after another;
* ``jax-seq``: ``train.train_epochs`` jitted for one run (one ``lax.scan`` program), called
  once per run;
* ``initjax``: ``sweep.advance_grid``, all M runs in one vmapped program (one device);
* ``initjax-sharded``: the same with the cells split over N devices (a subprocess, see
  ``_bench_worker.worker``, because the CPU device count is fixed when JAX starts);
* ``torch-loop``: d2l's concise loop (``nn.Linear``, ``CrossEntropyLoss``, ``optim.SGD``) over
  pre-batched tensors, one run after another;
* ``torch-vmap``: ``torch.func.functional_call`` + ``vmap`` over stacked parameters with a
  per-model lr, a Python loop over the steps.

A :class:`Bench` is one variant at one M: ``compile_s`` (ahead-of-time lower + compile of its
JAX program, None for torch), ``reset()`` (untimed: fresh copies of the initial state) and
``run()`` (timed: one epoch of M runs, blocking until done; returns an :class:`Outcome`).

The worker that times the vmapped grid in a fresh process is ``_bench_worker.py``, beside it.
"""

from __future__ import annotations

import functools
import gc
import itertools
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from initjax import cell_layout, shard, sweep, train
from initjax import data as datasets
from initjax.train import Config, DataArrays, TrainState

BATCH = 256
SIGMA, LR = 0.01, 0.1
# d2l's softmax regression (softmax-regression-scratch) and its MLP (mlp-scratch: 256 hidden
# ReLU units, W ~ N(0, 0.01²)), both SGD lr 0.1, batch 256. evaluate=False: an epoch is only
# training (the benchmark times steps, not per-epoch evaluation).
WORKLOADS = {
    "softmax": Config(model="softmax", scheme="normal", lr=LR, batch_size=BATCH, evaluate=False),
    "mlp": Config(
        model="mlp", hidden=(256,), scheme="normal", lr=LR, batch_size=BATCH, evaluate=False
    ),
}
INPUT_DIM = 784


def weight_count(cfg: Config, input_dim: int = INPUT_DIM) -> int:
    """P: entries of the weight matrices (biases excluded, as in the issue's 4·B·P / 6·B·P)."""
    widths = (input_dim, *(cfg.hidden if cfg.model == "mlp" else ()), cfg.num_classes)
    return sum(a * b for a, b in itertools.pairwise(widths))


def cell_groups(cfg: Config, ms: Any, input_dim: int = INPUT_DIM) -> dict[int, int]:
    """Per M: how many cells a grid of ``cfg`` trains at a time on this backend
    (:func:`initjax.cell_layout.group_size`; M itself: all at once)."""
    x = jnp.zeros((1, input_dim), jnp.float32)
    model = train.build_model(cfg)
    one = jax.eval_shape(lambda k: model.init(k, x, train=False)["params"], jax.random.key(0))

    def grid(m: int) -> Any:  # the parameters of m cells, cell axis in front
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct((m, *s.shape), s.dtype), one)

    return {m: cell_layout.group_size(cfg.model, m, grid(m)) for m in ms}


def flops_per_step(cfg: Config, input_dim: int = INPUT_DIM) -> int:
    """Training FLOPs of one SGD step of one model: 4·B·P for one layer, 6·B·P for deeper.

    Forward x W costs 2·B·P, the weight gradient xᵀ δ another 2·B·P, and the gradient with
    respect to the layer input 2·B·P more, except that the first layer needs none: softmax
    regression is exactly 4·B·P; for the MLP 6·B·P is the usual convention (it counts the
    unneeded input gradient of the first layer; the exact GEMM count is 4·B·P + 2·B·P_out).
    Biases, the activation, the softmax and the update are not counted.
    """
    factor = 4 if cfg.model == "softmax" else 6
    return factor * cfg.batch_size * weight_count(cfg, input_dim)


# ----------------------------------------------------------------------------- inputs


@dataclass
class Workload:
    """One model's inputs, shared by every variant: data, batch order, initial grid state."""

    name: str
    cfg: Config
    arrays: DataArrays
    """x_train holds exactly the examples of the measured epoch (all of them, or steps·B)."""
    order_NxB: np.ndarray
    """The batch order of epoch 0, as ``train.train_epochs`` draws it."""
    compile_repeats: int = 3
    """Cold compiles timed per variant (the median is reported)."""

    @property
    def steps(self) -> int:
        return int(self.order_NxB.shape[0])


def workload(
    name: str, data: datasets.Dataset, steps: int | None, device: Any, compile_repeats: int = 3
) -> Workload:
    """The ``name`` workload on ``steps`` batches of the training set (None: a full epoch);
    each variant's compile is timed ``compile_repeats`` times from cold caches."""
    cfg = WORKLOADS[name]
    n = data.num_train if steps is None else min(steps * cfg.batch_size, data.num_train)
    arrays = DataArrays(
        *jax.device_put(
            (
                data.x_train[:n],
                data.y_train[:n],
                data.x_test[: cfg.batch_size],  # never read by training; kept tiny
                data.y_test[: cfg.batch_size],
            ),
            device,
        )
    )
    # train.train_epochs: order="shared" → key(data_seed), folded with the epoch (0).
    key = jax.random.fold_in(jax.random.key(cfg.data_seed), 0)
    order = np.asarray(datasets.epoch_batches(key, n, cfg.batch_size))
    return Workload(name, cfg, arrays, order, compile_repeats)


def initial_states(w: Workload, m: int) -> TrainState:
    """``sweep.init_grid`` for cells (seed i, σ, lr), i < m, as host arrays.

    A grid of fewer cells is a slice of it (:func:`place`): one compile serves every M.
    """
    cells = (
        np.arange(m, dtype=np.int32),
        np.full(m, SIGMA, np.float32),
        np.full(m, LR, np.float32),
    )
    # Initialization only needs shapes: one batch keeps init_run's epoch-0 evaluation cheap.
    tiny = DataArrays(*(a[: w.cfg.batch_size] for a in w.arrays))
    return shard.to_host(sweep.init_grid(w.cfg, tiny, *map(jnp.asarray, cells))[0])


def place(states: TrainState, m: int, mesh: Any) -> TrainState:
    """The first ``m`` cells, padded (as a sweep pads) to a multiple of the mesh, on the mesh."""
    padded = shard.padded_size(m, mesh)
    return shard.place_cells(
        jax.tree_util.tree_map(lambda a: shard.pad_cells(a[:m], padded), states), mesh
    )


def cell(state: TrainState, m: int) -> TrainState:
    return jax.tree_util.tree_map(lambda a: a[m], state)


# ----------------------------------------------------------------------------- variants


@dataclass
class Outcome:
    """What a variant's run leaves, for the sanity checks (host arrays)."""

    mean_loss: np.ndarray
    """Per run: mean of the epoch's batch losses, shape (M,)."""
    first_loss: float | None
    """Run 0's loss on the first batch (None when the variant does not expose it)."""
    params0: dict[str, np.ndarray] | None
    """Run 0's final weights, flattened as ``layer/kernel`` → array in JAX layout."""
    evaluated: bool | None = None
    """Whether the epoch also evaluated train/test metrics (``train_epochs`` variants)."""


@dataclass
class Bench:
    run: Callable[[], Callable[[], Outcome]]
    """Timed: one epoch of M runs, blocking; returns a thunk that reads the outcome."""
    reset: Callable[[], None]
    """Untimed, before every run."""
    compile_s: float | None = None
    dots: list[str] | None = None
    """The program's dot_general signatures (StableHLO), for the report."""


def _flat(params: Any) -> dict[str, np.ndarray]:
    return {
        f"{layer}/{name}": np.asarray(v) for layer, ps in params.items() for name, v in ps.items()
    }


def _aot(fn: Any, *args: Any, repeats: int = 3) -> tuple[float, list[str]]:
    """Median seconds to lower and compile ``fn`` for ``args``, from cold caches each time.

    jit caches the executable, so every repeat first clears JAX's caches (the variants'
    programs are then compiled again by their untimed warm-up call). With JAX's persistent
    compilation cache on (``JAX_COMPILATION_CACHE_DIR``) the
    repeats after the first are cache reads: ``machine()["compilation_cache"]`` records it.
    """
    seconds = []
    for _ in range(repeats):
        jax.clear_caches()
        t0 = time.perf_counter()
        lowered = fn.lower(*args)
        lowered.compile()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), _dot_signatures(lowered.as_text())


def _dot_signatures(stablehlo: str) -> list[str]:
    """``(lhs, rhs) -> out  [dims]`` of every dot_general in a lowered program."""
    out = []
    for line in stablehlo.splitlines():
        if "stablehlo.dot_general" in line:
            body = line.split("stablehlo.dot_general", 1)[1]
            dims = (
                body.split(":", 1)[0]
                .split(",", 2)[-1]
                .replace(", precision = [DEFAULT, DEFAULT]", "")
            )
            out.append(f"{body.rsplit(':', 1)[1].strip()}  [{dims.strip()}]")
    return out


@functools.cache
def _loop_step(cfg: Config) -> Any:
    step = functools.partial(
        train.train_step, model=train.build_model(cfg), tx=train.optimizer(cfg)
    )
    return jax.jit(step)


_seq_epoch = jax.jit(train.train_epochs, static_argnames=("cfg", "n_epochs"))


def _batches(w: Workload) -> list[tuple[jax.Array, jax.Array]]:
    x_NxBxD = w.arrays.x_train[w.order_NxB]
    y_NxB = w.arrays.y_train[w.order_NxB]
    return [(x_NxBxD[i], y_NxB[i]) for i in range(w.steps)]


def jax_loop(w: Workload, state: TrainState, m: int) -> Bench:
    step = _loop_step(w.cfg)
    cells = [cell(state, i) for i in range(m)]
    batches = _batches(w)
    compile_s, dots = _aot(step, cells[0], batches[0], repeats=w.compile_repeats)

    def run() -> Callable[[], Outcome]:
        done = []
        for s in cells:
            losses = []
            for batch in batches:
                s, loss = step(s, batch)
                losses.append(loss)
            done.append((s, losses))
        jax.block_until_ready(done)
        return lambda: Outcome(
            np.asarray([np.mean(np.asarray(ls)) for _, ls in done]),
            float(done[0][1][0]),
            _flat(done[0][0].params),
        )

    return Bench(run, lambda: None, compile_s, dots)


def jax_seq(w: Workload, state: TrainState, m: int) -> Bench:
    cells = [cell(state, i) for i in range(m)]
    compile_s, dots = _aot(_seq_epoch, w.cfg, w.arrays, cells[0], 1, repeats=w.compile_repeats)

    def run() -> Callable[[], Outcome]:
        done = [_seq_epoch(w.cfg, w.arrays, s, 1) for s in cells]
        jax.block_until_ready(done)
        return lambda: Outcome(
            np.asarray([float(metrics["batch_loss"][0]) for _, metrics in done]),
            None,
            _flat(done[0][0].params),
            evaluated=bool(np.isfinite(done[0][1]["train_loss"]).all()),
        )

    return Bench(run, lambda: None, compile_s, dots)


def initjax(
    w: Workload,
    state: TrainState,
    m: int,
    arrays: DataArrays | None = None,
    layout: str | None = None,
) -> Bench:
    """``sweep.advance_grid`` on ``state`` (already placed, maybe padded past ``m`` cells);
    ``layout``: the grid's cell layout (None: initjax's default for the model)."""
    data = w.arrays if arrays is None else arrays
    compile_s, dots = _aot(
        sweep.advance_grid, w.cfg, data, state, 1, layout, repeats=w.compile_repeats
    )
    fresh: list[TrainState] = []

    def reset() -> None:  # advance_grid donates its state: every run starts from a copy
        fresh[:] = [jax.tree_util.tree_map(lambda a: a.copy(), state)]
        jax.block_until_ready(fresh)

    def run() -> Callable[[], Outcome]:
        out = sweep.advance_grid(w.cfg, data, fresh.pop(), 1, layout)
        jax.block_until_ready(out)
        new, metrics = out
        return lambda: Outcome(
            shard.to_host(metrics["batch_loss"])[:m, 0], None, _flat(cell(new.params, 0))
        )

    return Bench(run, reset, compile_s, dots)


# ----------------------------------------------------------------------------- measuring


def max_rss_bytes() -> int:
    """This process's peak RSS.

    Linux: ``VmHWM`` of /proc/self/status, the high-water mark of this process's own memory
    map. (``getrusage(...).ru_maxrss`` would not do for a worker: Linux carries the parent's
    RSS at fork into the child's ru_maxrss across exec, so a child of a large parent reports
    the parent's size.) Elsewhere ``ru_maxrss`` (KiB, macOS bytes).
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` with the garbage collector paused (as timeit does)."""
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- small benchmarks


def size_args(p: Any, ms: str, steps: int, per: str) -> None:
    """``--ms``, ``--steps`` and ``--repeats`` on argparse parser ``p`` (the focused
    benchmarks beside this file: ``_bench_layouts.py``, ``_bench_softmax_gap.py``)."""
    p.add_argument("--ms", default=ms, help="cell counts M (comma list)")
    p.add_argument("--steps", type=int, default=steps, help="batches per timed run")
    p.add_argument("--repeats", type=int, default=7, help=f"timed runs per {per} and M")


def sizes(p: Any, a: Any) -> list[int]:
    """The M list of parsed ``size_args`` (a usage error unless every size is ≥ 1); prints
    the run's header line."""
    ms = [int(m) for m in a.ms.split(",")]
    if a.steps < 1 or a.repeats < 1 or min(ms) < 1:
        p.error("--steps, --repeats and every M must be ≥ 1")
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, steps {a.steps}, "
          f"repeats {a.repeats}", flush=True)  # fmt: skip
    return ms
