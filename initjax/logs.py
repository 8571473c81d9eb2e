"""Progress that suits a log file: one plain line per chunk of epochs instead of a redrawn bar.

On a terminal a sweep shows tqdm's bar; when stderr is a file or a pipe (a batch job, ``2>
log.txt``) each redraw would be a line of carriage returns, so :class:`LineProgress` writes
one line per chunk instead (at most one per :func:`interval` seconds, the last always)::

    sweep [1/2 scheme=he_normal] 8 runs: epoch 3/10, 5,120 model-steps/s, 2.1 s, ETA 4.9 s

``initjax sweep --log-every SECONDS`` sets the interval; in Python::

    with ij.logs.interval(30):
        ij.sweep.run(...)
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

_INTERVAL: contextvars.ContextVar[float] = contextvars.ContextVar("log_interval", default=0.0)


@contextlib.contextmanager
def interval(seconds: float) -> Iterator[None]:
    """Within the block, file-style progress writes at most one line per ``seconds``."""
    if not seconds >= 0:
        raise ValueError(f"a log interval is a number of seconds >= 0, got {seconds!r}")
    token = _INTERVAL.set(float(seconds))
    try:
        yield
    finally:
        _INTERVAL.reset(token)


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress on ``stream`` (default stderr) is seen live: a TTY or a notebook
    (whose stderr is no TTY but draws tqdm's bar as a widget)."""
    stream = sys.stderr if stream is None else stream
    if "ipykernel" in sys.modules:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    s = max(round(seconds), 0)
    if seconds < 10:
        return f"{max(seconds, 0):.1f} s"
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class LineProgress:
    """tqdm's ``update``/``set_postfix_str``/``close``, written as one line per update."""

    def __init__(
        self,
        total: int,
        initial: int = 0,
        desc: str = "",
        unit: str = "epoch",
        stream: TextIO | None = None,
        every: float | None = None,
    ) -> None:
        self.total, self.n, self.start_n = total, initial, initial
        self.desc, self.unit = desc, unit
        self.stream = sys.stderr if stream is None else stream
        self.every = _INTERVAL.get() if every is None else every
        self.postfix = ""
        self.t0 = self.last = time.perf_counter()
        self.lines = 0

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.n >= self.total or now - self.last >= self.every or self.lines == 0:
            self.last = now
            self.write(now)

    def line(self, now: float) -> str:
        elapsed = now - self.t0
        done = self.n - self.start_n
        parts = [f"{self.unit} {self.n}/{self.total}"]
        if self.postfix:
            parts.append(self.postfix)
        parts.append(duration(elapsed))
        if self.n < self.total and done > 0:
            parts.append(f"ETA {duration(elapsed / done * (self.total - self.n))}")
        head = f"sweep {self.desc}: " if self.desc else "sweep: "
        return head + ", ".join(parts)

    def write(self, now: float) -> None:
        print(self.line(now), file=self.stream, flush=True)
        self.lines += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
