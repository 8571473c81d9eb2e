"""Argument parsing for the ``initjax`` command: Config flags, grids, seeds.

Every :class:`initjax.train.Config` field becomes a flag (``hidden`` → ``--hidden``,
``batch_norm`` → ``--batch-norm/--no-batch-norm``), its help text taken from the field's
attribute docstring in ``config.py``, so ``--help`` says what the code says. Values that argparse
cannot check (ranges, cross-field rules) are checked by building the Config itself.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from initjax import data as datasets
from initjax import docfields, models, outer, train
from initjax import init as schemes

GRID_SYNTAX = (
    "a comma list (0,1e-3,1e-2), logspace:START:STOP:NUM (NUM values from 10**START to "
    "10**STOP) or linspace:START:STOP:NUM"
)
SEED_SYNTAX = "a count N (seeds 0..N-1), a comma list (0,1,2) or range:START:STOP"


def choices() -> dict[str, tuple[str, ...]]:
    """The valid values of every Config field that has a fixed set of them (registered
    schemes, models and optimizers included, e.g. from ``--plugin``)."""
    return {
        "model": models.names(),
        "optimizer": train.optimizer_names(),
        "schedule": train.SCHEDULES,
        "order": train.ORDERS,
        "scheme": schemes.names(),
        "bias_scheme": schemes.names(),
        "activation": models.activation_names(),
        "dataset": datasets.names(),
        "normalize": datasets.NORMALIZATIONS,
    }


def field_docs() -> dict[str, str]:
    """Each Config field's attribute docstring (the string literal after it in ``config.py``)."""
    return docfields.attribute_docs(train.Config)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# ----------------------------------------------------------------------------- value parsers


def _error(msg: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(msg)


MAX_SEEDS = 1_000_000
"""More seeds than this are refused at parse time (the memory check sees the rest)."""


def _items(text: str, example: str) -> list[str]:
    """``text`` split at commas; an empty item (``32,,32``, a trailing comma) is an error."""
    items = [v.strip() for v in text.split(",")]
    if text.strip() and any(not v for v in items):
        raise _error(f"empty item in {text!r}; expected comma-separated values like {example}")
    return [v for v in items if v]


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in _items(text, "256,128"))
    except ValueError:
        raise _error(f"expected comma-separated integers like 256,128, got {text!r}") from None


def str_list(text: str) -> tuple[str, ...]:
    return tuple(_items(text, "a,b"))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _error(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise _error(f"expected a positive integer (1 or more), got {text!r}")
    if value >= 2**31:
        raise _error(f"expected a positive integer below 2**31, got {text!r}")
    return value


def host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _error(
            f"expected HOST:PORT with a port in 1..65535, like 10.0.0.1:1234, got {text!r}"
        )
    return text


def out_dir(text: str) -> Path:
    if not text.strip():
        raise _error("expected a folder name, got an empty string (use --out . for this folder)")
    return Path(text)


def unusable_out(path: Path) -> str | None:
    """Why ``path`` cannot hold a sweep's files (None when it can); leaves nothing behind.

    Checked by doing it: the missing folders are created, a temporary file is written and
    everything created is removed again (permission bits do not bind root; a read-only mount
    or a special file system does).
    """
    if path.is_symlink() and not path.exists():
        return f"is a dangling symbolic link (to {os.readlink(path)})"
    if path.exists() and not path.is_dir():
        return "exists and is not a folder"
    missing = []
    here = path.absolute()
    while not here.exists():
        missing.append(here)
        here = here.parent
    if not here.is_dir():
        return f"{here} is a file, not a folder"
    try:
        for folder in reversed(missing):
            folder.mkdir()
        fd, probe = tempfile.mkstemp(prefix=".initjax-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"cannot write there ({e.strerror or e})"
    finally:
        for folder in missing:
            with contextlib.suppress(OSError):
                folder.rmdir()
    return None


_FLAG_WORDS = (("bias scheme", "bias_scheme"), ("diagnostic to record", "record"))


def name_flags(message: str, error: BaseException | None = None, scheme_kwargs: Any = ()) -> str:
    """``message`` prefixed with the flag it is about: a keyword of ``scheme_kwargs`` named
    in it, else the earliest Config field named in it."""
    if any(re.search(rf"\b{re.escape(str(k))}\b", message) for k, _ in scheme_kwargs):
        return f"{flag('scheme_kwargs')}: {message}"
    names = [f.name for f in dataclasses.fields(train.Config)]
    found = [(message.find(words), field) for words, field in _FLAG_WORDS if words in message]
    for name in names:
        if match := re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message):
            found.append((match.start(), name))
    if found:
        return f"{flag(min(found)[1])}: {message}"
    if isinstance(error, TypeError) and "argument" in message:
        return f"{flag('scheme_kwargs')}: {message}"
    return message


def _scalar(text: str) -> Any:
    """``"3"`` → 3, ``"0.5"`` → 0.5, ``"true"`` → True, ``"none"`` → None, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def key_values(text: str) -> dict[str, Any]:
    """``"mode=fan_avg,distribution=uniform"`` → ``{"mode": "fan_avg", ...}``."""
    out: dict[str, Any] = {}
    for item in _items(text, "mode=fan_avg,distribution=uniform"):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _error(
                f"expected KEY=VALUE pairs like mode=fan_avg,distribution=uniform, got {item!r}"
            )
        out[key.strip()] = _scalar(value)
    return out


def optional_float(text: str) -> float | None:
    if text.strip().lower() in ("none", "default"):
        return None
    try:
        return float(text)
    except ValueError:
        raise _error(f"expected a number or 'none', got {text!r}") from None


def grid_values(text: str) -> list[float]:
    """Parse a σ or lr grid: ``0,1e-3,1e-2``, ``logspace:-4:0:9`` or ``linspace:0:1:5``."""
    head, _, rest = text.partition(":")
    try:
        if head in ("logspace", "linspace"):
            parts = rest.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1 or not (math.isfinite(start) and math.isfinite(stop)):
                raise ValueError
            space = np.logspace if head == "logspace" else np.linspace
            values = [float(v) for v in space(start, stop, num)]
        else:
            values = [float(v) for v in _items(text, "0,1e-3,1e-2")]
    except (ValueError, OverflowError):
        raise _error(f"cannot read {text!r}; expected {GRID_SYNTAX}") from None
    if not values:
        raise _error(f"empty grid {text!r}; expected {GRID_SYNTAX}")
    return values


def seed_values(text: str) -> list[int]:
    """``8`` → 0..7, ``0,1,2`` → those, ``range:4:8`` → 4..7."""
    try:
        if text.startswith("range:"):
            start, stop = (int(v) for v in text.removeprefix("range:").split(":"))
            span: range | list[int] = range(start, stop)
        elif "," in text:
            span = [int(v) for v in _items(text, "0,1,2")]
        else:
            count = int(text)
            if count < 1:
                raise _error(f"the number of seeds must be >= 1, got {count}")
            span = range(count)
        n = span.stop - span.start if isinstance(span, range) else len(span)  # len() overflows
        if n > MAX_SEEDS:
            raise _error(f"{n:,} seeds is more than the {MAX_SEEDS:,} a sweep accepts")
        values = list(span)
    except ValueError:
        raise _error(f"cannot read seeds {text!r}; expected {SEED_SYNTAX}") from None
    if not values:
        raise _error(f"no seeds in {text!r}; expected {SEED_SYNTAX}")
    return values


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------- Config flags


class Outer(list):
    """Several values given for one Config field: an outer axis of the sweep."""


def _outer(one: Callable[[str], Any], sep: str) -> Callable[[str], Any]:
    """A parser that reads ``one`` value, or an :class:`Outer` list of them split on ``sep``."""

    def parse(text: str) -> Any:
        items = text.split(sep)
        if len(items) == 1:
            return one(text)
        if any(not item.strip() for item in items):
            raise _error(f"empty item in the list {text!r} (values separated by {sep!r})")
        return Outer(one(item.strip()) for item in items)

    return parse


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low not in ("true", "false", "1", "0", "yes", "no"):
        raise _error(f"expected true or false, got {text!r}")
    return low in ("true", "1", "yes")


ONE_VALUE = ("sigma", "lr", *outer.NOT_OUTER)  # flags of one value: not outer axes


def _converter(f: dataclasses.Field) -> tuple[Callable[[str], Any], str]:
    """Parser and metavar for a Config field, from its annotation (a string here).

    Scalar fields take a comma list and tuple fields a semicolon list of values: an outer
    axis (``--scheme he_normal,lecun_normal``, ``--hidden "64,64;256,256"``).
    """
    kind = str(f.type).replace(" ", "")
    table: dict[str, tuple[Callable[[str], Any], str]] = {
        "int": (_outer(int, ","), "N[,N...]"),
        "float": (_outer(float, ","), "X[,X...]"),
        "str": (_outer(str, ","), "NAME[,NAME...]"),
        "str|Callable[...,Any]": (_outer(str, ","), "NAME[,NAME...]"),
        "float|None": (optional_float, "X|none"),
        "tuple[int,...]": (_outer(int_list, ";"), "N,N,...[;N,N,...]"),
        "tuple[str,...]": (_outer(str_list, ";"), "NAME,...[;NAME,...]"),
        "tuple[tuple[str,Any],...]": (key_values, "KEY=VALUE,..."),
    }
    parse, metavar = table.get(kind, (_json_value, "JSON"))
    if f.name in ONE_VALUE:  # still parsed as a list, so that a list gets a clear error
        metavar = metavar.split("[", 1)[0]
    return parse, metavar


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field; defaults are None so that given flags can be told apart."""
    group = parser.add_argument_group(
        "training configuration (initjax.train.Config; each flag is one field)"
    )
    docs, valid = field_docs(), choices()
    for f in dataclasses.fields(train.Config):
        default = f.default
        doc = docs.get(f.name, "").replace("%", "%%")  # argparse %-formats help
        default_text = "none" if default is None else _show(default)
        if isinstance(default, bool):
            group.add_argument(
                flag(f.name),
                dest=f.name,
                nargs="?",
                const=True,
                type=_outer(_bool, ","),
                metavar="true,false",
                default=None,
                help=f"{doc} (default: {default_text}; `{flag(f.name)} true,false` sweeps both)",
            )
            group.add_argument(
                "--no-" + flag(f.name)[2:],
                dest=f.name,
                action="store_const",
                const=False,
                help=argparse.SUPPRESS,
            )
            continue
        convert, metavar = _converter(f)
        extra = ""
        if f.name in valid:
            extra = f" Choices: {', '.join(valid[f.name])}."
        group.add_argument(
            flag(f.name),
            dest=f.name,
            type=convert,
            metavar=metavar,
            default=None,
            help=f"{doc}{extra} (default: {default_text})",
        )


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return ",".join(f"{k}={v}" for k, v in value) or "(none)"
        return ",".join(str(v) for v in value) or "(none)"
    return str(value)


def config_from_args(args: argparse.Namespace) -> tuple[train.Config, dict[str, list[Any]]]:
    """The Config of the given flags (others at their defaults) and the outer axes (fields
    given several values, the first value going into the Config). ValueError names the
    problem and the flag."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(train.Config)
        if getattr(args, f.name, None) is not None
    }
    over = {k: list(v) for k, v in given.items() if isinstance(v, Outer)}
    for name in over:
        if name in ("sigma", "lr"):
            raise ValueError(f"{flag(name)} takes one value; use {flag(name)}s for a grid")
    base = {k: (v[0] if isinstance(v, Outer) else v) for k, v in given.items()}
    try:
        return train.Config(**base), over
    except TypeError as e:  # e.g. a JSON value of the wrong kind
        raise ValueError(str(e)) from None


def config_field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(train.Config)]


def memory_size(text: str) -> int:
    """``--max-memory``: ``8GB``, ``512MB`` or a number of bytes."""
    from initjax import memory

    try:
        value = memory.parse_size(text)
    except ValueError as e:
        raise _error(str(e)) from None
    if value <= 0:
        raise _error(f"the memory limit must be positive, got {text!r}")
    return value
