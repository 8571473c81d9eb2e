"""Where a grid keeps its cell axis while it trains: in front, or inside the GEMM layout.

A grid's :class:`~initjax.train.TrainState` has its cell axis in front: a Dense kernel of M
cells is (M, D, K). That is the layout of results and checkpoints, but not the one the step's
matmuls want. With the batch shared by all cells, layer one's forward is one GEMM
(B×D)·(D×M·K) and its weight gradient one GEMM (D×B)·(B×M·K) — over a kernel laid out
(D, M, K), i.e. (D, M·K) in memory. Vmapping the step over a leading cell axis makes XLA
transpose every kernel (and its gradient) between (M, D, K) and (D, M·K) at every step; on the
softmax grid at M = 256 that costs about a quarter of the step (issue 18).

``"gemm"`` moves the cell axis of every leaf with two or more per-cell dimensions (kernels and
the optimizer moments shaped like them) to the second-to-last place, ``(..., D, M, K)``, once
per epoch instead of per step, and vmaps the step with that axis: the kernel is then already
in the GEMM's layout, forward and backward. Leaves of lower rank (biases, BatchNorm
statistics, keys, counters) keep the cell axis in front. The computation is the same; only the
summation order of XLA's kernels may differ (float32 rounding).

Which layout is faster depends on the model and M; :data:`GEMM_FROM` holds what
``python experiments/_bench_layouts.py`` measured on 2 idle cores of an Intel Xeon (jax 0.10.2,
2026-12-01; Fashion-MNIST, batch 256, SGD; interleaved medians of 7 runs), the "gemm" time over
the "front" time: for the MLP 784-256-10 0.88 / 0.88 / 0.89 / 0.89 / 0.92 / 0.89 / 0.89 at
M = 2 / 4 / 8 / 16 / 32 / 64 / 128, "gemm" ~11% faster at every M (grids under 16 cells still
train in "front", as user models of the same architecture do, so that the two stay bit-for-bit
alike: a small grid is cheap either way); for softmax regression
1.10 / 1.12 / 0.98 / 1.06 / 1.00 / 1.00 / 0.99 / 1.00 at M = 2 / 4 / 8 / 16 / 32 / 64 / 128 /
256: slower below 16 cells (the per-step reshuffles of the small logits cost more than the
transposes they save), even from 32 on, where "gemm" starts. On the 2-core AMD EPYC of issue 18 the transposes cost
the softmax grid about a quarter of its step at M = 256, so "gemm" is kept there. The
throughput benchmark (``experiments/throughput.py``) reports both layouts per M as well.

A third layout, "map", trains the cells one after another inside the step
(``jax.lax.map`` over the cell axis, which stays in front) instead of vmapping it. Grids of
models with convolution kernels (a parameter of rank ≥ 3 per cell) use it on a CPU, whatever
the model, user models too. With :mod:`initjax.cpu_conv` rewriting the step's convolutions
(vmapped ones are grouped convolutions, split there into one per cell), both layouts run a
cell-step about as fast as a single jitted step; "map" is slightly faster and compiles
faster. Measured by ``python experiments/_bench_conv.py`` on 2 cores (Intel Xeon, jax 0.10.2):
8 cells of an 8-layer 3×3 tanh CNN, batch 32, per cell-step relative to one jitted step:
vmapped 1.14×, map 1.02× (compile 2.6 s against 1.0 s); without cpu_conv 27× and 12×.

With the default layout and ``order="shared"``, a CPU grid of the built-in MLP whose
parameters pass :data:`GROUP_BYTES` trains its cells in groups (:func:`group_size`,
:func:`grouped`) where M has a divisor from 16 to the cells that fit (M = 64: 4 groups of 16;
M = 24 or 30: all at once): each group runs all of an epoch's SGD steps as a grid of its own,
one group after another inside the same program, so that its weights and their gradient stay
in the cache from step to step; the epoch's evaluation then runs all cells at once. ``python
experiments/_bench_mlp_memory.py`` measured the MLP 784-256-10 (2 idle cores, Intel Xeon, jax
0.10.2, 2026-12-02), ms per model and step all at once against in groups of 16: 1.29 / 1.17 at
M = 64 and 1.47 / 1.20 at M = 128 (1.16 at M = 16). Groups change no number: the same
computation per cell, bit-identical batch losses in that benchmark.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp

LAYOUTS = ("front", "gemm", "map")

GEMM_FROM: dict[str, int] = {"softmax": 32, "mlp": 16}
"""Built-in models trained in the "gemm" layout from this many cells on (measured, above);
other models, user models included, keep "front" (not measured: the safe default)."""


def layout_for(model: object, cells: int, params: Any = None) -> str:
    """The cell layout a grid of ``cells`` cells of ``model`` (a Config.model value) trains in;
    ``params`` (the grid's, cell axis in front), when given, lets a conv net on a CPU be
    recognised by its kernels: "map" there (see the module docstring)."""
    if params is not None and cells > 1 and jax.default_backend() == "cpu":
        if any(x.ndim >= 4 for x in jax.tree.leaves(params)):  # (cells, *window, in, out)
            return "map"
    least = GEMM_FROM.get(model) if isinstance(model, str) else None
    return "gemm" if least is not None and cells >= least else "front"


GROUP_BYTES = 16 << 20
"""On a CPU, a grid of the built-in MLP whose parameters pass this many bytes trains its cells
in groups of at most this many bytes each, one group after another (:func:`group_size`)."""


def group_size(model: object, cells: int, params: Any) -> int:
    """How many cells of a grid train together on a CPU (``cells``: all of them at once).

    The built-in MLP's grid slows per model once its parameters outgrow the cache (its weight
    gradient and update go to memory at every step: ``experiments/_bench_mlp_memory.py``).
    Past :data:`GROUP_BYTES` the cells are split into equal groups, each its own grid for an
    epoch's SGD steps (:func:`grouped`): the largest divisor of ``cells`` whose group fits, no
    smaller than the "gemm" layout's :data:`GEMM_FROM`; none such: all at once (so are cells
    of more than 1 MiB each). Other models and other backends: all at once (not measured).
    ``train.train_epochs_grid`` asks only for its default layout with ``order="shared"``; every
    evaluation (each epoch's, and ``grid.initial_metrics_grid``'s at epoch 0) runs all cells at
    once.
    """
    if model != "mlp" or cells < 2 or jax.default_backend() != "cpu":
        return cells
    per_cell = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(params)) // cells
    most = GROUP_BYTES // max(per_cell, 1)
    if cells <= most:
        return cells
    for size in range(most, GEMM_FROM["mlp"] - 1, -1):
        if cells % size == 0:
            return size
    return cells


def grouped(fn: Any, tree: Any, size: int) -> Any:
    """``fn`` (cell axis in front, in and out) over groups of ``size`` cells, one group after
    another (``jax.lax.map``). Group g holds cells g, g + G, g + 2G, … (G groups), so a grid
    split over devices in blocks of cells keeps every group split over all of them."""
    cells = jax.tree.leaves(tree)[0].shape[0]
    if cells % size:
        raise ValueError(f"{cells} cells do not split into groups of {size}")
    count = cells // size

    def split(x: jax.Array) -> jax.Array:
        return jnp.swapaxes(x.reshape(size, count, *x.shape[1:]), 0, 1)

    def merge(x: jax.Array) -> jax.Array:
        return jnp.swapaxes(x, 0, 1).reshape(cells, *x.shape[2:])

    return jax.tree.map(merge, jax.lax.map(fn, jax.tree.map(split, tree)))


def axes(tree: Any, layout: str) -> Any:
    """Per-leaf cell axis of ``tree`` (cell axis in front) under ``layout``: a pytree of ints."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown cell layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    if layout in ("front", "map"):
        return jax.tree.map(lambda _: 0, tree)
    return jax.tree.map(lambda x: x.ndim - 2 if x.ndim >= 3 else 0, tree)


def to_layout(tree: Any, cell_axes: Any) -> Any:
    """Move each leaf's cell axis from the front to its place in ``cell_axes``."""
    return jax.tree.map(lambda x, a: jnp.moveaxis(x, 0, a), tree, cell_axes)


def from_layout(tree: Any, cell_axes: Any) -> Any:
    """Inverse of :func:`to_layout`: every cell axis back in front."""
    return jax.tree.map(lambda x, a: jnp.moveaxis(x, a, 0), tree, cell_axes)


def _contract_last(lhs: jax.Array, rhs: jax.Array) -> jax.Array:
    return jax.lax.dot_general(lhs, rhs, (((lhs.ndim - 1,), (0,)), ((), ())))


@jax.custom_vjp
def _dense_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return _contract_last(x, kernel)


def _dense_fwd(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _contract_last(x, kernel), (x, kernel)


def _dense_bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, kernel = res
    batch = tuple(range(x.ndim - 1))
    dx = jax.lax.dot_general(g, kernel, (((g.ndim - 1,), (1,)), ((), ())))
    # x contracted with g over the batch axes: the result comes out (D, K), the kernel's own
    # order, where JAX's rule for dot_general computes (K, D) and transposes it.
    dkernel = jax.lax.dot_general(x, g, ((batch, batch), ((), ())))
    return dx, dkernel


_dense_matmul.defvjp(_dense_fwd, _dense_bwd)


_KERNEL_ORDER_GRADIENTS = contextvars.ContextVar("kernel_order_gradients", default=False)


@contextlib.contextmanager
def kernel_order_gradients() -> Iterator[None]:
    """While tracing inside this block, :func:`dense_dot_general` differentiates its kernel in
    the kernel's own order (a custom VJP: reverse mode only). Outside it (diagnostics that use
    forward-mode Jacobians, single runs) it is ``lax.dot_general``."""
    token = _KERNEL_ORDER_GRADIENTS.set(True)
    try:
        yield
    finally:
        _KERNEL_ORDER_GRADIENTS.reset(token)


def dense_dot_general(
    lhs: jax.Array,
    rhs: jax.Array,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """``lax.dot_general`` for ``nn.Dense(dot_general=...)``; inside
    :func:`kernel_order_gradients`, its kernel gradient keeps the kernel's (D, K) order, so a
    grid's kernels in the ``"gemm"`` layout need no transpose, forward or backward.

    Any other contraction (or a precision/dtype request) is passed to ``lax.dot_general``.
    """
    (contract, batch) = dimension_numbers
    if (
        _KERNEL_ORDER_GRADIENTS.get()
        and tuple(contract[0]) == (lhs.ndim - 1,)
        and tuple(contract[1]) == (0,)
        and batch == ((), ())
        and rhs.ndim == 2
        and precision is None
        and preferred_element_type is None
    ):
        return _dense_matmul(lhs, rhs)
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type)
