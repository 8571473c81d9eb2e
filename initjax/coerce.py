"""Config field values: accept what is unambiguous, refuse the rest (issue 17).

A frozen dataclass takes anything: ``Config(hidden="32")`` would become widths (3, 2),
``hidden=(32.7,)`` width 32, ``epochs=np.int64(2)`` would be refused by an ``isinstance(int)``
check. :func:`coerce_fields` runs first in ``Config.__post_init__``: numpy scalars become
Python numbers, a dict of scheme kwargs is frozen to sorted pairs, one record name becomes a
1-tuple; strings for numbers, floats for integers, integers beyond int32 and a scheme kwarg
that σ would silently override raise ValueError naming the field.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from initjax import init as schemes

INT_FIELDS = (
    "batch_size", "epochs", "eval_batch_size", "probe_size", "num_classes", "data_seed",
    "step_epochs", "eval_every", "eval_examples", "base_width",
)  # fmt: skip
FLOAT_FIELDS = (
    "sigma", "bias_scale", "lr", "momentum", "weight_decay", "warmup_epochs", "step_gamma",
    "diverge_above",
)  # fmt: skip
BOOL_FIELDS = ("batch_norm", "evaluate", "readout_zero")
OPTIONAL = ("sigma", "bias_scale")
_INT32_MAX = 2**31 - 1


def as_int(name: str, value: Any) -> int:
    """``value`` as an int when it is one (numpy integers included); ValueError otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not -_INT32_MAX - 1 <= int(value) <= _INT32_MAX:
        raise ValueError(f"{name} must fit in int32 (|{name}| < 2**31), got {value!r}")
    return int(value)


def int_tuple(name: str, value: Any, what: str) -> tuple[int, ...]:
    """``value`` (an integer, or a tuple, list or array of them) as a tuple of ints;
    ValueError naming ``name`` and ``what`` it should be otherwise (a string, say)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, str | bytes) or not isinstance(value, tuple | list | np.ndarray):
        raise ValueError(f"{name} must be a tuple of {what}, got {value!r}")
    return tuple(as_int(f"{name}[{i}]", v) for i, v in enumerate(value))


def coerce_fields(cfg: Any) -> None:
    """Normalize the fields of the frozen Config ``cfg`` in place (see the module docstring)."""
    put = functools.partial(object.__setattr__, cfg)
    have = {f for f in cfg.__dataclass_fields__}
    if isinstance(cfg.scheme_kwargs, Mapping):
        put("scheme_kwargs", tuple(sorted(cfg.scheme_kwargs.items())))
    put("hidden", int_tuple("hidden", cfg.hidden, "integer widths like (256, 128)"))
    put("record", (cfg.record,) if isinstance(cfg.record, str) else tuple(cfg.record))
    if "eval_epochs" in have:
        epochs = int_tuple("eval_epochs", cfg.eval_epochs, "epochs like (1, 5)")
        put("eval_epochs", tuple(sorted(set(epochs))))
    for name in (n for n in INT_FIELDS if n in have):
        put(name, as_int(name, getattr(cfg, name)))
    for name in (n for n in FLOAT_FIELDS if n in have):
        value = getattr(cfg, name)
        if value is None and name in OPTIONAL:
            continue
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
        if name in OPTIONAL and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number or None, got {value!r}")
        put(name, float(value))
    for name in (n for n in BOOL_FIELDS if n in have):
        value = getattr(cfg, name)
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{name} must be True or False, got {value!r}")
        put(name, bool(value))
    scale = schemes.scale_param(cfg.scheme) if cfg.scheme in schemes.names() else None
    if scale is not None and scale in dict(cfg.scheme_kwargs):
        raise ValueError(
            f"scheme_kwargs sets {scale!r}, the scale argument of {cfg.scheme!r}, which sigma "
            "(the grid's σ) always sets; give it as sigma / --sigmas instead"
        )
