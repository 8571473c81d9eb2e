"""Ctrl-C and SIGTERM during a sweep: stop at the next safe point, or leave at once, cleanly.

The first SIGINT or SIGTERM asks for a stop: the sweep finishes its chunk, saves the
checkpoint and raises ``Interrupted``. A second one leaves at once with exit status
``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM) through ``os._exit``, after writing the
message. It does *not* raise KeyboardInterrupt: unwinding Python while XLA compiles on a
worker thread tears the CPU client down under it (a segfault, issue 17). Leaving at once is
safe because every file is written to a temporary name and renamed into place, and a
checkpoint counts only once sealed: what the next run finds is complete or ignored.

Both hold while XLA runs a long chunk. Python runs a signal handler in the main thread
between bytecodes, so a main thread waiting in C for XLA (e.g. copying a result to the host)
would see the signals only when the chunk ends. So the signals are read by a watcher thread
from the interpreter's wakeup fd (``signal.set_wakeup_fd``), which the C-level handler writes
as the signal arrives; the Python handler acts too (at once when the main thread runs
Python), and each signal is acted on once, by whichever sees it first.
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
        self._wakeup: tuple[int, int, int] | None = None  # (read end, write end, old fd)
        self._lock = threading.Lock()
        self._seen = {"handler": 0, "watcher": 0}  # signals seen by each path
        self._acted = 0  # signals acted on

    def _abort(self, signum: int) -> None:
        name = NAMES.get(signum, f"signal {signum}")
        hint = self.abort_message or (
            "the last complete checkpoint is kept; run the same command again to resume"
        )
        _write(f"\n{name} again: aborted at once; {hint}\n")
        os._exit(exit_code(signum))

    def _on_signal(self, signum: int, source: str) -> None:
        """The first signal asks for a stop; the next one ends the process.

        Each signal reaches both the Python handler (in the main thread, when it next runs
        Python) and the watcher (at once): the k-th signal is acted on by whichever of the
        two sees it first (the handler may see two quick signals as one).
        """
        with self._lock:
            self._seen[source] += 1
            if self._seen[source] <= self._acted:
                return  # the other path has acted on it
            self._acted = self._seen[source]
            if self.requested:
                self._abort(signum)
            self.requested = signum
        name = NAMES.get(signum, f"signal {signum}")
        again = "press Ctrl-C" if name == "Ctrl-C" else f"send {name}"
        text = f"\n{name}: stopping after the current chunk ({again} again to abort now)"
        try:
            self.log(text)
        except RuntimeError:  # reentrant write to stderr
            _write(text + "\n")

    def _handle(self, signum: int, frame: Any) -> None:
        self._on_signal(signum, "handler")

    def _arm(self) -> None:
        """Start the watcher: it sees each signal through the wakeup fd as it arrives."""
        read, write = os.pipe()
        os.set_blocking(write, False)
        try:
            old = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            os.close(read)
            os.close(write)
            return
        self._wakeup = (read, write, old)
        threading.Thread(target=self._watch, args=(read,), daemon=True).start()

    def _watch(self, read: int) -> None:
        while True:
            try:
                got = os.read(read, 64)
            except OSError:
                return
            if not got:  # disarmed: the write end was closed
                return
            for signum in got:
                if signum in SIGNALS:
                    self._on_signal(signum, "watcher")

    def _disarm(self) -> None:
        if self._wakeup is not None:
            read, write, old = self._wakeup
            self._wakeup = None
            signal.set_wakeup_fd(old)
            os.close(write)  # the watcher reads EOF and ends
            os.close(read)

    def __enter__(self) -> StopOnSignal:
        """Install the handlers; inside another StopOnSignal, inherit its request."""
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
                outer = getattr(self._old[s], "__self__", None)
                if isinstance(outer, StopOnSignal) and outer.requested:
                    self.requested = outer.requested
            self._arm()
        return self

    def __exit__(self, *exc: object) -> None:
        self._disarm()
        for s, old in self._old.items():
            signal.signal(s, old)
            outer = getattr(old, "__self__", None)
            if isinstance(outer, StopOnSignal) and self.requested:
                outer.requested = self.requested
        self._old.clear()
