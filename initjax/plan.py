"""Planning a sweep before it allocates: grids beyond memory run as chunks of seeds, and a
dry run says what a sweep will cost.

A grid whose estimated peak memory (:func:`initjax.memory.estimate`) exceeds the limit
(``max_memory``, else :func:`initjax.memory.limit`) is split along the seed axis into the
largest chunks that fit: each chunk is a (seeds_chunk, σ, lr) grid — one compiled program per
chunk shape, at most two shapes — and :mod:`initjax.sweep` joins the chunks along ``seed``.
A cell's computation does not depend on the other cells of its grid, so a chunked sweep
equals the unchunked one up to the float rounding of differently sized GEMMs (≲ 1e-6).

**A sweep longer than a session.** Inside :func:`seeds_per_program` (``--seeds-per-program
N``) chunks hold at most N seeds even when more would fit, their sizes differing by at most
one. With ``out``, each chunk is a program that trains and saves on its own
(``out/parts/<j>/``, results sealed; ``parts/`` is removed once the joined results are
saved), so a run that must stop before its end keeps every finished chunk as a small sealed
folder: copy those folders (and the sweep's ``fingerprint.json``) into a fresh output folder,
on a fresh machine, and the rerun reads them back (verified against their fingerprint and
seal) and trains the rest. The chunk sizes are part of the sweep's fingerprint: resuming
with another N is refused, saying how the folder was chunked.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import numbers
import operator
import time
from collections.abc import Iterator, Sequence

import numpy as np

from initjax import data as datasets
from initjax import grid as engine
from initjax import memory
from initjax.train import Config

_SEEDS_PER_PROGRAM: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "initjax_seeds_per_program", default=None
)


@contextlib.contextmanager
def seeds_per_program(n: int | None) -> Iterator[None]:
    """Sweeps run inside train at most ``n`` seeds per compiled program (None: as many as fit
    in memory), each chunk saved on its own: see the module docstring."""
    if n is not None:
        whole = isinstance(n, numbers.Integral) and not isinstance(n, bool)
        if not whole or operator.index(n) < 1:
            raise ValueError(f"seeds per program must be a positive integer or None, got {n!r}")
        n = operator.index(n)
    token = _SEEDS_PER_PROGRAM.set(n)
    try:
        yield
    finally:
        _SEEDS_PER_PROGRAM.reset(token)


def _balanced(seeds: np.ndarray, most: int) -> list[np.ndarray]:
    """``seeds`` in the fewest chunks of at most ``most``, their sizes differing by ≤ 1."""
    return np.array_split(seeds, -(-seeds.size // most))


def seed_chunks(
    cfg: Config, grid: engine.Grid, data: datasets.Dataset, max_memory: int | None = None
) -> list[np.ndarray]:
    """The seeds of ``grid`` in the fewest equal-sized chunks whose grids fit in memory (and
    hold at most :func:`seeds_per_program` seeds, when set).

    Raises :class:`initjax.memory.TooBig` when even one seed's (σ × lr) grid does not fit.
    """
    cap, source = (max_memory, "--max-memory / max_memory") if max_memory else memory.limit()
    seeds = grid.seeds
    most = _SEEDS_PER_PROGRAM.get()

    def fits(k: int) -> bool:
        sub = grid.with_seeds(seeds[:k])
        return memory.estimate(cfg, sub, data).total <= cap

    if fits(seeds.size):
        return _balanced(seeds, min(seeds.size, most or seeds.size))  # one chunk if no cap
    lo, hi = 0, seeds.size  # fits(lo) (lo = 0 trivially), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    if lo == 0:
        one = grid.with_seeds(seeds[:1])
        est = memory.estimate(cfg, one, data)
        raise memory.TooBig(
            f"one seed's grid ({one.size} cells) needs about {memory.size_text(est.total)} "
            f"({est.describe()}), more than the {memory.size_text(cap)} of {source}; use fewer "
            "σ × lr values or a smaller model"
        )
    return _balanced(seeds, lo if most is None else min(lo, most))


def chunking_change(old: list[list[int]] | None, new: list[list[int]] | None) -> str:
    """Why a folder chunked ``old`` (seed-chunk sizes per outer combination; None: one chunk
    each) cannot resume as ``new``, and the flag that gives the folder's split again."""

    def one(chunks: list[list[int]] | None) -> bool:
        return not chunks or all(len(c) == 1 for c in chunks)

    def text(chunks: list[list[int]] | None) -> str:
        if not chunks or one(chunks):
            return "with all seeds in one program"
        return "in programs of " + " / ".join("+".join(map(str, c)) for c in chunks) + " seeds"

    was = old or []
    if one(was):
        how = "run it again without --seeds-per-program (and with memory for all its seeds)"
    else:
        most = max(max(c) for c in was)
        # N = the largest old chunk gives ceil(S / N) balanced chunks: the old split, when
        # every program was split by the same N (else the split followed each one's memory)
        same = all(
            [len(a) for a in _balanced(np.arange(sum(c)), most)] == sorted(c, reverse=True)
            for c in was
        )
        how = (
            f"run it again with --seeds-per-program {most}"
            if same
            else "run it again with the --max-memory (or on a machine with the memory) it "
            "began with: its split followed each program's memory"
        )
    return f"it was trained {text(old)}, this run would be trained {text(new)}: {how}"


@dataclasses.dataclass(frozen=True)
class DryRun:
    """What :func:`dry_run` found: per-program memory and an ETA from a timed probe."""

    programs: int
    cells: int
    peak_bytes: int
    seconds_per_step: float
    steps: int
    finished: int = 0
    """Programs whose results the output folder already holds (read back, not trained)."""
    resumed: int = 0
    """Programs left to train that resume from an epoch checkpoint in the output folder."""

    @property
    def eta_seconds(self) -> float:
        return self.seconds_per_step * self.steps

    def describe(self) -> str:
        peak = self.peak_bytes
        size = f"{peak / 1e9:.2f} GB" if peak >= 1e9 else f"{peak / 1e6:.1f} MB"
        text = (
            f"{self.programs} program(s), {self.cells} runs; estimated peak memory of the "
            f"largest {size}"
        )
        if self.finished == self.programs:
            return text + "; all finished in the output folder: nothing to train"
        if self.finished:
            text += (
                f"; {self.finished} finished in the output folder (read back, not trained), "
                f"{self.programs - self.finished} to train"
            )
        if self.resumed:
            text += f"; {self.resumed} resuming from an epoch checkpoint there"
        eta = self.eta_seconds
        when = f"{eta / 60:.1f} min" if eta >= 60 else f"{eta:.1f} s"
        return (
            f"{text}; probe: {self.seconds_per_step * 1e3:.1f} ms per grid step → "
            f"ETA ≈ {when} for {self.steps} steps (training only; compiles and evaluation "
            "not included)"
        )


def dry_run(
    cfgs: list[Config],
    grid: engine.Grid,
    data: datasets.Dataset,
    max_memory: int | None = None,
    epochs_done: Sequence[int] = (),
) -> DryRun:
    """Estimate a sweep of ``cfgs`` (one per outer combination) without training it.

    ``epochs_done``: per program (outer combinations × seed chunks, in run order), the epochs
    the output folder already holds (:func:`initjax.sweep.epochs_done`: all of them for a
    finished program, whose results are read back); the ETA counts only the epochs left. It
    comes from a probe: the first program left to train, for two short epochs of four
    batches (the first compiles, the second is timed), scaled to the steps left.
    """
    programs, steps, peak, cells, done, resumed = 0, 0, 0, 0, 0, 0
    per_step = None
    for cfg in cfgs:
        for chunk in seed_chunks(cfg, grid, data, max_memory):
            sub = grid.with_seeds(chunk)
            peak = max(peak, memory.estimate(cfg, sub, data).total)
            cells += sub.size
            held = epochs_done[programs] if programs < len(epochs_done) else 0
            if held >= cfg.epochs:
                done += 1
            else:
                resumed += held > 0
                steps += (cfg.epochs - held) * (data.num_train // cfg.batch_size)
                if per_step is None:
                    per_step = _probe(cfg, chunk, grid, data)
            programs += 1
    return DryRun(programs, cells, peak, per_step or 0.0, steps, done, resumed)


def _probe(cfg: Config, seeds: np.ndarray, grid: engine.Grid, data: datasets.Dataset) -> float:
    n = min(4 * cfg.batch_size, data.num_train)
    small = datasets.Dataset(
        data.name, data.x_train[:n], data.y_train[:n], data.x_test[:1], data.y_test[:1],
        classes=data.num_classes,
    )  # fmt: skip
    probe = cfg.replace(epochs=2, evaluate=False, record=(), eval_epochs=())
    stamps: list[float] = []
    engine.run(
        probe, small, *grid.with_seeds(seeds).values(),
        progress=False, on_chunk=lambda _: stamps.append(time.perf_counter()),
    )  # fmt: skip
    return (stamps[1] - stamps[0]) / (n // cfg.batch_size)
