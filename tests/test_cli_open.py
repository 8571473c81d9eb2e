"""The command line open to user code: --plugin, outer axes from flag lists, kill and resume
across outer values, and the same numbers as the library."""

import hashlib
import signal
import time

import numpy as np
import pytest
from test_cli import TIMEOUT, assert_same_arrays, initjax, start

from initjax import checkpoint, results, sweep, train

PLUGIN = """
import math
import jax
import jax.numpy as jnp
import initjax as ij


def student_t(scale=0.01, df=5.0):
    def init(key, shape, dtype=jnp.float32):
        z = jax.random.t(key, df, shape, jnp.float32) * math.sqrt((df - 2) / df)
        return (jnp.asarray(scale, jnp.float32) * z).astype(dtype)
    return init


ij.init.register("plug_t", student_t, scale_param="scale")
"""
EPOCHS = 20
OUTER = [
    "sweep",
    "--dataset", "mnist1d",
    "--model", "softmax",
    "--seeds", "2",
    "--sigmas", "0.01,0.1",
    "--epochs", str(EPOCHS),
    "--batch-size", "128",
    "--quiet",
]  # fmt: skip


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "my_inits.py"
    path.write_text(PLUGIN)
    return path


def sealed(out):
    root = out / checkpoint.CHECKPOINTS
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if (p / checkpoint.MANIFEST).exists()]


def test_scheme_list_on_the_cli_is_the_library_outer_axis(tmp_path, mnist1d_data):
    out = tmp_path / "outer"
    proc = initjax(*OUTER[:-1], "--scheme", "he_normal,xavier_normal", "--out", str(out),
                   "--epochs", "3", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2 scheme programs" in proc.stdout and "xavier_normal" in proc.stdout
    ds = results.load(out / "results.nc")
    assert list(ds.scheme.values) == ["he_normal", "xavier_normal"]
    assert not (out / sweep.PARTS).exists()  # parts are removed once joined
    cfg = train.Config(dataset="mnist1d", model="softmax", batch_size=128, epochs=3)
    lib = sweep.run(cfg, mnist1d_data, seeds=2, sigmas=[0.01, 0.1],
                    over={"scheme": ["he_normal", "xavier_normal"]}, progress=False)  # fmt: skip
    for name in lib.data_vars:
        if np.issubdtype(lib[name].dtype, np.number):
            np.testing.assert_allclose(ds[name].values, lib[name].values, rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(ds[name].values, lib[name].values, err_msg=name)
    assert ds.attrs["config"] == lib.attrs["config"]
    csv = __import__("pandas").read_csv(out / "results.csv")
    assert set(csv.scheme.dropna()) == {"he_normal", "xavier_normal"}


def test_plugin_scheme_sweep_killed_then_resumed_equals_uninterrupted(tmp_path, plugin):
    args = [*OUTER, "--plugin", str(plugin), "--scheme", "plug_t,he_normal"]
    ref = tmp_path / "ref"
    proc = initjax(*args, "--out", str(ref))
    assert proc.returncode == 0, proc.stderr
    expected = results.load(ref / "results.nc")
    assert list(expected.scheme.values) == ["plug_t", "he_normal"]
    provenance = expected.attrs["plugins"]
    assert hashlib.sha256(plugin.read_bytes()).hexdigest() in provenance
    assert str(plugin.resolve()) in provenance

    out = tmp_path / "killed"
    proc = start(*args, "--out", str(out))
    second = out / sweep.PARTS / "1"
    deadline = time.monotonic() + TIMEOUT
    while not sealed(second):
        assert proc.poll() is None, f"finished before the kill: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint of the second outer value"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / sweep.PARTS / "0" / "results.nc").exists() and not (out / "results.nc").exists()
    again = initjax(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "resuming from the checkpoint after epoch" in again.stderr
    assert_same_arrays(results.load(out / "results.nc"), expected)


def test_plugin_errors_and_unknown_registered_names_exit_2(tmp_path, plugin):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    proc = initjax(*OUTER, "--plugin", str(bad))
    assert proc.returncode == 2 and "boom" in proc.stderr and "Traceback" not in proc.stderr
    proc = initjax(*OUTER, "--plugin", str(tmp_path / "missing.py"))
    assert proc.returncode == 2 and "cannot read plugin" in proc.stderr
    proc = initjax(*OUTER, "--scheme", "plug_t")  # not registered without the plugin
    assert proc.returncode == 2 and "unknown scheme 'plug_t'" in proc.stderr
    listed = initjax("list", "--plugin", str(plugin))
    assert listed.returncode == 0 and "plug_t (scale: scale)" in listed.stdout
    assert "resmlp" in listed.stdout and "warmup_cosine" in listed.stdout
    proc = initjax(*OUTER, "--plugin", str(plugin), "--scheme", "plug_t", "--lr", "0.1,0.2")
    assert proc.returncode == 2 and "use --lrs for a grid" in proc.stderr
