"""Grids beyond memory run as seed chunks (same numbers, resumable across a chunk boundary),
and ``--dry-run`` estimates without training or writing."""

import contextlib
import signal
import time

import numpy as np
from test_cli import TIMEOUT, TINY, assert_same_arrays, initjax, start
from test_sweep import tiny_dataset

from initjax import checkpoint, memory, plan, results, sweep, train

CFG = train.Config(model="mlp", hidden=(16,), dataset="synthetic", num_classes=3,
                   batch_size=16, epochs=2)  # fmt: skip


class _SessionEnd(Exception):
    """The end of a session's machine, as a test stands it in."""


@contextlib.contextmanager
def _session_ends_after_one_program(monkeypatch):
    """Inside: the sweep's first program trains and saves, the second ends the session."""
    import pytest

    real, started = checkpoint.run, []

    def ends_after_one(*a, **k):
        if started:
            raise _SessionEnd
        started.append(1)
        return real(*a, **k)

    monkeypatch.setattr(sweep.checkpoint, "run", ends_after_one)
    with pytest.raises(_SessionEnd):
        yield
    monkeypatch.setattr(sweep.checkpoint, "run", real)


def test_a_grid_over_the_memory_budget_runs_in_seed_chunks_with_the_same_numbers():
    data = tiny_dataset()
    grid = sweep.Grid.make(range(5), [0.5, 1.0], [0.1])
    need = memory.estimate(CFG, grid, data).total
    budget = int(need * 0.6)
    chunks = plan.seed_chunks(CFG, grid, data, budget)
    assert len(chunks) > 1 and np.concatenate(chunks).tolist() == list(range(5))
    for c in chunks:
        sub = sweep.Grid.make(c.tolist(), [0.5, 1.0], [0.1])
        assert memory.estimate(CFG, sub, data).total <= budget
    whole = sweep.run(CFG, data, seeds=5, sigmas=[0.5, 1.0], progress=False)
    parts = sweep.run(CFG, data, seeds=5, sigmas=[0.5, 1.0], progress=False, max_memory=budget)
    assert parts.test_acc.dims == whole.test_acc.dims
    for name in whole.data_vars:
        np.testing.assert_allclose(parts[name].values.astype(float),
                                   whole[name].values.astype(float), rtol=1e-6, atol=1e-7,
                                   err_msg=name)  # fmt: skip
    one_seed = memory.estimate(CFG, sweep.Grid.make([0], [0.5, 1.0], [0.1]), data).total
    try:
        plan.seed_chunks(CFG, grid, data, one_seed // 2)
    except memory.TooBig as e:
        assert "one seed's grid" in str(e)
    else:
        raise AssertionError("a budget below one seed's grid must be refused")


CHUNKED = [
    "sweep", "--dataset", "mnist1d", "--model", "mlp", "--hidden", "32", "--seeds", "4",
    "--sigmas", "1,2", "--epochs", "20", "--batch-size", "128", "--quiet",
]  # fmt: skip


def _budget(mnist1d_data) -> str:
    cfg = train.Config(model="mlp", hidden=(32,), dataset="mnist1d", epochs=20, batch_size=128)
    grid = sweep.Grid.make(range(4), [1.0, 2.0], [0.1])
    return str(int(memory.estimate(cfg, grid, mnist1d_data).total * 0.7))  # two chunks of 2


def test_chunked_sweep_killed_after_the_first_chunk_resumes_to_the_same_file(
    tmp_path, mnist1d_data
):
    args = [*CHUNKED, "--max-memory", _budget(mnist1d_data)]
    ref = tmp_path / "ref"
    proc = initjax(*args, "--out", str(ref))
    assert proc.returncode == 0, proc.stderr
    expected = results.load(ref / "results.nc")
    assert expected.attrs["seed_chunks"] == "[2, 2]" and expected.sizes["seed"] == 4
    out = tmp_path / "killed"
    proc = start(*args, "--out", str(out))
    second = out / sweep.PARTS / "1" / checkpoint.CHECKPOINTS
    deadline = time.monotonic() + TIMEOUT
    while not (second.is_dir() and any((p / checkpoint.MANIFEST).exists()
                                       for p in second.iterdir())):  # fmt: skip
        assert proc.poll() is None, f"finished before the kill: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint in the second chunk"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # A dry run counts the finished first program out, and the second's epochs done.
    dry = initjax(*args, "--out", str(out), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    held = max(int(p.name) for p in second.iterdir() if (p / checkpoint.MANIFEST).exists())
    steps = (20 - held) * (mnist1d_data.num_train // 128)
    assert "1 finished in the output folder (read back, not trained), 1 to train" in dry.stdout
    assert "1 resuming from an epoch checkpoint there" in dry.stdout
    assert f"for {steps} steps" in dry.stdout, (held, dry.stdout)
    again = initjax(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert f"resuming from the checkpoint after epoch {held} of 20" in again.stderr
    assert "1 of 2 programs finished earlier (read back, not trained); 1 to train" in again.stderr
    assert_same_arrays(results.load(out / "results.nc"), expected)


def test_dry_run_prints_the_estimate_and_writes_nothing(tmp_path, mnist1d_data):
    out = tmp_path / "dry"
    proc = initjax(*CHUNKED, "--max-memory", _budget(mnist1d_data), "--dry-run", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "dry run: 2 program(s), 8 runs" in proc.stdout and "ETA" in proc.stdout
    assert "MB" in proc.stdout and not out.exists()


def test_dry_run_counts_the_programs_already_finished_in_out(tmp_path, monkeypatch, capsys):
    """A dry run into a folder with finished parts leaves them out of its ETA (as the run will
    read them back); a complete folder has nothing to train; another sweep's folder is
    refused as the run would refuse it. Nothing is written."""
    import pytest

    from initjax import cli

    args = [*TINY, "--seeds", "3", "--epochs", "2", "--seeds-per-program", "1"]
    steps_per_program = 2 * (128 // 32)  # epochs × batches of --data-args n_train=128

    out = tmp_path / "half"
    with _session_ends_after_one_program(monkeypatch):
        cli.main([*args, "--out", str(out)])
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    capsys.readouterr()

    assert cli.main([*args, "--out", str(out), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "3 program(s), 6 runs" in said
    assert "1 finished in the output folder (read back, not trained), 2 to train" in said
    assert f"for {2 * steps_per_program} steps" in said
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    # With --overwrite all three programs count, and the loss is said.
    assert cli.main([*args, "--out", str(out), "--dry-run", "--overwrite"]) == 0
    said = capsys.readouterr().out
    assert f"for {3 * steps_per_program} steps" in said
    assert f"--overwrite: the run would first discard everything {out} holds" in said
    # A folder another live sweep holds is refused, as the run would refuse it.
    from initjax import lock

    with lock.hold(out), pytest.raises(SystemExit) as e:
        cli.main([*args, "--out", str(out), "--dry-run"])
    assert e.value.code == 2 and "in use by another initjax sweep" in capsys.readouterr().err

    done = tmp_path / "done"
    assert cli.main([*args, "--out", str(done)]) == 0
    capsys.readouterr()
    assert cli.main([*args, "--out", str(done), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "3 program(s), 6 runs" in said and "nothing to train" in said and "ETA" not in said
    # The folder's sweep.toml keeps the chunking, so that it reproduces the folder's sweep.
    assert "seeds_per_program = 1" in (done / "sweep.toml").read_text()
    assert cli.main(["sweep", "--config", str(done / "sweep.toml"), "--out", str(done),
                     "--dry-run"]) == 0  # fmt: skip
    assert "nothing to train" in capsys.readouterr().out

    with pytest.raises(SystemExit) as e:
        cli.main([*args, "--sigmas", "0.5,1", "--out", str(done), "--dry-run"])
    assert e.value.code == 2
    said = capsys.readouterr().err  # the folder's state, not a flag: no usage text before it
    assert said.startswith("initjax sweep: error: ") and "holds a different sweep" in said
    assert "usage:" not in said
    with pytest.raises(SystemExit) as e:  # the same sweep, another chunking
        cli.main([*TINY, "--seeds", "3", "--epochs", "2", "--out", str(out), "--dry-run"])
    assert e.value.code == 2
    assert "run it again with --seeds-per-program 1" in capsys.readouterr().err


def test_a_sweep_stopped_between_seed_programs_resumes_on_a_fresh_machine_from_its_parts(
    tmp_path, monkeypatch, capsys
):
    """``seeds_per_program(1)``: each seed is a program whose finished results are sealed in
    ``out/parts/<j>/``. A run that ends after the first (a session's end) leaves that folder;
    copied alone with the sweep's fingerprint into a fresh folder, it is read back, not
    retrained, and the rerun equals the sweep done at once."""
    import shutil

    import pytest

    data = tiny_dataset()
    kw = {"seeds": 3, "sigmas": [0.5, 1.0], "progress": False}
    whole = sweep.run(CFG, data, **kw)

    first = tmp_path / "session1"
    with plan.seeds_per_program(1), _session_ends_after_one_program(monkeypatch):
        sweep.run(CFG, data, out=first, **kw)

    # What survives the session: its finished part, carried (as into docs/_parts) to a
    # folder of its own, then copied back into a fresh output folder.
    assert {p.name for p in (first / sweep.PARTS / "0").iterdir()} == {
        "fingerprint.json", "results.nc", "results.csv", "results.seal.json"
    }  # fmt: skip
    carried = tmp_path / "carried"
    assert sweep.carry_finished(first, carried) == 1
    assert sorted(str(p.relative_to(carried)) for p in carried.rglob("*") if p.is_file()) == [
        "fingerprint.json", "parts/0/fingerprint.json", "parts/0/results.nc",
        "parts/0/results.seal.json",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="lies inside"):
        sweep.carry_finished(tmp_path, carried)
    second = tmp_path / "session2"
    shutil.copytree(carried, second)
    trained: list[int] = []
    train_grid = checkpoint.engine.run
    monkeypatch.setattr(
        checkpoint.engine, "run", lambda *a, **k: trained.append(1) or train_grid(*a, **k)
    )
    capsys.readouterr()
    with plan.seeds_per_program(1):
        again = sweep.run(CFG, data, out=second, **kw)
    assert len(trained) == 2  # seeds 1 and 2; seed 0 was read back
    assert "1 of 3 programs finished earlier (read back, not trained); 2 to train" in (
        capsys.readouterr().err
    )
    assert again.attrs["seed_chunks"] == "[1, 1, 1]"
    for name in whole.data_vars:
        np.testing.assert_allclose(again[name].values.astype(float),
                                   whole[name].values.astype(float), rtol=1e-6, atol=1e-7,
                                   err_msg=name)  # fmt: skip
    # The chunking is part of what the folder holds: another N is refused, naming it.
    with (
        plan.seeds_per_program(2),
        pytest.raises(
            checkpoint.FingerprintMismatch, match=r"programs of 1\+1\+1 seeds.*--seeds-per-program"
        ),
    ):
        sweep.run(CFG, data, out=second, **kw)
    with pytest.raises(ValueError, match="positive integer"), plan.seeds_per_program(0):
        pass


def test_a_stop_asked_during_a_programs_last_epoch_seals_that_program_first(tmp_path, monkeypatch):
    """Ctrl-C in a program's last chunk: its results are written and sealed (so the part can be
    carried), then the sweep stops before the next program (before, the program was left as
    an epoch checkpoint, and the part was lost to a fresh machine)."""
    import pytest

    from initjax.checkpointer import Checkpointer

    class AskedLate:  # stands in for stop.StopOnSignal: a signal arrives in the last epoch
        requested = 0

        def __init__(self, *a):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    save = Checkpointer.save

    def saving(self, state):
        save(self, state)
        if int(state.epochs_done) == CFG.epochs:
            AskedLate.requested = 2

    monkeypatch.setattr(checkpoint.stop, "StopOnSignal", AskedLate)
    monkeypatch.setattr(Checkpointer, "save", saving)
    out = tmp_path / "stopped"
    with plan.seeds_per_program(1), pytest.raises(checkpoint.Interrupted, match="last epoch"):
        sweep.run(CFG, tiny_dataset(), seeds=2, sigmas=[0.5], out=out, progress=False)
    first = out / sweep.PARTS / "0"
    assert (first / "results.seal.json").exists() and not (first / checkpoint.CHECKPOINTS).exists()
    assert not (out / sweep.PARTS / "1").exists()


def test_a_chunking_change_names_the_flag_that_gives_the_folders_split_again():
    def how(old, new):
        return plan.chunking_change(old, new).split(": ", 1)[1]

    assert how([[1, 1, 1]], None) == "run it again with --seeds-per-program 1"
    assert how([[4, 3, 3]], [[10]]) == "run it again with --seeds-per-program 4"
    assert how([[2, 2], [2, 2]], None) == "run it again with --seeds-per-program 2"
    # split by memory, program by program (2+2 and 4 seeds): no one N gives it back
    assert "--max-memory" in how([[2, 2], [4]], None)
    assert how(None, [[2, 1]]).startswith("run it again without --seeds-per-program")
    # every old split comes back from the N named (ceil(S/N) balanced chunks)
    for seeds in range(1, 30):
        for n in range(1, seeds + 1):
            old = [[len(c) for c in plan._balanced(np.arange(seeds), n)]]
            k = int(how(old, None).rsplit(" ", 1)[1]) if len(old[0]) > 1 else None
            if k is not None:
                assert [len(c) for c in plan._balanced(np.arange(seeds), k)] == old[0]
