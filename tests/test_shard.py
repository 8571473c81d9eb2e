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
