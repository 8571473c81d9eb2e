"""Fault injection (issue 17): every fault is recovered from, or refused in one line naming it.

Classes: silent wrong numbers (damaged results, grid values that collapse after the engine's
casts, ambiguous Config values, bad data), one writer per folder (two live processes,
leftovers), crashes (double Ctrl-C during the first compile, SIGTERM, a full disk, unusable
paths, bad flags, grids that cannot fit) and blown-up cells that read as healthy. Kept fast:
the synthetic dataset or MNIST-1D, tiny grids.
"""

import errno
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from initjax import checkpoint, cli, data, lock, memory, results, space, stop, sweep, train

TINY = [
    "sweep",
    "--dataset", "synthetic",
    "--data-args", "n_train=128,n_test=32,dim=8",
    "--batch-size", "32",
    "--seeds", "2",
    "--sigmas", "0.01,1",
    "--epochs", "2",
    "--quiet",
]  # fmt: skip
LONG = [
    "sweep",
    "--dataset", "mnist1d",
    "--model", "softmax",
    "--batch-size", "32",
    "--seeds", "2",
    "--epochs", "400",
    "--quiet",
]  # fmt: skip
TIMEOUT = 240


def start(*args) -> subprocess.Popen:
    # No persistent compilation cache: every process compiles, so signals can land in it.
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    return subprocess.Popen(
        [sys.executable, "-m", "initjax.cli", *args],
        env={**env, "JAX_PLATFORMS": "cpu"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"exited ({proc.returncode}) before {path} appeared: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear in {timeout} s")
        time.sleep(0.01)


def digests(ds) -> dict[str, str]:
    return {n: results.digest(ds[n].values) for n in ds.data_vars}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A complete, sealed sweep folder (kept pristine: tests copy it)."""
    out = tmp_path_factory.mktemp("faults") / "done"
    assert cli.main([*TINY, "--out", str(out)]) == 0
    return out, results.load(out / "results.nc")


def copy_of(finished, tmp_path) -> Path:
    import shutil

    dest = tmp_path / "copy"
    shutil.copytree(finished[0], dest)
    return dest


def flip_byte(path: Path, at: float = 0.5) -> None:
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * at)] ^= 0x01
    path.write_bytes(bytes(raw))


# ----------------------------------------------------------------------------- wrong numbers


def test_finished_folder_is_sealed_and_a_flipped_byte_is_rebuilt_from_the_csv(
    finished, tmp_path, capsys
):
    out = copy_of(finished, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "fingerprint.json", "results.csv", "results.nc", "results.seal.json", "sweep.toml",
    ]  # fmt: skip
    flip_byte(out / "results.nc")
    with pytest.raises(results.DamagedResults, match="SHA-256 differs"):
        results.load(out / "results.nc")  # every load checks the seal
    capsys.readouterr()
    assert cli.main([*TINY, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "rebuilt from results.csv" in captured.err
    assert digests(results.load(out / "results.nc")) == digests(finished[1])  # bit-identical


def test_truncated_results_nc_is_rebuilt_from_the_csv(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / "results.nc").write_bytes((out / "results.nc").read_bytes()[:100])
    assert cli.main([*TINY, "--out", str(out)]) == 0
    assert "rebuilt from results.csv" in capsys.readouterr().err
    assert digests(results.load(out / "results.nc")) == digests(finished[1])


def test_damaged_csv_is_rewritten_from_the_verified_netcdf(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    before = (out / "results.csv").read_text()
    (out / "results.csv").write_text(before.replace("0.", "9.", 1))
    assert cli.main([*TINY, "--out", str(out)]) == 0
    assert "rewritten from the verified results.nc" in capsys.readouterr().err
    assert (out / "results.csv").read_text() == before


def test_both_damaged_is_refused_in_one_line_naming_both(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / "results.nc").write_bytes(b"\x89HDF\r\n")
    flip_byte(out / "results.csv", 0.9)
    assert cli.main([*TINY, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "results.nc" in err and "results.csv" in err and "retrain" in err


def test_results_from_before_sealing_are_checked_and_sealed(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / results.SEAL).unlink()
    assert cli.main([*TINY, "--out", str(out)]) == 0
    assert "had no content seal" in capsys.readouterr().err
    assert (out / results.SEAL).exists()
    assert digests(results.load(out / "results.nc")) == digests(finished[1])


def test_outer_sweep_results_are_sealed_and_its_folder_locked(tmp_path, capsys):
    out = tmp_path / "outer"
    argv = [*TINY, "--scheme", "he_normal,lecun_normal", "--out", str(out)]
    with lock.hold(out):
        assert "in use by another initjax sweep" in _usage_exit(argv, capsys)
    assert cli.main(argv) == 0
    before = digests(results.load(out / "results.nc"))
    assert "config" in before and "scheme" in results.load(out / "results.nc").dims
    flip_byte(out / "results.nc")
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "rebuilt from results.csv" in capsys.readouterr().err
    assert digests(results.load(out / "results.nc")) == before


def test_unreadable_netcdf_without_seal_names_the_file(tmp_path):
    path = tmp_path / "x.nc"
    path.write_bytes(b"not a netcdf file at all")
    with pytest.raises(results.DamagedResults, match=r"x\.nc cannot be read as netCDF"):
        results.load(path)


@pytest.mark.parametrize(
    ("seeds", "sigmas", "lrs", "message"),
    [
        ([0, 2**32], [1.0], [0.1], r"seeds must fit in int32.*4294967296"),
        ([0.5, 1.5], [1.0], [0.1], r"seeds must be integers, got 0\.5"),
        ([0], [0.1, 0.1 + 1e-12], [0.1], r"sigmas 0\.1 and 0\.1000000000010.*same float32"),
        ([0], [1.0], [1e39], r"lrs must be finite in float32.*1e\+39"),
        ([3, 3], [1.0], [0.1], r"seeds has repeated values: 3"),
    ],
)
def test_grid_values_are_checked_after_the_engine_casts(seeds, sigmas, lrs, message):
    with pytest.raises(ValueError, match=message):
        sweep.Grid.make(seeds, sigmas, lrs)


def test_sweep_run_refuses_fractional_seeds():
    tiny = data.load("synthetic", n_train=64, n_test=16, dim=4)
    cfg = train.Config(dataset="synthetic", batch_size=32, epochs=1)
    with pytest.raises(ValueError, match="seeds must be integers"):
        sweep.run(cfg, tiny, seeds=[0.5, 1.5], progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": "32"}, "hidden must be a tuple of integer widths"),
        ({"hidden": (32.7,)}, r"hidden\[0\] must be an integer, got 32\.7"),
        ({"epochs": 2.0}, "epochs must be an integer"),
        ({"lr": "0.1"}, "lr must be a number"),
        ({"batch_norm": "yes"}, "batch_norm must be True or False"),
        ({"epochs": 2**40}, "epochs must fit in int32"),
    ],
)
def test_ambiguous_config_values_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.Config(**kwargs)


def test_unambiguous_numpy_values_are_accepted():
    cfg = train.Config(
        model="mlp", hidden=[np.int64(16), 8], epochs=np.int64(2), lr=np.float32(0.5)
    )
    assert cfg == train.Config(model="mlp", hidden=(16, 8), epochs=2, lr=0.5)
    assert type(cfg.epochs) is int and type(cfg.hidden[0]) is int
    assert train.Config(record="weight_std").record == ("weight_std",)


def test_bad_data_is_rejected_naming_array_count_and_index():
    tiny = data.load("synthetic", n_train=64, n_test=16, dim=4)
    x = np.array(tiny.x_train)
    x[3, 1], x[9, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"x_train has 2 non-finite values.*index \(3, 1\)"):
        data.Dataset("synthetic", x, tiny.y_train, tiny.x_test, tiny.y_test, tiny.num_classes)
    y = np.array(tiny.y_test)
    y[7] = 99
    with pytest.raises(ValueError, match=r"y_test has 1 labels outside \[0, \d+\).*index 7"):
        data.Dataset("synthetic", tiny.x_train, tiny.y_train, tiny.x_test, y, tiny.num_classes)
    # Writeable arrays changed after construction are caught when training starts.
    ok = data.Dataset(
        "synthetic", np.array(tiny.x_train), tiny.y_train, tiny.x_test, tiny.y_test, 10
    )
    ok.x_train[0, 0] = np.nan
    cfg = train.Config(dataset="synthetic", batch_size=32, epochs=1)
    with pytest.raises(ValueError, match="x_train has 1 non-finite"):
        train.run(cfg, ok)


# ----------------------------------------------------------------------------- one writer


def test_second_live_process_exits_2_naming_the_holder_and_a_dead_ones_lock_is_taken_over(
    tmp_path,
):
    out = tmp_path / "locked"
    first = start(*LONG, "--out", str(out))
    try:
        wait_for(out / "fingerprint.json", first)
        second = start(*LONG, "--out", str(out))
        _, err = second.communicate(timeout=TIMEOUT)
        assert second.returncode == 2, err
        assert f"PID {first.pid}" in err and "in use by another initjax sweep" in err
        assert "usage:" not in err  # the folder's state, not a flag: the message alone
        # --overwrite must not clear a live sweep's folder either.
        third = start(*LONG, "--out", str(out), "--overwrite")
        _, err = third.communicate(timeout=TIMEOUT)
        assert third.returncode == 2 and f"PID {first.pid}" in err, err
        assert (out / "fingerprint.json").exists() and not (out / "corrupt").exists()
        assert first.poll() is None, "the first sweep must be unharmed"
    finally:
        first.kill()
        first.wait(timeout=30)
    assert (out / lock.LOCK).exists()  # left behind by the killed process
    with lock.hold(out):  # the kernel released it: taken over at once
        assert lock.holder(out).startswith(f"PID {os.getpid()} ")


def test_lock_in_process_refuses_a_second_holder(tmp_path):
    with lock.hold(tmp_path / "f"):
        with pytest.raises(lock.FolderLocked, match=f"PID {os.getpid()}"):
            with lock.hold(tmp_path / "f"):
                pass
    assert not (tmp_path / "f").exists()  # created by hold, left empty: removed


def test_rerun_cleans_leftover_temp_files_and_stale_checkpoints(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / ".results.nc.abc123.tmp").write_bytes(b"half")
    (out / "checkpoints" / "2").mkdir(parents=True)
    assert cli.main([*TINY, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert ".results.nc.abc123.tmp" in err and "results are complete" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "fingerprint.json", "results.csv", "results.nc", "results.seal.json", "sweep.toml",
    ]  # fmt: skip


# ----------------------------------------------------------------------------- crashes


def _double_sigint(out: Path, delay: float) -> tuple[int, str, str]:
    proc = start(*TINY, "--epochs", "50", "--out", str(out))
    wait_for(out / "fingerprint.json", proc)  # written just before the first compile
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, stdout, stderr


def test_stop_request_survives_nesting_and_handlers_are_restored():
    logged = []
    before = signal.getsignal(signal.SIGTERM)
    with stop.StopOnSignal(logged.append) as outer:
        os.kill(os.getpid(), signal.SIGTERM)
        assert outer.requested == signal.SIGTERM
        with stop.StopOnSignal(logged.append) as inner:
            assert inner.requested == signal.SIGTERM  # asked before training started
    assert signal.getsignal(signal.SIGTERM) is before
    assert logged and "SIGTERM: stopping after the current chunk" in logged[0]
    assert stop.exit_code(signal.SIGINT) == 130 and stop.exit_code(signal.SIGTERM) == 143


def test_double_ctrl_c_during_the_first_compile_never_crashes(tmp_path):
    trials = 10
    delays = [0.02 * i for i in range(trials)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(
            pool.map(lambda i: _double_sigint(tmp_path / f"t{i}", delays[i]), range(trials))
        )
    for i, (rc, stdout, stderr) in enumerate(outcomes):
        assert rc == 130, f"trial {i}: exit {rc}\n{stderr[-2000:]}"
        assert "Traceback" not in stderr and "Segmentation" not in stderr, f"trial {i}: {stderr}"
        assert "Resume with" in stderr + stdout or "resume with" in stdout, f"trial {i}"
        assert not list((tmp_path / f"t{i}").glob(".*.tmp")), "no half-written file"
    # The test is about signals landing before the first chunk: most trials must abort there.
    early = sum("Ctrl-C again: aborted at once" in err for _, _, err in outcomes)
    assert early >= trials // 2, f"only {early} of {trials} trials aborted during the compile"


def test_sigterm_stops_at_the_next_chunk_with_143(tmp_path):
    out = tmp_path / "term"
    proc = start(*LONG, "--out", str(out))
    wait_for(out / "checkpoints", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143, stderr
    assert "SIGTERM: stopping after the current chunk" in stderr and "resume with:" in stdout
    assert "Traceback" not in stderr
    saved = [p for p in (out / "checkpoints").iterdir() if (p / checkpoint.MANIFEST).exists()]
    assert saved and not (out / "results.nc").exists()
    assert not (out / lock.LOCK).exists()  # released on the way out


def test_disk_full_at_the_results_keeps_the_trained_state(tmp_path, capsys, monkeypatch):
    out = tmp_path / "full"

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results, "save", no_space)
    assert cli.main([*TINY, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("initjax sweep: error: disk full")
    assert str(out) in err and "needs about" in err
    assert (out / "checkpoints" / "2").is_dir()  # the last epoch is kept
    monkeypatch.undo()
    assert cli.main([*TINY, "--out", str(out)]) == 0
    assert "resuming from the checkpoint after epoch 2 of 2" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_disk_full_before_a_checkpoint_is_one_line_with_the_bytes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(space, "free_bytes", lambda folder: 500)
    assert cli.main([*TINY, "--out", str(tmp_path / "f")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "checkpoint after epoch 1 needs about" in err and "500 bytes free" in err


@pytest.fixture
def small_disk(tmp_path):
    """A real 100 kB file system (tmpfs; needs the right to mount, e.g. root in a container)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_a_real_full_disk_is_one_line_exit_1(small_disk):
    proc = start(*TINY, "--out", str(small_disk / "run"))
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines() == [stderr.strip()]  # one line, no traceback
    assert "disk full" in stderr and str(small_disk / "run") in stderr and "free" in stderr


def _usage_exit(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_unusable_out_paths_exit_2_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    cases = {
        "": "expected a folder name, got an empty string",
        "file": "exists and is not a folder",
        "file/sub": "is a file, not a folder",
        "dangling": "dangling symbolic link",
        "/sys/initjax-test/run": "cannot write there",
    }
    for out, expected in cases.items():
        assert expected in _usage_exit([*TINY, "--out", out], capsys), out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "file"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--hidden", "32,,32", "--model", "mlp"], "--hidden: empty item in '32,,32'"),
        (["--sigmas", "0.1,"], "empty item"),
        (["--seeds", "0,4294967296"], "--seeds: seeds must fit in int32"),
        (["--seeds", "99999999999"], "more than the 1,000,000"),
        (["--seeds", "99999999999999999999"], "more than the 1,000,000"),
        (["--seeds", "range:0:99999999999999999999"], "more than the 1,000,000"),
        (["--epochs", "99999999999999999999"], "--epochs: epochs must fit in int32"),
        (["--lr", "1e400"], "--lr: lr must be a positive finite number"),
        (["--momentum", "nan"], "--momentum: momentum must be in [0, 1)"),
        (["--checkpoint-every", "-3"], "expected a positive integer"),
        (["--devices", "0"], "expected a positive integer"),
        (["--record", "weight_std", "--probe-size", "100000"], "--probe-size: probe_size 100000"),
        (["--scheme-kwargs", "bogus=1"], "--scheme-kwargs"),
        (
            ["--scheme", "variance_scaling", "--scheme-kwargs", "distribution=bogus"],
            "--scheme-kwargs",
        ),
        (["--data-args", "n_train=-5"], "--data-args"),
        (["--data-args", "dim=99999999999"], "--data-args: cannot load dataset 'synthetic'"),
        (["--coordinator", "x", "--num-processes", "1", "--process-id", "0"], "HOST:PORT"),
        (["--bias-scheme", "normal", "--bias-scale", "nan"], "--bias-scale: bias_scale must be"),
        (["--scheme", "variance_scaling", "--scheme-kwargs", "scale=2"], "--scheme-kwargs"),
        (["--lrs", "1e-50"], "--lrs: lrs [1e-50] round to 0 in float32"),
    ],
)
def test_bad_flag_values_exit_2_naming_the_flag_and_write_nothing(args, expected, tmp_path, capsys):
    out = tmp_path / "out"
    assert expected in _usage_exit([*TINY, "--out", str(out), *args], capsys)
    assert not out.exists()


def test_library_sweep_into_a_folder_refuses_a_grid_that_cannot_fit(tmp_path, monkeypatch):
    tiny = data.load("synthetic", n_train=128, n_test=32, dim=8)
    cfg = train.Config(dataset="synthetic", batch_size=32, epochs=1)
    monkeypatch.setenv(memory.ENV, "10MB")
    with pytest.raises(memory.TooBig, match=r"needs about .* more than the 10\.00 MB"):
        checkpoint.run(cfg, tiny, sweep.Grid.make(5000, [1.0], [0.1]), tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing written, the lock's folder removed


def test_a_grid_that_cannot_fit_is_refused_with_estimate_and_limit(tmp_path, capsys, monkeypatch):
    out = tmp_path / "big"
    monkeypatch.setenv(memory.ENV, "1GB")
    # Seeds beyond memory run in chunks (plan.seed_chunks); one seed's σ grid cannot be split.
    line = _usage_exit([*TINY, "--sigmas", "linspace:0.1:1:100000", "--out", str(out)], capsys)
    assert "needs about" in line and "1.00 GB of $INITJAX_MEMORY_LIMIT" in line
    monkeypatch.delenv(memory.ENV)
    line = _usage_exit(
        [*TINY, "--model", "mlp", "--hidden", "100000,100000", "--out", str(out)], capsys
    )
    assert "needs about" in line and " GB" in line and "smaller model" in line
    assert not out.exists()


# ----------------------------------------------------------------------------- divergence


def test_blown_up_cells_never_read_as_healthy(tmp_path, capsys):
    out = tmp_path / "blow"
    argv = [*TINY, "--model", "mlp", "--hidden", "8", "--activation", "tanh", "--sigmas", "1"]
    assert cli.main([*argv, "--lrs", "0.1,1e6", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.split()[:2] == ["1", "1e+06"])
    # Counted as diverged (flagged by training, or marked * here), with no healthy mean.
    assert row.split()[-1].startswith("2/2") and row.split()[2] == "—"
    assert row.endswith("*") == ("counted as diverged" in text)
    table = pd.read_csv(out / "results.csv")
    blown = table[(table.variable == "blown_up") & (table.lr == 1e6)]
    flagged = table[(table.variable == "diverged") & (table.lr == 1e6)]
    assert (blown.value.to_numpy() + flagged.value.to_numpy() >= 1).all()
    healthy = table[(table.variable == "blown_up") & (table.lr == 0.1)]
    assert (healthy.value == 0).all()
    assert checkpoint.RESULTS in text


BUSY_IN_XLA = """
import sys, jax, jax.numpy as jnp, numpy as np
from initjax import stop

@jax.jit
def busy(x):  # minutes of matmuls in one XLA call: the main thread waits in C the whole time
    return jax.lax.fori_loop(0, 10**6, lambda i, y: jnp.tanh(y @ y), x)

x = jnp.eye(256) * 0.5
busy.lower(x).compile()
with stop.StopOnSignal(lambda m: print(m, file=sys.stderr, flush=True), "resume hint"):
    print("ready", flush=True)
    np.asarray(busy(x))  # waits in C for the result (block_until_ready would check signals)
print("finished: the second signal did not end the process", flush=True)
"""


def test_a_second_signal_ends_the_process_at_once_while_xla_runs_a_long_chunk(tmp_path):
    script = tmp_path / "busy.py"
    script.write_text(BUSY_IN_XLA)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # inside the XLA call
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the second SIGTERM did not end the process within 20 s")
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 143, stderr
    assert "SIGTERM: stopping after the current chunk" in stderr
    assert "SIGTERM again: aborted at once; resume hint" in stderr and "finished" not in stdout
