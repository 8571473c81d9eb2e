"""The Dataset container: train and test arrays, checked once, read-only when shared.

A :class:`Dataset` holds ``x`` float32 (N, D) and ``y`` int32 (N,) per split and refuses
anything else (wrong dtypes or shapes, non-finite features, labels out of range), naming the
array and the first bad index. :func:`normalized` applies :func:`initjax.data.load`'s
``normalize`` rule; the loaders in :mod:`initjax.data` and :mod:`initjax.fashion_mnist` build
their datasets with these.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["NORMALIZATIONS", "Dataset", "normalized", "readonly"]

NORMALIZATIONS = ("unit", "standard", "none")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test arrays: ``x`` float32 (N, D), ``y`` int32 (N,) in ``0..num_classes-1``.

    ``classes`` is the number of classes (0 = one more than the largest label); ``source`` says
    where the arrays came from (a directory, a cache file, or ``"generated"``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 2 or x.dtype != np.float32 or y.shape != (len(x),) or y.dtype != np.int32:
                raise ValueError(
                    f"{self.name} {split}: expected x float32 (N, D) and y int32 (N,), "
                    f"got x {x.dtype}{x.shape} and y {y.dtype}{y.shape}"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(f"{self.name}: train and test feature dims differ")
        self.validate()

    def validate(self) -> None:
        """Raise ValueError unless every feature is finite and every label in [0, classes).

        The message names the array, how many values are bad and the first one's index. Run at
        construction and again by training (arrays that are not read-only may have changed).
        """
        arrays = (self.x_train, self.y_train, self.x_test, self.y_test)
        if getattr(self, "_valid", False):
            return
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            _report(self.name, f"x_{split}", ~np.isfinite(x), "non-finite values (NaN or inf)")
            top = self.classes or None
            bad = (y < 0) if top is None else (y < 0) | (y >= top)
            allowed = "[0, num_classes)" if top is None else f"[0, {top})"
            _report(self.name, f"y_{split}", bad, f"labels outside {allowed}", y)
        if not any(a.flags.writeable for a in arrays):
            object.__setattr__(self, "_valid", True)  # read-only arrays cannot change

    @property
    def num_classes(self) -> int:
        return self.classes or int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_train(self) -> int:
        return len(self.x_train)

    @property
    def num_test(self) -> int:
        return len(self.x_test)

    def first(self, n_train: int, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` train and ``n_test`` (default: ``n_train``) test examples;
        0 keeps a split whole. The class count stays the full dataset's."""
        n_test = n_train if n_test is None else n_test
        if n_train < 0 or n_test < 0:
            raise ValueError(f"example counts must be ≥ 0, got {n_train} and {n_test}")
        tr, te = slice(n_train or None), slice(n_test or None)
        return dataclasses.replace(
            self, x_train=self.x_train[tr], y_train=self.y_train[tr], x_test=self.x_test[te],
            y_test=self.y_test[te], classes=self.num_classes,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.num_train}, test={self.num_test}, "
            f"input_dim={self.input_dim}, num_classes={self.num_classes}, source={self.source!r})"
        )


def _report(name: str, array: str, bad: np.ndarray, what: str, values: Any = None) -> None:
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = first[0] if len(first) == 1 else first
    shown = "" if values is None else f" (label {values[first]})"
    raise ValueError(
        f"dataset {name!r}: {array} has {int(bad.sum())} {what}; first at index {where}{shown}. "
        "Fix or drop those examples before training."
    )


def readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


def normalized(
    x_train: np.ndarray, x_test: np.ndarray, normalize: str, unit_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Float32 copies of ``x_train, x_test`` normalized as `load` documents."""
    if normalize == "standard":
        mean = x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = x_train.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std == 0] = 1.0
        # In float32: float64 temporaries of a (60000, 784) array cost seconds.
        return (
            ((x_train - mean) / std).astype(np.float32, copy=False),
            ((x_test - mean) / std).astype(np.float32, copy=False),
        )
    scale = unit_scale if normalize == "unit" else 1.0
    return (x_train / scale).astype(np.float32), (x_test / scale).astype(np.float32)
