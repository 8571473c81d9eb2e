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
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import importlib.metadata
import json
import os
import random
import shutil
import socket
import struct
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

NAMES = ("fashion_mnist", "mnist1d", "synthetic")
NORMALIZATIONS = ("unit", "standard", "none")

# SHA-256 of the decompressed IDX bytes (equal for Zalando's and Debian's gz files).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_MNIST_URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
SYSTEM_DATA_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
DOWNLOAD_TIMEOUT_S = 5.0  # per connection and per read; no network must fail fast

_IDX_UBYTE = 0x08


class DataNotFoundError(FileNotFoundError):
    """A dataset is on none of the searched paths and could not be downloaded."""


class IDXFormatError(ValueError):
    """An IDX file is truncated, corrupt, or not the expected kind of IDX file."""


class ChecksumError(ValueError):
    """A file's decompressed content does not match its pinned SHA-256."""


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
        ``mnist1d.data.get_dataset_args()`` (e.g. ``seed``). synthetic: see `synthetic`.

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


def _atomic_write(path: Path, write: Any) -> None:
    """Calls ``write(file)`` on a temporary file next to ``path``, then renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


def _normalized(
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


# ----------------------------------------------------------------------------- IDX files


def _idx_bytes(path: Path) -> bytes:
    """The decompressed bytes of an IDX file (gzip-compressed or not)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise IDXFormatError(f"{path}: truncated gzip stream ({e})") from e
    except (gzip.BadGzipFile, zlib.error) as e:
        raise IDXFormatError(f"{path}: corrupt gzip data ({e})") from e


def _parse_idx(data: bytes, path: Path, ndim: int | None = None) -> np.ndarray:
    if len(data) < 4:
        raise IDXFormatError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _IDX_UBYTE or rank == 0 or (ndim is not None and rank != ndim):
        want = f"0x000008{ndim:02x}" if ndim is not None else "0x000008NN (unsigned bytes)"
        raise IDXFormatError(f"{path}: magic number 0x{data[:4].hex()}, expected {want}")
    header = 4 + 4 * rank
    if len(data) < header:
        raise IDXFormatError(f"{path}: header truncated ({len(data)} of {header} bytes)")
    shape = struct.unpack(f">{rank}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise IDXFormatError(
            f"{path}: header declares shape {shape} ({expected} bytes in all) "
            f"but the file has {len(data)} bytes"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an unsigned-byte IDX file (``.gz`` or plain) into a uint8 array of its shape.

    Raises `IDXFormatError` naming the file on a truncated or corrupt gzip stream, a magic number
    other than ``0x000008NN``, or a byte count that disagrees with the declared dimensions.
    """
    path = Path(path)
    return _parse_idx(_idx_bytes(path), path)


def _verify(path: Path, data: bytes) -> None:
    expected = FASHION_MNIST_SHA256[path.name]
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"{path}: SHA-256 of the decompressed content is {actual}, expected {expected}"
        )


@functools.lru_cache(maxsize=3)  # ~220 MB each
def _fashion_arrays(directory: Path, normalize: str, _stamp: tuple) -> Dataset:
    # Every file is parsed and the counts compared before any checksum is checked: a format
    # error says more about what is wrong than a checksum mismatch does.
    files = {}
    for name in FASHION_MNIST_SHA256:
        path = directory / name
        data = _idx_bytes(path)
        files[name] = path, data, _parse_idx(data, path, 3 if "images" in name else 1)
    arrays = []
    for prefix in ("train", "t10k"):
        (ipath, _, images), (lpath, _, labels) = (
            files[f"{prefix}-{kind}-ubyte.gz"] for kind in ("images-idx3", "labels-idx1")
        )
        if len(images) != len(labels):
            raise IDXFormatError(
                f"{ipath} has {len(images)} images but {lpath} has {len(labels)} labels"
            )
        arrays += [images.reshape(len(images), -1), labels.astype(np.int32)]
    for path, data, _ in files.values():
        _verify(path, data)
    x_train, y_train, x_test, y_test = arrays
    x_train, x_test = _normalized(x_train, x_test, normalize, 255.0)
    _readonly(x_train, y_train, x_test, y_test)
    return Dataset("fashion_mnist", x_train, y_train, x_test, y_test, 10, str(directory))


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
            directory = _download_fashion_mnist(cache_root() / "fashion_mnist")
        except DataNotFoundError as failed:
            raise DataNotFoundError(f"{not_found}\n{failed}") from None
    # The stamp makes a file replaced on disk miss the in-memory cache.
    stamp = tuple(
        (p.stat().st_mtime_ns, p.stat().st_size)
        for p in map(directory.joinpath, FASHION_MNIST_SHA256)
    )
    return _fashion_arrays(directory, normalize, stamp)


# ----------------------------------------------------------------------------- download


def _resolves(host: str, timeout: float) -> bool:
    """Whether ``host`` resolves within ``timeout`` (getaddrinfo alone can hang when offline)."""
    ok: list[bool] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, None)
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)


def _fetch(url: str, path: Path) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, path.open("wb") as f:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=None) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))


def _download_fashion_mnist(cache_dir: Path) -> Path:
    """Downloads the four files into a staging directory beside ``cache_dir``, verifies them, and
    only then moves them into ``cache_dir``; the staging directory is removed whatever happens."""
    override = os.environ.get("INITJAX_FASHION_MNIST_URL")
    failures: list[str] = []
    integrity_error: ValueError | None = None
    for base in (override,) if override else FASHION_MNIST_URLS:
        base = base if base.endswith("/") else base + "/"
        host = urllib.parse.urlsplit(base).hostname or ""
        if not _resolves(host, DOWNLOAD_TIMEOUT_S):
            failures.append(f"  {base}: cannot resolve host {host!r} (no network?)")
            continue
        staging = None
        try:
            cache_dir.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=cache_dir.parent, prefix=".download-"))
            for name in FASHION_MNIST_SHA256:
                path = staging / name
                _fetch(base + name, path)
                data = _idx_bytes(path)
                _parse_idx(data, path, 3 if "images" in name else 1)
                _verify(path, data)
            cache_dir.mkdir(exist_ok=True)
            for name in FASHION_MNIST_SHA256:
                os.replace(staging / name, cache_dir / name)
            return cache_dir
        except (IDXFormatError, ChecksumError) as e:
            integrity_error = type(e)(f"downloaded from {base}: {e}")
            failures.append(f"  {base}: {integrity_error}")
        except OSError as e:  # URLError, HTTPError, timeouts, and disk errors
            failures.append(f"  {base}: {e}")
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
    if integrity_error is not None:
        raise integrity_error
    raise DataNotFoundError("Download failed:\n" + "\n".join(failures))


# ----------------------------------------------------------------------------- MNIST-1D


def _load_mnist1d(data_dir: str | os.PathLike | None, normalize: str, **overrides: Any) -> Dataset:
    import mnist1d.data
    import mnist1d.utils

    args = mnist1d.data.get_dataset_args(as_dict=True)
    if unknown := sorted(set(overrides) - set(args)):
        raise ValueError(f"unknown mnist1d arguments {unknown}; valid: {sorted(args)}")
    args.update(overrides)
    # The file name pins the package version and every argument, so a change regenerates.
    key = [importlib.metadata.version("mnist1d"), {k: v for k, v in args.items() if k != "url"}]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(data_dir or cache_root() / "mnist1d").expanduser() / f"mnist1d-{digest}.npz"
    arrays = _read_npz(path)
    if arrays is None:
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
            _atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))
        except OSError as e:
            warnings.warn(f"could not cache MNIST-1D at {path}: {e}", stacklevel=3)
    x_train, x_test = _normalized(arrays["x_train"], arrays["x_test"], normalize, 1.0)
    y_train, y_test = arrays["y_train"], arrays["y_test"]
    _readonly(x_train, y_train, x_test, y_test)
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
    x_train, x_test = _normalized(x[:n_train], x[n_train:], normalize, 1.0)
    y_train, y_test = y[:n_train], y[n_train:]
    _readonly(x_train, y_train, x_test, y_test)
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
