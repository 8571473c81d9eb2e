"""Tests for initjax.data: IDX reading, lookup, download, caches, datasets and epoch order.

Every test runs with a private cache root and downloads off (see ``_isolated``); the download
tests serve files from a thread-local HTTP server on 127.0.0.1, never the internet.
"""

import contextlib
import dataclasses
import gzip
import hashlib
import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from initjax import data

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Written out again here (not read from the module) so that a changed constant fails a test.
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """A private cache root, no system path, no env data dir, no downloads."""
    monkeypatch.setenv("INITJAX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("INITJAX_DATA_DIR", raising=False)
    monkeypatch.delenv("INITJAX_FASHION_MNIST_URL", raising=False)
    monkeypatch.setenv("INITJAX_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "SYSTEM_DATA_DIRS", ())


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if not p.is_dir()] if root.exists() else []


@pytest.fixture
def real_dir(fashion_mnist) -> Path:
    """The directory Fashion-MNIST was found in (so: skipped when absent, per conftest's rule)."""
    return Path(fashion_mnist.source)


def link_real(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        (dst / f).symlink_to(src / f)
    return dst


# ----------------------------------------------------------------------------- small IDX files


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def write_fake_set(d: Path, n_train: int = 6, n_test: int = 4, n_train_labels: int | None = None):
    """Four small, well-formed IDX gz files (their checksums are of course not the pinned ones)."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n, n_labels in (
        ("train", n_train, n_train_labels or n_train),
        ("t10k", n_test, n_test),
    ):
        write_gz(d / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        write_gz(d / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(rng.integers(0, 10, n_labels)))
    return d


def test_read_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    gz = write_gz(tmp_path / "a.gz", idx_bytes(images))
    plain = tmp_path / "b"
    plain.write_bytes(idx_bytes(np.array([3, 1, 4])))
    np.testing.assert_array_equal(data.read_idx(gz), images)
    np.testing.assert_array_equal(data.read_idx(plain), [3, 1, 4])
    assert data.read_idx(gz).dtype == np.uint8


def defect(kind: str, path: Path) -> Path:
    """Writes to ``path`` an IDX gz file with the named defect."""
    good = idx_bytes(np.random.default_rng(0).integers(0, 256, (5, 28, 28)))
    if kind == "truncated gz":
        compressed = gzip.compress(good)
        path.write_bytes(compressed[: len(compressed) // 2])
    elif kind == "corrupt gz":
        raw = bytearray(gzip.compress(good))
        raw[-8:-4] = bytes(b ^ 0xFF for b in raw[-8:-4])  # the CRC-32 of the content
        path.write_bytes(bytes(raw))
    elif kind == "wrong magic":
        write_gz(path, idx_bytes(np.ones((5, 28, 28)), magic=0x00000D03))
    elif kind == "wrong item count":
        write_gz(path, good[:-784])  # header still says 5 images
    return path


DEFECTS = {
    "truncated gz": "truncated",
    "corrupt gz": "corrupt",
    "wrong magic": "magic number",
    "wrong item count": "bytes",
}


@pytest.mark.parametrize("kind", DEFECTS)
def test_read_idx_rejects_defects(tmp_path, kind):
    path = defect(kind, tmp_path / "x.gz")
    with pytest.raises(data.IDXFormatError, match=DEFECTS[kind]) as e:
        data.read_idx(path)
    assert str(path) in str(e.value)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("kind", DEFECTS)
def test_load_names_the_defective_file_and_caches_nothing(tmp_path, kind):
    d = write_fake_set(tmp_path / "src")
    bad = defect(kind, d / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(data.IDXFormatError, match=DEFECTS[kind]) as e:
        data.load("fashion_mnist", data_dir=d)
    assert str(bad) in str(e.value)
    assert files_in(tmp_path / "cache") == []


def test_load_rejects_mismatched_image_label_counts(tmp_path):
    d = write_fake_set(tmp_path / "src", n_train=6, n_train_labels=5)
    with pytest.raises(data.IDXFormatError, match=r"6 images but .* 5 labels") as e:
        data.load("fashion_mnist", data_dir=d)
    assert "train-images-idx3-ubyte.gz" in str(e.value)
    assert files_in(tmp_path / "cache") == []


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path):
    d = write_fake_set(tmp_path / "src")
    with pytest.raises(data.ChecksumError) as e:
        data.load("fashion_mnist", data_dir=d)
    message = str(e.value)
    assert str(d) in message and OFFICIAL_SHA256[FILES[0]] in message
    assert hashlib.sha256(gzip.open(d / FILES[0]).read()).hexdigest() in message


# ----------------------------------------------------------------------------- Fashion-MNIST


def test_pinned_checksums():
    assert data.FASHION_MNIST_SHA256 == OFFICIAL_SHA256


def test_system_files_match_pinned_sha256(real_dir):
    for f in FILES:
        with gzip.open(real_dir / f) as z:
            assert hashlib.sha256(z.read()).hexdigest() == OFFICIAL_SHA256[f], f


def test_fashion_mnist_unit(fashion_mnist):
    d = fashion_mnist
    assert (d.x_train.shape, d.x_test.shape) == ((60000, 784), (10000, 784))
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(d.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(d.y_test), [1000] * 10)
    assert (d.num_classes, d.input_dim, d.num_train, d.num_test) == (10, 784, 60000, 10000)
    # unit = raw / 255: every value is k / 255 for an integer k.
    k = d.x_train[:100].astype(np.float64) * 255
    np.testing.assert_allclose(k, np.rint(k), atol=1e-4)
    assert not d.x_train.flags.writeable


def test_fashion_mnist_standard(fashion_mnist, real_dir):
    raw_train = np.rint(fashion_mnist.x_train.astype(np.float64) * 255)
    raw_test = np.rint(fashion_mnist.x_test.astype(np.float64) * 255)
    std = data.load("fashion_mnist", data_dir=real_dir, normalize="standard")
    # Per feature, with the training set's mean and population std (StandardScaler).
    x = std.x_train.astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-5)
    mean, sd = raw_train.mean(axis=0), raw_train.std(axis=0)
    np.testing.assert_allclose(std.x_test, (raw_test - mean) / sd, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- lookup order


def test_lookup_order(tmp_path, monkeypatch):
    arg, env, system = tmp_path / "arg", tmp_path / "env", tmp_path / "system"
    cache = tmp_path / "cache" / "fashion_mnist"
    for d in (arg, env, cache, system):
        d.mkdir(parents=True)
        for f in FILES:
            (d / f).touch()  # locate checks presence only; load verifies content
    monkeypatch.setenv("INITJAX_DATA_DIR", str(env))
    monkeypatch.setattr(data, "SYSTEM_DATA_DIRS", (system,))
    assert data.locate("fashion_mnist", data_dir=arg) == arg
    assert data.locate("fashion_mnist") == env
    (arg / FILES[3]).unlink()
    with pytest.warns(UserWarning, match="passed over data_dir argument"):
        assert data.locate("fashion_mnist", data_dir=arg) == env
    monkeypatch.delenv("INITJAX_DATA_DIR")
    assert data.locate("fashion_mnist") == cache
    (cache / FILES[0]).unlink()
    assert data.locate("fashion_mnist") == system
    (system / FILES[1]).unlink()
    with pytest.raises(data.DataNotFoundError) as e:
        data.locate("fashion_mnist", data_dir=arg)
    message = str(e.value)
    for place in (arg, cache, system):
        assert str(place) in message
    assert "$INITJAX_DATA_DIR: not set" in message
    assert "apt-get install dataset-fashion-mnist" in message and "INITJAX_DATA_DIR=" in message
    assert isinstance(e.value, FileNotFoundError)


def test_load_reports_the_source_it_used(tmp_path, monkeypatch, real_dir):
    monkeypatch.setattr(data, "SYSTEM_DATA_DIRS", (real_dir,))
    env = link_real(real_dir, tmp_path / "env")
    monkeypatch.setenv("INITJAX_DATA_DIR", str(env))
    d = data.load("fashion_mnist")
    assert d.source == str(env)
    assert d.x_train.shape == (60000, 784)


def test_missing_data_without_download_fails_fast(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="Download disabled"):
        data.load("fashion_mnist")


# ----------------------------------------------------------------------------- download


@contextlib.contextmanager
def serve(directory: Path):
    """An HTTP server on 127.0.0.1 serving ``directory`` from a daemon thread; yields (url, log)."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, fmt, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_lands_in_cache(tmp_path, monkeypatch, real_dir, fashion_mnist):
    served = link_real(real_dir, tmp_path / "served")
    cache_root = tmp_path / "cache"
    monkeypatch.delenv("INITJAX_NO_DOWNLOAD")
    with serve(served) as (url, requests):
        monkeypatch.setenv("INITJAX_FASHION_MNIST_URL", url)
        d = data.load("fashion_mnist")
        assert sorted(requests) == sorted(f"/{f}" for f in FILES)
        raw = data.load("fashion_mnist", normalize="none")
        assert len(requests) == 4 and raw.source == d.source  # the second load used the cache
    assert d.source == str(cache_root / "fashion_mnist")
    assert sorted(p.name for p in files_in(cache_root)) == sorted(FILES)  # no staging left
    np.testing.assert_array_equal(d.x_train, fashion_mnist.x_train)
    np.testing.assert_array_equal(d.y_test, fashion_mnist.y_test)
    # "none" is the raw bytes as float32: unit * 255.
    np.testing.assert_array_equal(raw.x_test, np.rint(d.x_test.astype(np.float64) * 255))
    assert raw.x_train.max() == 255.0


@pytest.mark.parametrize("kind", ["checksum", "truncated gz"])
def test_bad_download_leaves_nothing(tmp_path, monkeypatch, kind):
    served = write_fake_set(tmp_path / "served")
    if kind == "truncated gz":
        defect(kind, served / FILES[0])
    error = data.ChecksumError if kind == "checksum" else data.IDXFormatError
    monkeypatch.delenv("INITJAX_NO_DOWNLOAD")
    with serve(served) as (url, requests):
        monkeypatch.setenv("INITJAX_FASHION_MNIST_URL", url)
        with pytest.raises(error, match=f"downloaded from {url}.*{FILES[0]}"):
            data.load("fashion_mnist")
        assert requests == [f"/{FILES[0]}"]
    assert files_in(tmp_path / "cache") == []


def test_unreachable_server_fails_fast(monkeypatch):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("INITJAX_NO_DOWNLOAD")
    monkeypatch.setenv("INITJAX_FASHION_MNIST_URL", f"http://127.0.0.1:{port}/")
    start = time.monotonic()
    with pytest.raises(data.DataNotFoundError, match="Download failed") as e:
        data.load("fashion_mnist")
    assert time.monotonic() - start < data.DOWNLOAD_TIMEOUT_S
    assert "Looked in" in str(e.value)


# ----------------------------------------------------------------------------- MNIST-1D


def test_mnist1d_generated_once_and_identical(tmp_path):
    import mnist1d.data

    rng_state = np.random.get_state()[1].copy()  # noqa: NPY002
    first = data.load("mnist1d")  # miss: generated, then cached
    # make_dataset seeds numpy's global RNG; load must leave it as it was.
    np.testing.assert_array_equal(np.random.get_state()[1], rng_state)  # noqa: NPY002
    cached = files_in(tmp_path / "cache")
    assert [p.suffix for p in cached] == [".npz"] and first.source == str(cached[0])
    second = data.load("mnist1d")  # hit
    assert (first.x_train.shape, first.x_test.shape) == ((4000, 40), (1000, 40))
    assert first.num_classes == 10 and set(np.unique(first.y_train)) == set(range(10))
    for field in ("x_train", "y_train", "x_test", "y_test"):
        a, b = getattr(first, field), getattr(second, field)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), field
    # A cached read imports nothing of the package (its pinned arguments give the file name).
    code = "import sys; from initjax import data; data.load('mnist1d'); print(sorted(sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(Path(data.__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "'mnist1d" not in proc.stdout and "'matplotlib" not in proc.stdout
    # The pinned arguments are the package's defaults (its download url aside), and the data
    # the same numbers as its own generator makes with them.
    defaults = mnist1d.data.get_dataset_args(as_dict=True)
    assert {k: v for k, v in defaults.items() if k != "url"} == data.MNIST1D_ARGS
    reference = mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())
    np.testing.assert_array_equal(first.x_train, reference["x"].astype(np.float32))
    np.testing.assert_array_equal(first.y_test, reference["y_test"])
    # A damaged cache file is regenerated, not trusted.
    cached[0].write_bytes(b"not a zip file")
    third = data.load("mnist1d")
    assert third.x_test.tobytes() == first.x_test.tobytes()


def test_mnist1d_standard_and_arguments(tmp_path):
    d = data.load("mnist1d", normalize="standard", data_dir=tmp_path / "m1d")
    assert len(files_in(tmp_path / "m1d")) == 1 and files_in(tmp_path / "cache") == []
    # "standard" is per feature with training statistics; "unit" is the generator's own scaling.
    x = d.x_train.astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-5)
    unit = data.load("mnist1d", data_dir=tmp_path / "m1d")
    np.testing.assert_array_equal(
        unit.x_test, data.load("mnist1d", data_dir=tmp_path / "m1d", normalize="none").x_test
    )
    assert abs(unit.x_train.std() - 1.0) < 0.05 and abs(unit.x_train.std(axis=0) - 1.0).max() > 0.05
    with pytest.raises(ValueError, match="unknown mnist1d arguments"):
        data.load("mnist1d", sead=1)


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_deterministic_and_balanced():
    a, b = data.load("synthetic", seed=3), data.load("synthetic", seed=3)
    c = data.load("synthetic", seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    assert (a.x_train.shape, a.x_test.shape, a.num_classes) == ((2048, 32), (512, 32), 10)
    for d in (a, data.synthetic(teacher_hidden=64, num_classes=4)):
        counts = np.bincount(d.y_train, minlength=d.num_classes)
        assert len(counts) == d.num_classes and counts.min() > 0.4 * len(d.y_train) / d.num_classes
    # A linear teacher's labels are (mostly) recovered by a least-squares linear readout.
    x = np.c_[a.x_train, np.ones(a.num_train)]
    w = np.linalg.lstsq(x, np.eye(10)[a.y_train], rcond=None)[0]
    assert (np.argmax(x @ w, axis=1) == a.y_train).mean() > 0.75


def test_synthetic_label_noise():
    clean, noisy = data.synthetic(), data.synthetic(noise=0.3)
    np.testing.assert_array_equal(clean.x_train, noisy.x_train)
    flipped = (clean.y_train != noisy.y_train).mean()
    assert abs(flipped - 0.3 * 0.9) < 0.05  # a uniform redraw keeps the label 1/10 of the time
    with pytest.raises(ValueError, match="noise"):
        data.synthetic(noise=1.5)


# ----------------------------------------------------------------------------- API surface


def test_names_and_bad_arguments():
    assert data.names() == ("fashion_mnist", "mnist1d", "synthetic")
    with pytest.raises(ValueError, match="fashion_mnist, mnist1d, synthetic"):
        data.load("cifar10")
    with pytest.raises(ValueError, match="unit, standard, none"):
        data.load("synthetic", normalize="minmax")


def test_dataset_is_frozen_and_checked():
    d = data.synthetic(n_train=8, n_test=4, dim=3)
    assert repr(d) == (
        "Dataset('synthetic', train=8, test=4, input_dim=3, num_classes=10, source='generated')"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        d.x_train[0, 0] = 1.0
    with pytest.raises(ValueError, match="float32"):
        data.Dataset("bad", d.x_train.astype(np.float64), d.y_train, d.x_test, d.y_test)


# ----------------------------------------------------------------------------- epoch order


def test_epoch_batches_drop_last():
    n, bs = 103, 10
    idx = jax.jit(lambda k: data.epoch_batches(k, n, bs))(jax.random.key(0))
    assert idx.shape == (10, 10) and idx.dtype == jnp.int32
    flat = np.asarray(idx).ravel()
    assert len(np.unique(flat)) == flat.size and flat.min() >= 0 and flat.max() < n
    other = data.epoch_batches(jax.random.key(1), n, bs)
    assert not np.array_equal(flat, np.asarray(other).ravel())
    # vmapped over keys (as a sweep does): every row is its own valid order.
    many = jax.vmap(lambda k: data.epoch_batches(k, n, bs))(jax.random.split(jax.random.key(2), 4))
    for row in np.asarray(many).reshape(4, -1):
        assert len(np.unique(row)) == 100


def test_epoch_batches_wraparound():
    idx = np.asarray(data.epoch_batches(jax.random.key(0), 10, 4, drop_last=False))
    assert idx.shape == (3, 4)
    flat = idx.ravel()
    assert set(flat) == set(range(10))
    np.testing.assert_array_equal(flat[10:], flat[:2])  # filled from the start of the order
    assert np.asarray(data.epoch_batches(jax.random.key(0), 8, 4, drop_last=False)).shape == (2, 4)


def test_epoch_batches_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        data.epoch_batches(jax.random.key(0), 5, 6)
    with pytest.raises(ValueError, match="batch_size"):
        data.epoch_batches(jax.random.key(0), 5, 0)


def test_first_keeps_the_class_count_and_zero_keeps_a_split_whole():
    from initjax.dataset import Dataset

    x, y = np.zeros((6, 2), np.float32), np.array([0, 0, 1, 1, 2, 2], np.int32)
    full = Dataset("toy", x, y, x[:4], y[:4])
    head = full.first(2, 0)
    assert (head.num_train, head.num_test) == (2, 4)
    assert head.num_classes == 3 and set(head.y_train.tolist()) == {0}  # not 1: the full count
    assert full.first(3).num_test == 3
    with pytest.raises(ValueError, match="≥ 0"):
        full.first(-1)
