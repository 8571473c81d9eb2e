"""Sweep settings as a TOML file: ``initjax sweep --config sweep.toml``, ``--dump-config``.

The file holds the same settings as the flags, by the same names (``hidden``, ``sigmas``,
``batch_size``); a list for a Config field is an outer axis, as a comma list is on the
command line::

    # initjax sweep --config sweep.toml --epochs 3     (flags override the file)
    model = "mlp"
    hidden = [64]
    scheme = ["he_normal", "lecun_normal"]     # an outer axis
    sigmas = [0.5, 1.0, 2.0]                   # or "logspace:-2:0:5"
    seeds = 4                                  # or [0, 1, 2]
    dataset = "mnist1d"
    data_args = { n_train = 512 }

Reading turns the file into the flags it stands for (placed before the given flags, so that
those win) and the command line parser checks them as it checks flags. ``--dump-config``
prints the effective settings (file, flags and defaults, grids resolved) in this format; a
sweep with ``--out DIR`` stores them as ``DIR/sweep.toml``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from initjax import cli_args, train

FILE = "sweep.toml"
"""Where a sweep's effective settings are stored in its ``--out`` folder."""
GRID = ("seeds", "sigmas", "lrs")
OPTIONS = (
    "data_args", "data_dir", "checkpoint_every", "log_every", "out", "plugin", "max_memory",
    "seeds_per_program",
)  # fmt: skip
"""Sweep options (not Config fields, not grids) a file may set."""


SIMPLE_KINDS = ("int", "float", "str", "bool", "float|None", "str|Callable[...,Any]")
"""Config field annotations whose flags take plain text (the others take JSON)."""


class ConfigFileError(ValueError):
    """A config file that cannot be read, or that names an unknown setting."""


def keys() -> tuple[str, ...]:
    """Every key a config file may hold."""
    return (*GRID, *cli_args.config_field_names(), *OPTIONS)


def read(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML file; ConfigFileError names a missing file, a syntax error or
    an unknown key (with the valid ones)."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigFileError(f"cannot read config file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(f"config file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(table) - set(keys()))
    if unknown:
        raise ConfigFileError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; valid keys: "
            + ", ".join(keys())
        )
    return table


def _text(value: Any, sep: str = ",") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return sep.join(_text(v) for v in value)
    return str(value)


def _field_kinds() -> dict[str, str]:
    return {f.name: str(f.type).replace(" ", "") for f in dataclasses.fields(train.Config)}


def to_argv(table: dict[str, Any]) -> list[str]:
    """The flags a file's settings stand for, e.g. ``{"hidden": [[64], [256]]}`` →
    ``["--hidden", "64;256"]``."""
    kinds = _field_kinds()
    argv: list[str] = []
    for key, value in table.items():
        flag = cli_args.flag(key)
        kind = kinds.get(key, "")
        if key == "plugin":
            for p in [value] if isinstance(value, str) else value:
                argv += [flag, str(p)]
            continue
        if kind.startswith("tuple[tuple"):  # KEY=VALUE pairs: a table
            text = _text(value)
        elif kind.startswith("tuple["):  # a list field: a list of lists is an outer axis
            if isinstance(value, list) and value and isinstance(value[0], list):
                text = ";".join(_text(v) for v in value)
            else:
                text = _text(value)
        elif kind and kind not in SIMPLE_KINDS and not isinstance(value, str):
            text = json.dumps(value)
        else:
            text = _text(value)
        argv += [flag, text]
    return argv


def expand(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--config FILE`` replaced by the file's flags, right after the
    ``sweep`` command (so that flags given on the command line override them)."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--config" or arg.startswith("--config="):
            path = arg.removeprefix("--config=") if "=" in arg else None
            end = i + 1
            if path is None:
                if i + 1 >= len(argv):
                    raise ConfigFileError("--config needs a file: --config sweep.toml")
                path, end = argv[i + 1], i + 2
            rest = argv[:i] + argv[end:]
            at = rest.index("sweep") + 1 if "sweep" in rest else 0
            return rest[:at] + to_argv(read(path)) + rest[at:]
    return argv


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        if (
            value
            and isinstance(value[0], tuple)
            and len(value[0]) == 2
            and isinstance(value[0][0], str)
        ):
            return _toml(dict(value))  # scheme_kwargs: ((key, value), ...)
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def dump(
    cfg: train.Config,
    over: dict[str, list[Any]],
    grid: Any,
    options: dict[str, Any] | None = None,
) -> str:
    """The effective settings as TOML: grids, every Config field (outer axes as lists),
    then the given sweep ``options`` (None values left out: TOML has no null)."""
    lines = [
        "# initjax sweep --config FILE (flags given with it override these settings)",
        "",
        "# grid: the inner axes, one compiled program",
        f"seeds = {_toml([int(s) for s in grid.seeds])}",
        f"sigmas = {_toml([float(s) for s in grid.sigmas])}",
        f"lrs = {_toml([float(s) for s in grid.lrs])}",
        "",
        "# training configuration (initjax.train.Config; a list of values is an outer axis)",
    ]
    for f in dataclasses.fields(train.Config):
        value = over.get(f.name, getattr(cfg, f.name))
        if callable(value) and not isinstance(value, str):
            value = train.label(value)
        if value is None:
            continue
        if f.name in over:
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        lines.append(f"{f.name} = {_toml(value)}")
    extra = [(k, v) for k, v in (options or {}).items() if v not in (None, [], {})]
    if extra:
        lines += ["", "# sweep options"]
        lines += [f"{k} = {_toml(str(v) if isinstance(v, Path) else v)}" for k, v in extra]
    return "\n".join(lines) + "\n"
