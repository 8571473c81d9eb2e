"""The one "valid choices" error that every lookup by name raises."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["unknown"]


def unknown(kind: str, value: Any, valid: Iterable[str], hint: str = "") -> ValueError:
    """``ValueError("unknown <kind> <value>; valid choices: a, b, c<hint>")``, to raise.

    Returned rather than raised, so that the traceback ends at the caller.

    >>> str(unknown("activation", "swishy", ["relu", "tanh"]))
    "unknown activation 'swishy'; valid choices: relu, tanh"
    """
    listed = ", ".join(valid) or "(none)"
    return ValueError(f"unknown {kind} {value!r}; valid choices: {listed}{hint}")
