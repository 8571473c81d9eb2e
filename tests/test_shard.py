"""The grid sharded over several devices and processes equals the one-device grid."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import initjax as ij

WORKER = textwrap.dedent(
    """
    import json, sys
    import jax
    devices, nproc, pid, port, out = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                      int(sys.argv[4]), sys.argv[5])
    from initjax import shard
    shard.set_cpu_devices(devices)
    if nproc > 1:
        shard.initialize(f"127.0.0.1:{port}", nproc, pid)
    import initjax as ij
    data = ij.data.load("synthetic", n_train=256, n_test=128, dim=16, num_classes=4, seed=3)
    cfg = ij.train.Config(model="mlp", hidden=(32,), activation="tanh", scheme="he_normal",
                          dataset="synthetic", num_classes=4, batch_size=32, epochs=2)
    res = ij.sweep.run(cfg, data, seeds=3, sigmas=[0.5, 1.0], lrs=[0.1], progress=False)
    if jax.process_index() == 0:
        ij.results.save(res, out)
    print(json.dumps({"devices": jax.device_count(), "local": jax.local_device_count()}))
    """
)

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, devices, nproc, name):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"{name}.nc"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # the conftest's 2-device flag must not leak in
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(devices), str(nproc), str(pid), str(port), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in range(nproc)
    ]
    outputs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, stderr[-3000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    return ij.results.load(out), outputs


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    res, info = launch(tmp_path_factory.mktemp("one"), devices=1, nproc=1, name="one")
    assert info[0]["devices"] == 1
    return res


def assert_same(a, b):
    assert dict(a.sizes) == dict(b.sizes)
    for name in METRICS:
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(a.diverged.values, b.diverged.values)


def test_four_virtual_devices_equal_one_device_with_padding(tmp_path, reference):
    # 3 seeds × 2 sigmas = 6 cells over 4 devices: padded to 8, the pad never shows.
    res, info = launch(tmp_path, devices=4, nproc=1, name="four")
    assert info[0]["devices"] == 4
    assert res.sizes["seed"] == 3 and res.sizes["sigma"] == 2
    assert_same(res, reference)


def test_two_processes_equal_one_process(tmp_path, reference):
    res, info = launch(tmp_path, devices=2, nproc=2, name="two")
    assert [i["devices"] for i in info] == [4, 4]  # 2 processes × 2 local devices
    assert [i["local"] for i in info] == [2, 2]
    assert_same(res, reference)


# ---- the command line: --devices, multi-process, resume -------------------------------------

SWEEP = [
    "sweep",
    "--dataset",
    "synthetic",
    "--data-args",
    "n_train=256,n_test=128,dim=16,num_classes=4",
    "--num-classes",
    "4",
    "--model",
    "mlp",
    "--hidden",
    "32",
    "--activation",
    "tanh",
    "--scheme",
    "he_normal",
    "--batch-size",
    "32",
    "--seeds",
    "3",
    "--sigmas",
    "0.5,1.0",
    "--quiet",
    "--checkpoint-every",
    "1",
]


def cli(args, env_extra=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env_extra or {})}
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "initjax.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs, timeout=300):
    logs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-3000:]
        logs.append(out + err)
    return logs


def multi(out, epochs, port):
    return [
        cli(
            [
                *SWEEP,
                "--epochs",
                str(epochs),
                "--out",
                str(out),
                "--devices",
                "2",
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ]
        )
        for i in range(2)
    ]


def wait_for_checkpoint(out, procs, limit=240.0):
    import time

    from initjax.checkpoint import MANIFEST

    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        ckpts = out / "checkpoints"
        if ckpts.exists() and any((d / MANIFEST).exists() for d in ckpts.iterdir()):
            return
        if all(p.poll() is not None for p in procs):
            raise AssertionError("the sweep ended before writing a checkpoint")
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.slow  # ~30 s: three 2-process launches; the one-process sharded resume runs always
def test_multiprocess_sweep_with_checkpoints_resumes_to_the_same_result(tmp_path):
    # Reference: one process, one device, no interruption.
    finish([cli([*SWEEP, "--epochs", "4", "--out", str(tmp_path / "ref")])])
    ref = ij.results.load(tmp_path / "ref" / "results.nc")
    # Two processes × 2 devices; killed after their first checkpoint, then run again.
    out = tmp_path / "multi"
    procs = multi(out, 4, free_port())
    wait_for_checkpoint(out, procs)
    for p in procs:
        p.kill()
        p.communicate()
    assert not (out / "results.nc").exists()
    logs = finish(multi(out, 4, free_port()))
    assert all("resuming from the checkpoint after epoch" in log for log in logs), logs
    res = ij.results.load(out / "results.nc")
    assert_same(res, ref)
    for name in METRICS:  # the resumed grid is bit-identical to the uninterrupted one
        np.testing.assert_allclose(res[name].values, ref[name].values, rtol=1e-6)


def test_sharded_single_process_sweep_resumes_bit_identically(tmp_path):
    args = [*SWEEP, "--epochs", "4", "--devices", "4"]
    finish([cli([*args, "--out", str(tmp_path / "whole")])])
    out = tmp_path / "killed"
    p = cli([*args, "--out", str(out)])
    wait_for_checkpoint(out, [p])
    p.kill()
    p.communicate()
    (log,) = finish([cli([*args, "--out", str(out)])])
    assert "resuming from the checkpoint after epoch" in log
    whole = ij.results.load(tmp_path / "whole" / "results.nc")
    resumed = ij.results.load(out / "results.nc")
    for name in METRICS:
        np.testing.assert_array_equal(resumed[name].values, whole[name].values)
