"""The experiment machinery: finding experiments/, loading scripts by path, run, reproduce."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from initjax import checkpoint, cli, report, study

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = '''
"""A fake experiment for the machinery's tests."""
import json
from pathlib import Path

from initjax import results, study
from initjax.study import Row

NAME = "{name}"
ORDER = {order}
QUESTION = "does {name} work?"
CLAIMS = ("C9",)
RUNTIME = {{"quick": "0 s", "full": "0 s"}}
CONFIGS = {{"quick": 1, "full": 2}}


def run(out_dir, scale="quick", progress=True):
    if {fail}:
        raise RuntimeError("boom")
    results.write_json(Path(out_dir) / "numbers.json", {{"n": CONFIGS[scale]}})


def figures(out_dir):
    return []


def load(out_dir):
    return results.read_json(Path(out_dir) / "numbers.json") if hasattr(results, "read_json") \
        else __import__("json").loads((Path(out_dir) / "numbers.json").read_text())


def measure(saved):
    return {{"n": saved["n"]}}


def verdict(m):
    return [Row("C9: {name}", "n = 1", "here", str(m["n"]), m["n"] >= 1, "fine")]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))
'''


def fake_experiments(root, **fails):
    root.mkdir(parents=True, exist_ok=True)
    for order, (name, fail) in enumerate(fails.items()):
        body = SCRIPT.format(name=name, order=10 - order, fail=fail)
        (root / f"{name}.py").write_text(textwrap.dedent(body))
    (root / "_helper.py").write_text("X = 1\n")  # a helper beside the scripts, not one of them
    return root


def test_the_checkout_holds_every_experiment_and_no_helper_is_one():
    names = study.names()
    assert study.where() == ROOT / "experiments"
    assert names[:3] == ("d2l_softmax", "d2l_mlp", "symmetry") and names[-1] == "throughput"
    assert "throughput" not in study.names(include_extra=False)
    assert not any(n.startswith("_") for n in names)
    assert not (ROOT / "initjax" / "experiments").exists()


def test_where_prefers_the_explicit_folder_then_the_environment(tmp_path, monkeypatch):
    exps = fake_experiments(tmp_path / "mine", alpha=False)
    assert study.where(exps) == exps.resolve()
    monkeypatch.setenv(study.ENV, str(exps))
    assert study.names() == ("alpha",)
    monkeypatch.setenv(study.ENV, str(tmp_path / "nowhere"))
    with pytest.raises(study.ExperimentsNotFound, match=r"nowhere does not exist.*INITJAX"):
        study.where()


def test_where_finds_experiments_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(study.ENV)
    fake_experiments(tmp_path / "experiments", beta=False)
    monkeypatch.chdir(tmp_path)
    assert study.where() == (tmp_path / "experiments").resolve()
    assert study.names() == ("beta",)


def test_where_falls_back_to_the_source_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv(study.ENV)
    monkeypatch.chdir(tmp_path)  # no experiments/ here: the checkout initjax comes from
    assert study.where() == ROOT / "experiments"


def test_load_names_valid_choices_and_orders_by_ORDER(tmp_path):
    exps = fake_experiments(tmp_path / "e", first=False, second=False)
    assert study.names(exps) == ("second", "first")  # ORDER 9 before ORDER 10
    with pytest.raises(ValueError, match=r"unknown experiment 'third'; valid choices: first, sec"):
        study.load("third", exps)
    assert study.load("first", exps).QUESTION == "does first work?"


def test_reproduce_records_a_failure_and_goes_on(tmp_path):
    exps = fake_experiments(tmp_path / "e", good=False, bad=True)
    out = tmp_path / "runs"
    with pytest.raises(study.ExperimentsFailed) as e:
        study.reproduce("quick", out, progress=False, directory=exps)
    assert list(e.value.failed) == ["bad"]
    error = json.loads((out / "bad" / "error.json").read_text())
    assert error["error"] == "RuntimeError: boom" and "Traceback" in error["traceback"]
    assert report.load_verdict(out / "good")[0].claim == "C9: good"
    text = (out / "REPORT.md").read_text()
    assert re.search(
        r"^\| \[bad\]\(#bad\) \|.*\| error \| quick \| RuntimeError: boom \|$", text, re.M
    )
    with pytest.raises(ValueError, match="valid choices: bad, good"):
        study.reproduce("quick", out, only=["nonsense"], progress=False, directory=exps)
    with pytest.raises(ValueError, match="valid choices: quick, full"):
        study.reproduce("medium", out, progress=False, directory=exps)


def test_a_script_runs_on_its_own(tmp_path):
    exps = fake_experiments(tmp_path / "e", solo=False)
    done = subprocess.run(
        [sys.executable, str(exps / "solo.py"), "--full", "--out", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[pass] C9: solo" in done.stdout
    assert json.loads((tmp_path / "runs" / "solo" / "numbers.json").read_text()) == {"n": 2}
    assert json.loads((tmp_path / "runs" / "solo" / "run.json").read_text())["scale"] == "full"


def test_report_without_scripts_uses_saved_verdicts(tmp_path, monkeypatch):
    exps = fake_experiments(tmp_path / "e", kept=False)
    study.run_one("kept", tmp_path / "runs", directory=exps)
    monkeypatch.setenv(study.ENV, str(tmp_path / "gone"))
    text = study.report(tmp_path / "runs").read_text()
    assert "C9: kept" in text


def test_cli_run_outside_a_checkout_exits_2_saying_where(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(study.ENV)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(study, "_source_checkout", lambda: None)  # as from a wheel
    assert cli.main(["run", "saturation", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "no experiments/ folder found" in err and "--experiments DIR" in err
    assert cli.main(["reproduce", "--quick"]) == 2
    assert "INITJAX_EXPERIMENTS" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_cli_run_with_an_experiments_folder(tmp_path, capsys):
    exps = fake_experiments(tmp_path / "e", gamma=False)
    out = tmp_path / "runs"
    argv = ["run", "gamma", "--quick", "--quiet", "--out", str(out), "--experiments", str(exps)]
    assert cli.main(argv) == 0
    assert "[pass] C9: gamma" in capsys.readouterr().out
    assert (out / "REPORT.md").is_file()
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "delta", "--experiments", str(exps)])
    assert e.value.code == 2
    assert "valid choices: gamma" in capsys.readouterr().err


RESUMING = '''
"""Two checkpointed sweeps; the second fails while FAIL_MARKER exists (a killed run)."""
from pathlib import Path

import xarray as xr

from initjax import checkpoint, data, results, study, sweep, train
from initjax.study import Row

NAME = "resuming"
ORDER = 1
QUESTION = "does a failed run resume?"
CLAIMS = ("C9",)
RUNTIME = {"quick": "1 s", "full": "1 s"}
CFG = train.Config(model="softmax", dataset="synthetic", epochs=2, batch_size=32)
CONFIGS = {"quick": CFG, "full": CFG}
FAIL_MARKER = Path(__file__).with_suffix(".fail")


def run(out_dir, scale="quick", progress=True):
    ds = data.load("synthetic", n_train=96, n_test=32, dim=8)
    parts = []
    for part, sigma in (("a", 0.01), ("b", 0.1)):
        if part == "b" and FAIL_MARKER.exists():
            if FAIL_MARKER.read_text() == "stop":  # Ctrl-C at a chunk boundary
                raise checkpoint.Interrupted(1, 2)
            raise RuntimeError("killed")
        parts.append(sweep.run(CFG, ds, 2, sigmas=(sigma,), progress=False,
                               out=study.checkpoints(out_dir, part)).drop_attrs())
    results.save(xr.concat(parts, dim="sigma"), Path(out_dir) / "res.nc")


def figures(out_dir):
    return []


def load(out_dir):
    return results.load(Path(out_dir) / "res.nc")


def measure(res):
    return {"loss": float(res.train_loss.isel(epoch=-1).mean())}


def verdict(m):
    return [Row("C9: resuming", "finite", "here", f"{m['loss']:.3f}", m["loss"] > 0, "ok")]
'''


def test_a_run_into_a_folder_split_otherwise_is_refused_with_the_fix_not_failed(tmp_path, capsys):
    """``initjax run`` resuming a sweep folder with another --seeds-per-program: exit 2 with the
    flag that fits, no error.json (a refusal before training, not a failure), and no mention
    of --overwrite, which ``run`` does not have."""
    exps = tmp_path / "e"
    exps.mkdir()
    (exps / "resuming.py").write_text(RESUMING)
    (exps / "resuming.fail").touch()
    out = tmp_path / "runs"
    with pytest.raises(RuntimeError, match="killed"):
        study.run_one("resuming", out, directory=exps, progress=False)  # sweep a is kept
    (out / "resuming" / "error.json").unlink()
    argv = ["run", "resuming", "--out", str(out), "--experiments", str(exps), "--quiet"]
    rc = cli.main([*argv, "--seeds-per-program", "1"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "_checkpoints/a holds a different sweep" in err
    assert "run it again without --seeds-per-program" in err
    assert "--overwrite" not in err and "resuming failed" not in err
    assert not (out / "resuming" / "error.json").exists()


def test_a_failed_run_keeps_its_finished_sweeps_and_the_rerun_resumes_then_clears(
    tmp_path, monkeypatch, capsys
):
    import xarray as xr

    from initjax import grid

    exps = tmp_path / "e"
    exps.mkdir()
    (exps / "resuming.py").write_text(RESUMING)
    marker = exps / "resuming.fail"
    marker.touch()
    out = tmp_path / "runs"
    with pytest.raises(RuntimeError, match="killed"):
        study.run_one("resuming", out, directory=exps, progress=False)
    done_a = study.checkpoints(out / "resuming", "a")
    assert done_a == out / "resuming" / study.CHECKPOINTS / "a"
    assert (done_a / "results.nc").is_file()  # the finished sweep is kept
    assert not study.checkpoints(out / "resuming", "b").exists()
    assert (out / "resuming" / "error.json").is_file()  # a failure is recorded
    marker.write_text("stop")
    with pytest.raises(checkpoint.Interrupted):
        study.run_one("resuming", out, directory=exps, progress=False)
    assert not (out / "resuming" / "error.json").exists()  # a stop is not a failure
    assert (done_a / "results.nc").is_file()
    # On the command line a stop says how to resume and exits 130, in `run` and in `reproduce`
    # (which went on to the next experiment, counting the stop as a failure, before).
    from initjax import cli

    for command in (["run", "resuming"], ["reproduce"]):
        rc = cli.main([*command, "--out", str(out), "--experiments", str(exps), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 130 and "stopped" in err and "run the same command again" in err, err
        assert "resuming failed" not in err and "FAILED" not in err
        assert not (out / "resuming" / "error.json").exists()
    marker.unlink()
    calls = []
    real = grid.run
    monkeypatch.setattr(grid, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    rows = study.run_one("resuming", out, directory=exps, progress=False)
    assert rows[0].passed and len(calls) == 1  # part a was read back, only part b trained
    assert not (out / "resuming" / study.CHECKPOINTS).exists()  # cleared once saved
    monkeypatch.undo()
    study.run_one("resuming", tmp_path / "clean", directory=exps, progress=False)
    with xr.open_dataset(out / "resuming" / "res.nc") as a:
        with xr.open_dataset(tmp_path / "clean" / "resuming" / "res.nc") as b:
            xr.testing.assert_equal(a.train_loss.load(), b.train_loss.load())
