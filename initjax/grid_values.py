"""Grid values checked as the engine sees them: seeds as int32, σ and lr as float32.

Uniqueness checked in 64 bits is not enough: ``seeds=[0, 2**32]`` or two σ equal in float32
would train the very same cell under two labels. Every check here names the offending values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def _listed(name: str, values: Iterable[Any]) -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a list of numbers, got {values!r}")
    out = list(np.asarray(values).ravel()) if isinstance(values, np.ndarray) else list(values)
    if not out:
        raise ValueError(f"{name} must be a non-empty 1-D list, got {values!r}")
    return out


def _repeated(name: str, labels: list[Any], cast: np.ndarray, kind: str) -> None:
    seen: dict[Any, Any] = {}
    for label, value in zip(labels, cast.tolist(), strict=True):
        if value in seen and seen[value] == label:
            raise ValueError(f"{name} has repeated values: {label!r} appears more than once")
        if value in seen:
            raise ValueError(
                f"{name} {seen[value]!r} and {label!r} are the same {kind} value {value!r}: "
                "both would train the very same cells; give distinct values"
            )
        seen[value] = label


def seeds(values: Iterable[Any]) -> np.ndarray:
    """Seeds as int64 labels: integers (integral floats accepted), distinct in int32."""
    values = _listed("seeds", values)
    for v in values:
        ok = isinstance(v, int | np.integer) or (
            isinstance(v, float | np.floating) and float(v).is_integer()
        )
        if isinstance(v, bool | np.bool_) or not ok:
            raise ValueError(f"seeds must be integers, got {v!r} in {values!r}")
    ints = [int(v) for v in values]
    if bad := [v for v in ints if not -(2**31) <= v < 2**31]:
        raise ValueError(f"seeds must fit in int32 (-2**31 <= seed < 2**31), got {bad[:5]}")
    _repeated("seeds", ints, np.asarray(ints, np.int32), "int32")
    return np.asarray(ints, np.int64)


def reals(name: str, values: Iterable[Any]) -> np.ndarray:
    """σ or lr values as float64 labels: numbers, finite, nonzero and distinct in float32."""
    listed = _listed(name, values)
    for v in listed:
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
            raise ValueError(f"{name} must be numbers, got {v!r} in {listed!r}")
    as64 = np.asarray(listed, np.float64)
    with np.errstate(over="ignore"):
        as32 = as64.astype(np.float32)
    if bad := [v for v, c in zip(listed, as32.tolist(), strict=True) if not np.isfinite(c)]:
        raise ValueError(f"{name} must be finite in float32 (|x| < 3.4e38), got {bad[:5]}")
    if bad := [v for v, c in zip(listed, as32.tolist(), strict=True) if v != 0 and c == 0]:
        raise ValueError(f"{name} {bad[:5]} round to 0 in float32 (|x| < 1.4e-45)")
    _repeated(name, as64.tolist(), as32, "float32")
    return as64
