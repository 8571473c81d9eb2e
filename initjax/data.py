"""Datasets as numpy arrays, offline first: Fashion-MNIST, MNIST-1D and a synthetic teacher set.

``load(name)`` returns a `Dataset` with ``x`` float32 shaped (N, D) and ``y`` int32 shaped (N,).

Fashion-MNIST (Xiao et al. 2017) is read from the four official IDX gz files. The first of these
directories that holds all four is used (`locate`):

1. the ``data_dir`` argument;
2. ``$INITJAX_DATA_DIR``;
3. the user cache ``<cache root>/fashion_mnist``, where the cache root is ``$INITJAX_CACHE_DIR``,
   else ``$XDG_CACHE_HOME/initjax``, else ``~/.cache/initjax``;
4. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).

Every source is verified against the SHA-256 of the *decompressed* IDX bytes pinned below (Debian
recompressed the gz files, so their bytes differ from Zalando's while the data is identical). If no
directory has the files, they are downloaded into the cache (``$INITJAX_FASHION_MNIST_URL``
overrides the mirrors; ``download=False`` or ``INITJAX_NO_DOWNLOAD=1`` turns this off), verified,
and moved into place only when all four are good. Decoded arrays are cached in memory per process.

MNIST-1D (Greydanus 2020) is generated with the ``mnist1d`` package and cached as ``.npz``.

The container is :class:`initjax.dataset.Dataset`, and Fashion-MNIST's files (checksums, IDX
reader, download) are :mod:`initjax.fashion_mnist`; their public names are re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from initjax import fashion_mnist as fm
from initjax.atomic import atomic_path
from initjax.dataset import NORMALIZATIONS, Dataset, normalized, readonly
from initjax.fashion_mnist import (
    DOWNLOAD_TIMEOUT_S,
    FASHION_MNIST_SHA256,
    FASHION_MNIST_URLS,
    ChecksumError,
    DataNotFoundError,
    IDXFormatError,
    read_idx,
)

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URLS",
    "NAMES",
    "NORMALIZATIONS",
    "SYSTEM_DATA_DIRS",
    "ChecksumError",
    "DataNotFoundError",
    "Dataset",
    "IDXFormatError",
    "cache_root",
    "epoch_batches",
    "load",
    "locate",
    "names",
    "read_idx",
    "synthetic",
]

NAMES = ("fashion_mnist", "mnist1d", "synthetic")

SYSTEM_DATA_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)


def names() -> tuple[str, ...]:
    """The dataset names `load` accepts."""
    return NAMES


def load(
    name: str, *, data_dir: str | os.PathLike | None = None, normalize: str = "unit", **kwargs: Any
) -> Dataset:
    """Loads dataset ``name`` (one of `names`).

    Args:
      name: ``"fashion_mnist"``, ``"mnist1d"`` or ``"synthetic"``.
      data_dir: Fashion-MNIST: a directory holding the four IDX gz files (searched first).
        MNIST-1D: the directory for its ``.npz`` cache. Not accepted for ``synthetic``.
      normalize: ``"unit"``: Fashion-MNIST pixels / 255 (d2l's convention); MNIST-1D and
        synthetic as generated (both already have roughly zero mean, unit variance).
        ``"standard"``: per feature j, ``(x - mean_j) / std_j`` with the mean and population std
        of the *training* set, a feature with ``std_j == 0`` divided by 1 (scikit-learn's
        ``StandardScaler``, as in the Fashion-MNIST benchmark). ``"none"``: raw values
        (Fashion-MNIST 0..255 as float32).
      **kwargs: fashion_mnist: ``download`` (bool). mnist1d: overrides of
        :data:`MNIST1D_ARGS`, the generator's default arguments (e.g. ``seed``). synthetic: see `synthetic`.

    Returns:
      A `Dataset`; its arrays are read-only because loads share them.
    """
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(NAMES)}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalize {normalize!r}; valid: {', '.join(NORMALIZATIONS)}")
    if name == "fashion_mnist":
        return _load_fashion_mnist(data_dir, normalize, **kwargs)
    if name == "mnist1d":
        return _load_mnist1d(data_dir, normalize, **kwargs)
    if data_dir is not None:
        raise ValueError("synthetic data is generated; data_dir must be None")
    return synthetic(normalize=normalize, **kwargs)


# ----------------------------------------------------------------------------- paths and caches


def cache_root() -> Path:
    """``$INITJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/initjax``, else ``~/.cache/initjax``."""
    if root := os.environ.get("INITJAX_CACHE_DIR"):
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "initjax"


def _fashion_candidates(data_dir: str | os.PathLike | None) -> list[tuple[str, Path | None]]:
    env = os.environ.get("INITJAX_DATA_DIR")
    return [
        ("data_dir argument", Path(data_dir).expanduser() if data_dir is not None else None),
        ("$INITJAX_DATA_DIR", Path(env).expanduser() if env else None),
        ("user cache", cache_root() / "fashion_mnist"),
        *(("system path", d) for d in SYSTEM_DATA_DIRS),
    ]


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The first directory in the lookup order that holds all four Fashion-MNIST files.

    Only checks that the files exist; `load` verifies their content. Never downloads.
    Raises `DataNotFoundError` naming every place searched.
    """
    if name != "fashion_mnist":
        raise ValueError(f"locate only knows 'fashion_mnist' (files on disk), got {name!r}")
    looked = []
    for label, d in _fashion_candidates(data_dir):
        if d is None:
            looked.append(f"  {label}: not set")
            continue
        missing = [f for f in FASHION_MNIST_SHA256 if not (d / f).is_file()]
        if not missing:
            # A directory named on purpose but passed over would hide a typo: say so.
            for entry in looked[:2]:
                if not entry.endswith("not set"):
                    warnings.warn(
                        f"Fashion-MNIST: passed over {entry.strip()}; using {d}", stacklevel=2
                    )
            return d
        looked.append(f"  {label}: {d} (missing {', '.join(missing)})")
    raise DataNotFoundError(
        "Fashion-MNIST not found. Looked in:\n" + "\n".join(looked) + "\nProvide it by either\n"
        "  sudo apt-get install dataset-fashion-mnist   (installs /usr/share/datasets/fashion-mnist)\n"
        "  export INITJAX_DATA_DIR=/dir/with/the/files  (" + ", ".join(FASHION_MNIST_SHA256) + ")"
    )


def _load_fashion_mnist(
    data_dir: str | os.PathLike | None, normalize: str, download: bool | None = None
) -> Dataset:
    if download is None:
        download = os.environ.get("INITJAX_NO_DOWNLOAD", "") in ("", "0")
    try:
        directory = locate("fashion_mnist", data_dir)
    except DataNotFoundError as not_found:
        if not download:
            raise DataNotFoundError(
                f"{not_found}\nDownload disabled (download=False or INITJAX_NO_DOWNLOAD=1)."
            ) from None
        try:
            directory = fm.download(cache_root() / "fashion_mnist")
        except DataNotFoundError as failed:
            raise DataNotFoundError(f"{not_found}\n{failed}") from None
    # The stamp makes a file replaced on disk miss the in-memory cache.
    stamp = tuple(
        (p.stat().st_mtime_ns, p.stat().st_size)
        for p in map(directory.joinpath, FASHION_MNIST_SHA256)
    )
    return fm.arrays(directory, normalize, stamp)


# ----------------------------------------------------------------------------- MNIST-1D


MNIST1D_ARGS: dict[str, Any] = {
    "num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": [36, 60],
    "scale_coeff": 0.4, "max_translation": 48, "corr_noise_scale": 0.25,
    "iid_noise_scale": 2e-2, "shear_scale": 0.75, "shuffle_seq": False,
    "final_seq_length": 40, "seed": 42,
}  # fmt: skip
"""The generator's arguments that define "mnist1d" here: ``mnist1d.data.get_dataset_args()``
of mnist1d 0.0.2 (its download ``url`` aside), pinned so that reading the cached file needs no
import of the package (~0.7 s: it pulls in matplotlib); ``load("mnist1d", **overrides)``
changes them."""


def _load_mnist1d(data_dir: str | os.PathLike | None, normalize: str, **overrides: Any) -> Dataset:
    args = dict(MNIST1D_ARGS)
    if unknown := sorted(set(overrides) - set(args)):
        raise ValueError(f"unknown mnist1d arguments {unknown}; valid: {sorted(args)}")
    args.update(overrides)
    # The file name pins the package version and every argument, so a change regenerates.
    key = [importlib.metadata.version("mnist1d"), args]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(data_dir or cache_root() / "mnist1d").expanduser() / f"mnist1d-{digest}.npz"
    arrays = _read_npz(path)
    if arrays is None:
        import mnist1d.data
        import mnist1d.utils

        # make_dataset seeds numpy's and Python's global RNGs; put them back as they were.
        np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
        try:
            d = mnist1d.data.make_dataset(mnist1d.utils.ObjectView(args))
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)
        arrays = {
            "x_train": d["x"].astype(np.float32),
            "y_train": d["y"].astype(np.int32),
            "x_test": d["x_test"].astype(np.float32),
            "y_test": d["y_test"].astype(np.int32),
        }
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, allow_pickle=False, **arrays)
        except OSError as e:
            warnings.warn(f"could not cache MNIST-1D at {path}: {e}", stacklevel=3)
    x_train, x_test = normalized(arrays["x_train"], arrays["x_test"], normalize, 1.0)
    y_train, y_test = arrays["y_train"], arrays["y_test"]
    readonly(x_train, y_train, x_test, y_test)
    return Dataset("mnist1d", x_train, y_train, x_test, y_test, 10, str(path))


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing or unreadable (then regenerate)."""
    try:
        with np.load(path) as z:
            return {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


# ----------------------------------------------------------------------------- synthetic


def synthetic(
    *,
    n_train: int = 2048,
    n_test: int = 512,
    dim: int = 32,
    num_classes: int = 10,
    seed: int = 0,
    teacher_hidden: int = 0,
    noise: float = 0.0,
    normalize: str = "unit",
) -> Dataset:
    """Teacher–student Gaussian classification: ``x ~ N(0, I_dim)``, ``y = argmax_k f_k(x)``.

    The teacher is ``f(x) = x W`` (``teacher_hidden=0``) or ``f(x) = tanh(x W1) W2`` with
    ``W1_ij ~ N(0, 1/dim)``; the output columns of ``W`` / ``W2`` are Gaussian rescaled to unit
    norm so that no class wins by the length of its weight vector. With probability ``noise``
    a label is replaced by one drawn uniformly from all classes. Train and test are i.i.d.;
    the same ``seed`` gives the same arrays, and raising ``noise`` only flips more labels.
    """
    if min(n_train, n_test, dim) < 1 or num_classes < 2 or teacher_hidden < 0:
        raise ValueError(
            "need n_train, n_test, dim >= 1, num_classes >= 2, teacher_hidden >= 0; got "
            f"{n_train=}, {n_test=}, {dim=}, {num_classes=}, {teacher_hidden=}"
        )
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise is a probability in [0, 1], got {noise}")
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.standard_normal((n, dim))
    h = x
    if teacher_hidden:
        h = np.tanh(x @ (rng.standard_normal((dim, teacher_hidden)) / np.sqrt(dim)))
    w_out = rng.standard_normal((h.shape[1], num_classes))
    y = np.argmax(h @ (w_out / np.linalg.norm(w_out, axis=0)), axis=1)
    # Drawn whatever ``noise`` is, so that x and the clean labels do not depend on it.
    flip, random_labels = rng.random(n) < noise, rng.integers(num_classes, size=n)
    y = np.where(flip, random_labels, y).astype(np.int32)
    x_train, x_test = normalized(x[:n_train], x[n_train:], normalize, 1.0)
    y_train, y_test = y[:n_train], y[n_train:]
    readonly(x_train, y_train, x_test, y_test)
    return Dataset("synthetic", x_train, y_train, x_test, y_test, num_classes, "generated")


# ----------------------------------------------------------------------------- epoch order


@functools.partial(jax.jit, static_argnames=("n", "batch_size", "drop_last"))
def epoch_batches(key: jax.Array, n: int, batch_size: int, drop_last: bool = True) -> jax.Array:
    """Example indices for one epoch: a random permutation of ``range(n)`` cut into batches.

    Args:
      key: PRNG key; a new key per epoch gives a new order.
      n: number of examples (static).
      batch_size: examples per batch (static), ``1 <= batch_size <= n``.
      drop_last: True: ``n // batch_size`` full batches; the ``n % batch_size`` examples at the
        end of this epoch's permutation are skipped this epoch (a different set each epoch, as
        the permutation changes). The training engine uses this. False: ``ceil(n / batch_size)``
        batches, the last one filled up by wrapping around to the start of the permutation, so
        those few examples appear twice this epoch. (d2l's loader instead keeps a short last
        batch; fixed shapes are what let an epoch be one ``lax.scan``.)

    Returns:
      int32 array (num_batches, batch_size); each index at most once per epoch if drop_last.

    Example:
      >>> epoch_batches(jax.random.key(0), 10, 4).shape
      (2, 4)
    """
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, n={n}], got {batch_size}")
    perm = jax.random.permutation(key, n).astype(jnp.int32)
    if drop_last:
        num_batches = n // batch_size
        return perm[: num_batches * batch_size].reshape(num_batches, batch_size)
    num_batches = -(-n // batch_size)
    perm = jnp.concatenate([perm, perm[: num_batches * batch_size - n]])
    return perm.reshape(num_batches, batch_size)
