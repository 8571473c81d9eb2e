"""Fashion-MNIST's files: the pinned checksums, the IDX reader, decoding, the verified download.

Xiao et al. 2017. The four official IDX gz files are read by :func:`read_idx` and checked
against the SHA-256 of their *decompressed* bytes (Debian recompressed the gz files, so their
bytes differ from Zalando's while the data is identical). :func:`download` fetches them into a
staging directory, verifies them and only then moves them into place. Where the files are
looked for, and when a download happens, is :func:`initjax.data.locate` and
:func:`initjax.data.load`'s business.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import socket
import struct
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import tqdm

from initjax.dataset import Dataset, normalized, readonly

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URLS",
    "ChecksumError",
    "DataNotFoundError",
    "IDXFormatError",
    "arrays",
    "download",
    "read_idx",
]

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
DOWNLOAD_TIMEOUT_S = 5.0  # per connection and per read; no network must fail fast

_IDX_UBYTE = 0x08


class DataNotFoundError(FileNotFoundError):
    """A dataset is on none of the searched paths and could not be downloaded."""


class IDXFormatError(ValueError):
    """An IDX file is truncated, corrupt, or not the expected kind of IDX file."""


class ChecksumError(ValueError):
    """A file's decompressed content does not match its pinned SHA-256."""


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
def arrays(directory: Path, normalize: str, _stamp: tuple) -> Dataset:
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
    x_train, x_test = normalized(x_train, x_test, normalize, 255.0)
    readonly(x_train, y_train, x_test, y_test)
    return Dataset("fashion_mnist", x_train, y_train, x_test, y_test, 10, str(directory))


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


def download(cache_dir: Path) -> Path:
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
