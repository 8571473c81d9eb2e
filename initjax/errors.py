"""The errors every registry raises by name: an unknown name (with the valid choices), a taken one."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["check_new_name", "unknown"]


def unknown(kind: str, value: Any, valid: Iterable[str], hint: str = "") -> ValueError:
    """``ValueError("unknown <kind> <value>; valid choices: a, b, c<hint>")``, to raise.

    Returned rather than raised, so that the traceback ends at the caller.

    >>> str(unknown("activation", "swishy", ["relu", "tanh"]))
    "unknown activation 'swishy'; valid choices: relu, tanh"
    """
    listed = ", ".join(valid) or "(none)"
    return ValueError(f"unknown {kind} {value!r}; valid choices: {listed}{hint}")


def check_new_name(
    kind: str, name: Any, taken: Collection[str], builtin: Collection[str], *, overwrite: bool
) -> None:
    """Raise ValueError unless ``name`` may be registered as a user's ``kind``.

    ``name`` must be an identifier-like string, not a built-in's, and not taken (unless
    ``overwrite``). Registries of init schemes and models share it, and so their messages.

    >>> check_new_name("model", "mlp", {"mlp"}, {"mlp"}, overwrite=True)
    Traceback (most recent call last):
    ValueError: 'mlp' is a built-in model; register yours under another name
    """
    if not isinstance(name, str) or not name.isidentifier():
        noun = kind.split()[-1]  # "init scheme" -> "a scheme name"
        raise ValueError(f"a {noun} name must be an identifier-like string, got {name!r}")
    if name in builtin:
        raise ValueError(f"{name!r} is a built-in {kind}; register yours under another name")
    if name in taken and not overwrite:
        raise ValueError(
            f"{kind} {name!r} is already registered; pass overwrite=True to replace it "
            "or choose another name"
        )
