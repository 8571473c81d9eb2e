"""Where the softmax grid's step goes, op by op, in its compiled program (issue 18).

``_bench_softmax_gap.py`` times a ladder of hand-written programs between the GEMM-only
ceiling and initjax's grid. This script looks inside the compiled programs themselves: it
runs each under ``jax.profiler.trace``, which on CPU records every XLA thunk (one per op of
the optimized HLO: a library GEMM, a loop fusion, a copy) with its duration, and reads back
the ops of the training loop's body::

    python experiments/_bench_softmax_hlo.py                   # M = 16, 64, 256
    python experiments/_bench_softmax_hlo.py --ms 64 --steps 40 --repeats 5 --ops

Programs: ``gemm`` (the ceiling: ``z = x·W``, ``W -= lr·xᵀ(z − t)/B``), ``+gather`` (the
whole softmax-regression step written by hand, the last rung of the ladder) and ``initjax``
(``sweep.advance_grid`` in its default cell layout). Each op of the loop body is put in one
of five parts: **gemm** (a ``dot``, or a YNNPACK fusion around one), **update** (an
elementwise op whose output is a weight matrix: W − lr·g), **reduce** (a YNNPACK fusion
around a reduction: the softmax's max and sum, the loss, the bias gradient), **transpose**
(an op that moves an array to another dimension order, with whatever elementwise work XLA
fused into it: the GEMM's (B, M·K) logits to the cells' (M, B, K) and back, or a kernel
between the cell-front and the GEMM layout), **other** (every other op: softmax's exp and
divide, the batch gather, bookkeeping). Per program and M it
prints ms per step of each part (the sum over the part's ops of their mean duration) and
their sum against the step's wall time; ``--ops`` lists the ops one by one, with their
output shapes.

Reading it: the ceiling is its two GEMMs plus one update pass. A program reaches 90% of the
ceiling only if its GEMMs run as fast as the ceiling's and everything else costs no more
than a tenth of the ceiling's step.

Measured on 2 idle cores of an Intel Xeon (family 6 model 167), jax 0.10.2, 2026-12-03 16:49
(``--ms 16,64,256 --steps 40 --repeats 5``), ms per step (the thunks' mean durations; wall:
the best of 5 timed epochs; initjax in its default layout, "front" at 16, "gemm" from 32):

=========================  ======  ======  ======  =========  =====  ======  ============
program                    gemm    update  reduce  transpose  other  wall    of ceiling
=========================  ======  ======  ======  =========  =====  ======  ============
ceiling, M = 16            0.99    0.05    —       —          0.11   1.20    100%
initjax, M = 16            1.02    (a)     0.12    0.34       0.17   1.81    66%
ceiling, M = 64            4.53    0.28    —       —          0.27   4.11    100%
initjax, M = 64            5.41    0.53    0.61    1.26       0.43   5.59    74%
ceiling, M = 256           14.01   0.88    —       —          0.38   16.76   100%
initjax, M = 256           13.40   1.01    1.38    4.21       0.65   21.69   77%
=========================  ======  ======  ======  =========  =====  ======  ============

(a) fused into the transposes (the front layout moves the kernels to the GEMM's order and
back each step). The thunks add up to 91–95% of the wall time at M = 16 and 256; at 64 to
more than it (tracing's own cost, or ops overlapping on the two cores), so read M = 64's
parts loosely.

What it shows: at M = 16 and 256 initjax's GEMMs run as fast as the ceiling's (1.02 against
0.99 ms, 13.4 against 14.0; 5.4 against 4.5 at 64), and none of its elementwise work is fused
into them. The gap is the rest: the ops that move the (B, M·K) logits into the cells'
(M, B, K) order and the error back, with the bias add and the softmax's exp fused into them
(4.2 ms at M = 256, 1.3 at 64, 0.3 at 16), and the softmax's reductions, the loss and the
bias gradient (1.4, 0.6, 0.1 ms), each a pass of its own.

Where the transposes come from: the first is the bias add (its fusion takes the (M, K)
biases and the GEMM's output). Flax's Dense adds the bias reshaped to (1, K), which vmapped
over cells is (M, 1, K), cell axis in front, while the GEMM's logits (B, M, K) have it
second; JAX's batching rule for an elementwise op whose operands' batch axes differ moves
them all to the front, so the logits are transposed, and from there on the softmax, the loss
and the error stay in (M, B, K) until the error is transposed back for the weight gradient
(``jax.make_jaxpr`` of a vmapped ``z + b.reshape(1, -1)`` shows the ``transpose``). The same
rule moves them for any operand left unbatched, such as the one-hot labels the loss
multiplies by: removing the transposes would take the model's forward and its loss written
for the whole grid in the GEMM's order, instead of vmapped.

Whether that would reach 90% is not shown. The hand-written step is that program: no
transposes, and YNNPACK fuses its bias add and the softmax's max and subtract into the
forward GEMM (a 10.2 ms thunk at M = 256, against 7.5 for initjax's bare forward GEMM). It
ran at 80 / 77 / 75% of the ceiling at M = 16 / 64 / 256 in ``_bench_softmax_gap.py``, and
88 / 57 / 78% here (disturbed at 64). At M = 256 its thunks add up to only 85% of its
wall time (18.1 of 21.4 ms), a part this account does not place.

With YNNPACK off (``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=``) the walls were the
same within noise (ceiling 4.09 and 16.10 ms at M = 64 and 256). Eigen's GEMM thunks return
before their work ends, so the per-op account holds only with the default flags.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B
import _bench_softmax_gap as G

from initjax import cell_layout, sweep

PROGRAMS = ("gemm", "+gather", "initjax")
PARTS = ("gemm", "update", "reduce", "transpose", "other")
_INSTR = re.compile(r"^\s*(?:ROOT )?%(\S+) = (\([^()]*\)|\S+) ([\w-]+)\((.*)$")
_COMP = re.compile(r"^(?:ENTRY )?%(\S+) .*\{$")


def computations(hlo: str) -> dict[str, list[tuple[str, str, str, str]]]:
    """Every computation of an optimized HLO module's text: name → its instructions as
    (name, output shape, opcode, the rest of the line)."""
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    current: list[tuple[str, str, str, str]] | None = None
    for line in hlo.splitlines():
        if (head := _COMP.match(line)) is not None:
            current = out.setdefault(head.group(1), [])
        elif line.startswith("}"):
            current = None
        elif current is not None and (ins := _INSTR.match(line)) is not None:
            current.append(ins.groups())  # type: ignore[arg-type]
    return out


def _elements(shape: str) -> int:
    dims = re.search(r"\[([\d,]*)\]", shape)
    return int(np.prod([int(d) for d in dims.group(1).split(",") if d])) if dims else 1


def loop_body(comps: dict[str, list[tuple[str, str, str, str]]]) -> str:
    """The name of the training loop's body: the while body that holds the program's GEMMs."""
    bodies = [
        m.group(1)
        for ins in (i for c in comps.values() for i in c if i[2] == "while")
        if (m := re.search(r"body=%([\w.-]+)", ins[3]))
    ]
    with_dot = [b for b in bodies if any(_kind(comps, i) == "gemm" for i in comps[b])]
    if len(with_dot) != 1:
        raise ValueError(f"expected one while body with a GEMM, found {with_dot or 'none'}")
    return with_dot[0]


def _kind(comps: dict, ins: tuple[str, str, str, str], weights: int = 0) -> str:
    """The part an op of the loop body belongs to (see the module docstring)."""
    _, shape, opcode, rest = ins
    called = re.search(r"calls=%([\w.-]+)", rest)
    inner = {i[2] for i in comps.get(called.group(1), [])} if called else set()
    if opcode in ("dot", "convolution") or (opcode == "fusion" and inner & {"dot", "convolution"}):
        return "gemm"
    if opcode == "fusion" and "kCustom" in rest and inner & {"reduce", "reduce-window"}:
        return "reduce"
    if opcode == "transpose" or "transpose" in inner:
        return "transpose"
    if weights and _elements(shape) == weights and opcode == "fusion":
        return "update"
    return "other"


def profile(run: Callable[[], None], names: set[str], calls: int) -> dict[str, float]:
    """Seconds per call of each op in ``names`` (summed over the ``calls`` runs of ``run``
    in one trace, divided by ``calls``), read from the profiler's Perfetto trace."""
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            for _ in range(calls):
                run()
        (path,) = Path(d).rglob("perfetto_trace.json.gz")
        events = json.loads(gzip.decompress(path.read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("ph") == "X" and e.get("name") in names:
            total[e["name"]] += e.get("dur", 0.0) * 1e-6 / calls
    return dict(total)


def programs(m: int, steps: int) -> dict[str, tuple[Callable[[], None], str]]:
    """Each program of PROGRAMS at M cells on ``steps`` batches: (run one epoch, blocking;
    its optimized HLO text)."""
    w_, rungs, grid_state, grid = G.setup(m, steps)
    out: dict[str, tuple[Callable[[], None], str]] = {}
    for rung in PROGRAMS[:-1]:
        fn, args = rungs[rung]
        text = fn.lower(*args).compile().as_text()
        out[rung] = (lambda fn=fn, args=args: jax.block_until_ready(fn(*args)), text)
    compiled = sweep.advance_grid.lower(w_.cfg, w_.arrays, grid_state, 1, None).compile()
    out["initjax"] = (grid, compiled.as_text())
    return out


def account(m: int, steps: int, repeats: int) -> list[dict]:
    """Per program: ms per step of each part, their sum, the step's wall time, and the ops."""
    rows = []
    for name, (run, hlo) in programs(m, steps).items():
        comps = computations(hlo)
        body = comps[loop_body(comps)]
        kinds = {i[0]: _kind(comps, i, weights=784 * m * 10) for i in body}
        run()  # warm up
        wall = min(B.timed(run)[0] for _ in range(repeats)) / steps
        per_op = profile(run, set(kinds), repeats)
        parts = {p: 0.0 for p in PARTS}
        for op, s in per_op.items():
            parts[kinds[op]] += s / steps
        shapes = {i[0]: i[1] for i in body}
        ops = sorted(
            ((op, kinds[op], shapes[op], s / steps) for op, s in per_op.items()),
            key=lambda o: -o[3],
        )
        rows.append({"M": m, "program": name, "wall_ms": 1e3 * wall,
                     "parts_ms": {p: 1e3 * v for p, v in parts.items()}, "ops": ops})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    B.size_args(p, "16,64,256", 40, "program")
    p.add_argument("--ops", action="store_true", help="list every op of each loop body")
    a = p.parse_args(argv)
    if a.steps < 2:
        p.error("--steps must be ≥ 2: XLA removes a one-step loop, leaving no loop body to read")
    for m in B.sizes(p, a):
        rows = account(m, a.steps, a.repeats)
        ceiling = rows[0]["wall_ms"]
        for r in rows:
            name = r["program"]
            if name == "initjax":
                name += f" ({cell_layout.layout_for('softmax', m)})"
            parts = "  ".join(f"{k} {v:6.3f}" for k, v in r["parts_ms"].items())
            print(f"M = {m:4d} {name:16s} ms/step: {parts}  sum {sum(r['parts_ms'].values()):6.3f}"
                  f"  wall {r['wall_ms']:6.3f} ({100 * ceiling / r['wall_ms']:3.0f}% of the "
                  "ceiling)", flush=True)  # fmt: skip
            for op, kind, shape, s in r["ops"] if a.ops else ():
                print(f"      {op:34s} {kind:7s} {shape:24s} {1e3 * s:7.3f} ms")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
