"""Ctrl-C and SIGTERM during a sweep: stop at the next safe point, or leave at once, cleanly.

The first SIGINT or SIGTERM asks for a stop: the sweep finishes its chunk, saves the
checkpoint and raises ``Interrupted``. A second one leaves at once with exit status
``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM) through ``os._exit``, after writing the
message. It does *not* raise KeyboardInterrupt: unwinding Python while XLA compiles on a
worker thread tears the CPU client down under it (a segfault, issue 17). Leaving at once is
safe because every file is written to a temporary name and renamed into place, and a
checkpoint counts only once sealed: what the next run finds is complete or ignored.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by ``signum``: 128 + its number."""
    return 128 + int(signum)


def _write(text: str) -> None:
    # os.write, not print: the handler may run while the main thread is inside a print to
    # stderr (a progress bar), where print would raise "reentrant call".
    try:
        os.write(2, text.encode())
    except OSError:
        pass


class StopOnSignal:
    """Context manager: first SIGINT/SIGTERM → ``requested`` (the signal number); second → exit.

    ``abort_message`` is printed before a second signal ends the process (e.g. how to resume).
    Handlers are installed only in the main thread and restored on exit.
    """

    def __init__(self, log: Callable[[str], None], abort_message: str = ""):
        self.requested = 0
        self.log = log
        self.abort_message = abort_message
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        name = NAMES.get(signum, f"signal {signum}")
        if self.requested:
            hint = self.abort_message or (
                "the last complete checkpoint is kept; run the same command again to resume"
            )
            _write(f"\n{name} again: aborted at once; {hint}\n")
            os._exit(exit_code(signum))
        self.requested = signum
        text = f"\n{name}: stopping after the current chunk (press Ctrl-C again to abort now)"
        try:
            self.log(text)
        except RuntimeError:  # reentrant write to stderr
            _write(text + "\n")

    def __enter__(self) -> StopOnSignal:
        """Install the handlers; inside another StopOnSignal, inherit its request."""
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
                outer = getattr(self._old[s], "__self__", None)
                if isinstance(outer, StopOnSignal) and outer.requested:
                    self.requested = outer.requested
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
            outer = getattr(old, "__self__", None)
            if isinstance(outer, StopOnSignal) and self.requested:
                outer.requested = self.requested
        self._old.clear()
