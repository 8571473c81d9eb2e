"""The ``initjax`` command, end to end: subprocess sweeps, kill/Ctrl-C and resume, bad flags.

The subprocess tests share one uninterrupted reference sweep (``reference``); every resumed
or recovered sweep must end with arrays *equal* to it, not merely close.
"""

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from initjax import checkpoint, cli, cli_args, results, sweep, train

EPOCHS = 12
SWEEP = [
    "sweep",
    "--dataset", "mnist1d",
    "--model", "softmax",
    "--seeds", "2",
    "--sigmas", "0.01,0.1",
    "--epochs", str(EPOCHS),
    "--batch-size", "128",
]  # fmt: skip
TINY = [
    "sweep",
    "--dataset", "synthetic",
    "--data-args", "n_train=128,n_test=32,dim=8",
    "--batch-size", "32",
    "--seeds", "2",
    "--sigmas", "0.01,1",
    "--quiet",
]  # fmt: skip
TIMEOUT = 240


_CACHE = {}


def _env() -> dict[str, str]:
    # Inherits XLA_FLAGS from conftest: the subprocesses see the same 2 CPU devices. They share
    # a persistent compilation cache, so only the first one compiles (same programs, same bits).
    return {**os.environ, "JAX_PLATFORMS": "cpu", **_CACHE}


@pytest.fixture(scope="module", autouse=True)
def _compilation_cache(tmp_path_factory):
    _CACHE["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    _CACHE["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    yield
    _CACHE.clear()


def initjax(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "initjax.cli", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        **kwargs,
    )


def start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "initjax.cli", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sealed_checkpoints(out: Path) -> list[int]:
    """Epochs of checkpoints whose save completed (orbax finalized, our manifest written)."""
    root = out / checkpoint.CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in root.iterdir()
        if p.name.isdigit() and (p / checkpoint.MANIFEST).exists()
    )


def wait_for_checkpoints(proc: subprocess.Popen, out: Path, count: int) -> list[int]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if len(found := sealed_checkpoints(out)) >= count:
            return found
        if proc.poll() is not None:
            pytest.fail(f"sweep exited ({proc.returncode}) before {count} checkpoints: "
                        f"{proc.communicate()}")  # fmt: skip
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no {count} checkpoints in {out} after {TIMEOUT} s")


def assert_same_arrays(a, b):
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "reference"
    proc = initjax(*SWEEP, "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out, proc, results.load(out / "results.nc")


def test_sweep_subprocess_writes_netcdf_equal_to_library_call(reference, mnist1d_data):
    out, proc, ds = reference
    assert dict(ds.sizes) == {"seed": 2, "sigma": 2, "lr": 1, "epoch": EPOCHS + 1, "layer": 1}
    assert str(out / "results.nc") in proc.stdout and "±" in proc.stdout  # summary table
    assert sorted(p.name for p in out.iterdir()) == [
        "fingerprint.json",
        "results.csv",
        "results.nc",
        "results.seal.json",
        "sweep.toml",  # the effective settings: initjax sweep --config reruns them
    ]
    cfg = train.Config(dataset="mnist1d", model="softmax", batch_size=128, epochs=EPOCHS)
    assert train.Config.from_json(ds.attrs["config"]) == cfg
    assert len(ds.attrs["git_commit"]) == 40 and ds.attrs["version_jax"]
    lib = sweep.run(cfg, mnist1d_data, seeds=2, sigmas=[0.01, 0.1], progress=False)
    for name in lib.data_vars:
        np.testing.assert_allclose(ds[name].values, lib[name].values, rtol=1e-6, err_msg=name)
    table = results.to_dataframe(ds)
    csv = __import__("pandas").read_csv(out / "results.csv")
    assert len(csv) == len(table) and list(csv.columns) == list(table.columns)


def test_sigkill_then_rerun_resumes_to_identical_results(reference, tmp_path):
    out = tmp_path / "killed"
    proc = start(*SWEEP, "--out", str(out), "--quiet")
    wait_for_checkpoints(proc, out, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "results.nc").exists(), "the sweep finished before it was killed"
    again = initjax(*SWEEP, "--out", str(out), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "resuming from the checkpoint after epoch" in again.stderr
    assert_same_arrays(results.load(out / "results.nc"), reference[2])


def test_ctrl_c_stops_cleanly_and_a_corrupt_checkpoint_falls_back(reference, tmp_path):
    out = tmp_path / "interrupted"
    args = [*SWEEP, "--out", str(out), "--quiet"]
    proc = start(*args)
    wait_for_checkpoints(proc, out, 2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, stderr
    assert "resume with:" in stdout
    assert "initjax sweep --dataset mnist1d" in stdout and f"--out {out}" in stdout
    assert "Traceback" not in stderr
    steps = sealed_checkpoints(out)
    assert len(steps) == 2 and not (out / "results.nc").exists()
    # Garble the middle of the newest checkpoint's largest array file.
    newest = out / checkpoint.CHECKPOINTS / str(steps[-1])
    victim = max((p for p in newest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = bytes(16)
    victim.write_bytes(bytes(data))
    again = initjax(*args)
    assert again.returncode == 0, again.stderr
    assert f"checkpoint at epoch {steps[-1]} is corrupt" in again.stderr
    assert f"resuming from the checkpoint after epoch {steps[0]}" in again.stderr
    assert (out / checkpoint.CORRUPT).is_dir()
    assert_same_arrays(results.load(out / "results.nc"), reference[2])


def test_finished_sweep_rerun_reports_complete_without_training(reference):
    out = reference[0]
    mtime = (out / "results.nc").stat().st_mtime_ns
    rc = cli.main([*SWEEP, "--out", str(out), "--quiet"])
    assert rc == 0
    assert (out / "results.nc").stat().st_mtime_ns == mtime


def test_fingerprint_mismatch_refuses_and_overwrite_proceeds(tmp_path, capsys):
    out = tmp_path / "fp"
    assert cli.main([*TINY, "--epochs", "1", "--out", str(out)]) == 0
    before = (out / "results.nc").read_bytes()
    with pytest.raises(SystemExit) as e:
        cli.main([*TINY, "--epochs", "2", "--sigmas", "0.01,2", "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "fingerprint mismatch" in err and "config.epochs: 1 in the folder, 2 now" in err
    assert "grid.sigmas: [0.01, 1.0] in the folder, [0.01, 2.0] now" in err
    assert "--overwrite" in err
    assert (out / "results.nc").read_bytes() == before
    # Same config (no recompile), another grid: --overwrite discards the old sweep.
    assert (
        cli.main([*TINY, "--epochs", "1", "--sigmas", "0.01,2", "--out", str(out), "--overwrite"])
        == 0
    )
    np.testing.assert_array_equal(results.load(out / "results.nc").sigma, [0.01, 2.0])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scheme", "gaussian"], ["unknown scheme 'gaussian'", "he_normal", "xavier_uniform"]),
        (["--activation", "swish9"], ["unknown activation 'swish9'", "relu", "tanh"]),
        (["--dataset", "cifar"], ["unknown dataset 'cifar'", "mnist1d", "fashion_mnist"]),
        (["--sigmas", "logspace:1:2"], ["logspace:START:STOP:NUM", "linspace:START:STOP:NUM"]),
        (["--sigmas", "0,a"], ["cannot read '0,a'", "a comma list"]),
        (["--seeds", "two"], ["cannot read seeds 'two'", "range:START:STOP"]),
        (["--epochs", "-1"], ["epochs must be a non-negative integer, got -1"]),
        (["--sigmas=-1,1"], ["sigmas must be finite and >= 0"]),
        (["--optimizer", "lbfgs"], ["unknown optimizer 'lbfgs'", "sgd", "nesterov", "adamw"]),
        (["--record", "nonsense"], ["unknown diagnostic to record 'nonsense'", "valid choices"]),
        (["--scheme-kwargs", "mode"], ["KEY=VALUE"]),
        (["--checkpoint-every", "0"], ["argument --checkpoint-every: expected a positive"]),
        (["--batch-size", "100000"], ["batch_size 100000 exceeds"]),
    ],
)
def test_bad_flags_exit_2_naming_valid_choices_and_write_nothing(args, expected, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        cli.main([*TINY, "--epochs", "1", "--out", str(out), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err
    assert not out.exists()


def test_unknown_experiment_and_command_exit_2(capsys):
    for argv in (
        ["run", "nonexistent"],
        ["frobnicate"],
        ["run", "d2l_softmax", "--quick", "--full"],
    ):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
    assert "d2l_softmax" in capsys.readouterr().err


def test_help_mentions_every_config_field(capsys):
    fields = [f.name for f in dataclasses.fields(train.Config)]
    for argv in (["--help"], ["sweep", "--help"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 0
        text = capsys.readouterr().out
        for name in fields:
            assert cli_args.flag(name) in text, f"{argv}: {name}"
    docs = cli_args.field_docs()
    assert set(docs) == set(fields), "every Config field has an attribute docstring"


def test_help_shows_a_list_only_for_flags_that_take_one(capsys):
    """A flag whose field cannot be an outer axis shows one value in --help, and a list
    given to it is refused naming the flag (not parsed as an axis)."""
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("lr", "epochs", "dataset", "num_classes", "normalize"):
        assert re.search(re.escape(cli_args.flag(name)) + r" (X|N|NAME) ", text), name
        assert cli_args.flag(name) + " X[" not in text and cli_args.flag(name) + " N[" not in text
    assert "--scheme NAME[,NAME...]" in text and "--batch-size N[,N...]" in text
    for argv, why in (
        (["--lr", "0.1,0.3"], "use --lrs"),
        (["--epochs", "2,3"], "cannot be an outer axis"),
    ):
        with pytest.raises(SystemExit) as e:
            cli.main(["sweep", "--model", "softmax", "--dataset", "mnist1d", *argv])
        assert e.value.code == 2
        assert why in capsys.readouterr().err, argv


@pytest.mark.skipif(shutil.which("initjax") is None, reason="console script not installed")
def test_console_script_help():
    proc = subprocess.run(["initjax", "--help"], capture_output=True, text=True, env=_env())
    assert proc.returncode == 0 and "--batch-size" in proc.stdout and "reproduce" in proc.stdout


def test_grid_and_seed_syntax():
    np.testing.assert_allclose(cli_args.grid_values("logspace:-4:0:5"), [1e-4, 1e-3, 1e-2, 0.1, 1])
    assert cli_args.grid_values("linspace:0:1:3") == [0.0, 0.5, 1.0]
    assert cli_args.grid_values("0,1e-3") == [0.0, 1e-3]
    assert cli_args.seed_values("3") == [0, 1, 2]
    assert cli_args.seed_values("5,7") == [5, 7]
    assert cli_args.seed_values("range:2:4") == [2, 3]
    assert cli_args.key_values("mode=fan_avg,scale=2") == {"mode": "fan_avg", "scale": 2}


def test_sweep_flags_build_the_config(tmp_path, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(
        ["sweep", "--model", "mlp", "--hidden", "16,8", "--no-batch-norm",
         "--scheme", "variance_scaling", "--scheme-kwargs", "mode=fan_avg,distribution=uniform",
         "--record", "weight_std", "--bias-scale", "none"]
    )  # fmt: skip
    cfg, over = cli_args.config_from_args(args)
    assert over == {}
    assert cfg == train.Config(
        model="mlp",
        hidden=(16, 8),
        scheme="variance_scaling",
        scheme_kwargs={"mode": "fan_avg", "distribution": "uniform"},
        record=("weight_std",),
    )


def test_sweep_without_out_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*TINY, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "nothing written" in out and "diverged" in out
    assert list(tmp_path.iterdir()) == []


def test_list_names_schemes_activations_datasets_experiments(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("he_normal (scale: gain)", "tanh", "mnist1d", "d2l_softmax:", "symmetry"):
        assert name in out
