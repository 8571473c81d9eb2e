"""Checkpoints of a sweep: exact round trip, validation, fallback, resume, Ctrl-C, fingerprints."""

import json
import os
import shutil
import signal

import jax
import numpy as np
import pytest

from initjax import checkpoint, data, results, sweep, train

CFG = train.Config(
    model="mlp",
    hidden=(8,),
    batch_norm=True,  # batch_stats in the state
    optimizer="adam",  # a non-empty optimizer state (moments and a step count)
    dataset="synthetic",
    batch_size=32,
    epochs=3,
)
SIGMAS = [0.5, 1.0, 2.0]  # 2 seeds × 3 σ = 6 cells: padded to 6 on 2 devices, 8 on 4


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", n_train=128, n_test=32, dim=8)


@pytest.fixture(scope="module")
def grid():
    return sweep.Grid.make(2, SIGMAS, [0.1])


@pytest.fixture(scope="module")
def states(tiny):
    """Every chunk's SweepState of one uninterrupted run, and its result."""
    seen = []

    def keep(s):  # copied to host: the next chunk donates (deletes) the device arrays
        seen.append(sweep.SweepState(s.epochs_done, jax.tree.map(np.asarray, s.state), s.metrics))

    res = sweep.run(CFG, tiny, 2, SIGMAS, progress=False, on_chunk=keep)
    return seen, res


def make(tmp_path, tiny, grid, log=None):
    fp = results.fingerprint(CFG, grid, tiny)
    logged = [] if log is None else log
    ck = checkpoint.Checkpointer(
        tmp_path / "checkpoints", CFG, grid, tiny, fp["hash"], log=logged.append
    )
    return ck, logged


def assert_states_equal(a, b, cells):
    assert a.epochs_done == b.epochs_done
    la, lb = jax.tree_util.tree_leaves(a.state), jax.tree_util.tree_leaves(b.state)
    assert jax.tree_util.tree_structure(a.state) == jax.tree_util.tree_structure(b.state)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(np.asarray(x)[:cells], np.asarray(y)[:cells])
    assert set(a.metrics) == set(b.metrics)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k][:cells], b.metrics[k][:cells], err_msg=k)


def test_round_trip_is_exact_and_keeps_the_last_two(tmp_path, tiny, grid, states):
    seen, _ = states
    ck, _ = make(tmp_path, tiny, grid)
    for s in seen:
        ck.save(s)
    ck.close()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2", "3"]
    restored = ck.restore(padded_cells=8)
    assert_states_equal(restored, seen[-1], grid.size)
    # Padding for another device count repeats cell 0 (what shard.pad_cells does).
    kernel = np.asarray(restored.state.params["hidden_0"]["kernel"])
    assert kernel.shape[0] == 8
    np.testing.assert_array_equal(kernel[6], kernel[0])


def corrupt_newest(root, step):
    files = [p for p in (root / str(step)).rglob("*") if p.is_file()]
    victim = max(files, key=lambda p: p.stat().st_size)
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, tiny, grid, states):
    seen, _ = states
    ck, log = make(tmp_path, tiny, grid)
    for s in seen[:2]:
        ck.save(s)
    ck.close()
    corrupt_newest(tmp_path / "checkpoints", 2)
    restored = ck.restore(padded_cells=grid.size)
    assert_states_equal(restored, seen[0], grid.size)
    assert any("checkpoint at epoch 2 is corrupt" in m and "checksum" in m for m in log)
    assert [p.name.split("-")[0] for p in (tmp_path / "corrupt").iterdir()] == ["2"]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["1"]


def test_unsealed_partial_or_foreign_checkpoints_are_not_resumed(tmp_path, tiny, grid, states):
    seen, _ = states
    ck, log = make(tmp_path, tiny, grid)
    ck.save(seen[0])
    ck.close()
    root = tmp_path / "checkpoints"
    (root / "1" / checkpoint.MANIFEST).unlink()  # killed between orbax's commit and our seal
    (root / "2.orbax-checkpoint-tmp-123").mkdir()  # killed mid-write
    assert ck.restore(padded_cells=grid.size) is None
    assert any("did not finish" in m for m in log)
    assert any("partially written" in m for m in log)
    assert any("starting again from epoch 0" in m for m in log)
    # A checkpoint of another sweep in the same place is refused too.
    other, log2 = make(tmp_path / "other", tiny, grid)
    other.hash = "0" * 64
    ck.save(seen[0])
    ck.close()
    shutil.copytree(root, tmp_path / "other" / "checkpoints", dirs_exist_ok=True)
    assert other.restore(padded_cells=grid.size) is None
    assert any("another sweep" in m for m in log2)


def test_run_resumes_after_an_abort_to_identical_results(tmp_path, tiny, grid, states, monkeypatch):
    _, reference = states
    save = checkpoint.Checkpointer.save

    def save_then_abort(self, state):
        save(self, state)
        if state.epochs_done == 2:
            raise KeyboardInterrupt  # a crash right after the second checkpoint

    monkeypatch.setattr(checkpoint.Checkpointer, "save", save_then_abort)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.run(CFG, tiny, grid, tmp_path, progress=False)
    monkeypatch.setattr(checkpoint.Checkpointer, "save", save)
    assert not (tmp_path / "results.nc").exists()
    outcome = checkpoint.run(CFG, tiny, grid, tmp_path, progress=False)
    assert outcome.resumed_from == 2 and not outcome.already_complete
    saved = results.load(tmp_path / "results.nc")
    for name in reference.data_vars:
        np.testing.assert_array_equal(saved[name].values, reference[name].values, err_msg=name)
    assert not (tmp_path / "checkpoints").exists()  # done: only the results stay
    again = checkpoint.run(CFG, tiny, grid, tmp_path, progress=False)
    assert again.already_complete and again.resumed_from is None


def test_sigint_stops_at_the_chunk_boundary_with_a_checkpoint(tmp_path, tiny, grid, monkeypatch):
    save = checkpoint.Checkpointer.save

    def save_and_press_ctrl_c(self, state):
        save(self, state)
        if state.epochs_done == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(checkpoint.Checkpointer, "save", save_and_press_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    logged = []
    with pytest.raises(checkpoint.Interrupted) as e:
        checkpoint.run(CFG, tiny, grid, tmp_path, progress=False, log=logged.append)
    assert (e.value.epochs_done, e.value.epochs) == (1, 3)
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    assert any("Ctrl-C" in m for m in logged)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["1"]


def test_fingerprint_names_what_differs(tmp_path, tiny, grid):
    fp = results.fingerprint(CFG, grid, tiny)
    assert fp == results.fingerprint(CFG, sweep.Grid.make(2, SIGMAS, [0.1]), tiny)
    other = results.fingerprint(
        CFG.replace(lr=0.5), sweep.Grid.make([0, 1, 2], SIGMAS, [0.1]), tiny
    )
    assert other["hash"] != fp["hash"]
    diff = results.differences(fp, other)
    assert "config.lr: 0.1 in the folder, 0.5 now" in diff
    assert "grid.seeds: [0, 1] in the folder, [0, 1, 2] now" in diff
    noisy = data.load("synthetic", n_train=128, n_test=32, dim=8, noise=0.1)
    (only,) = results.differences(fp, results.fingerprint(CFG, grid, noisy))
    assert only.startswith("dataset.sha256")  # same shapes, other labels: still caught
    results.write_json(tmp_path / checkpoint.FINGERPRINT, fp)
    checkpoint.check_folder(tmp_path, fp)  # the same sweep: fine
    with pytest.raises(checkpoint.FingerprintMismatch, match=r"config\.lr"):
        checkpoint.check_folder(tmp_path, other)
    (tmp_path / checkpoint.FINGERPRINT).unlink()
    (tmp_path / checkpoint.RESULTS).write_bytes(b"")
    with pytest.raises(checkpoint.FingerprintMismatch, match=r"no fingerprint\.json"):
        checkpoint.check_folder(tmp_path, fp)
    assert json.loads(json.dumps(fp)) == fp  # stored as plain JSON


# Config's fields when sweep folders first stored fingerprints (before lsuv_examples): a field
# added since must be in config.LATE_FIELDS, or every existing folder stops resuming.
FIELDS_BEFORE_LATE = {
    "activation", "base_width", "batch_norm", "batch_size", "bias_scale", "bias_scheme",
    "data_seed", "dataset", "diverge_above", "epochs", "eval_batch_size", "eval_every",
    "eval_examples", "evaluate", "hidden", "lr", "model", "momentum", "normalize",
    "num_classes", "optimizer", "order", "parametrization", "probe_size", "readout_zero",
    "record", "residual_init", "schedule", "scheme", "scheme_kwargs", "sigma", "step_epochs",
    "step_gamma", "warmup_epochs", "weight_decay",
}  # fmt: skip


def test_a_field_added_later_keeps_old_folders_resumable(tmp_path):
    import dataclasses

    from initjax import config

    fields = {f.name: f.default for f in dataclasses.fields(train.Config)}
    assert set(fields) - FIELDS_BEFORE_LATE == set(config.LATE_FIELDS)
    assert all(fields[k] == v for k, v in config.LATE_FIELDS.items())
    # A folder whose fingerprint was written before the late fields existed: at their defaults
    # the fingerprint is the same, so the sweep resumes; set, it is another sweep.
    cfg = train.Config(model="mlp", hidden=(8,), dataset="mnist1d", epochs=1)
    d = data.load("mnist1d")
    grid = sweep.Grid.make([0], [0.01], [0.1])
    fp = results.fingerprint(cfg, grid, d)
    assert not set(config.LATE_FIELDS) & set(fp["config"])
    old = json.loads(json.dumps(fp))  # as stored in fingerprint.json
    assert results.fingerprint(cfg, grid, d)["hash"] == old["hash"]
    changed = results.fingerprint(cfg.replace(lsuv_examples=16), grid, d)
    assert changed["hash"] != old["hash"]
    assert results.differences(old, changed) == [
        "config.lsuv_examples: (absent) in the folder, 16 now"
    ]


def test_a_zero_size_metric_is_checkpointed_and_resumed(tmp_path, tiny, monkeypatch):
    # Softmax regression has no hidden layer, so its per-layer saturation metric is empty
    # (cells, epochs, 0): orbax refuses to save zero-size arrays; they travel in the metadata.
    cfg = train.Config(model="softmax", dataset="synthetic", batch_size=32, epochs=3,
                       record=("saturation",), probe_size=64)  # fmt: skip
    reference = sweep.run(cfg, tiny, 2, [0.1, 1.0], progress=False)
    assert 0 in reference["saturation"].shape
    g = sweep.Grid.make(2, [0.1, 1.0], [cfg.lr])
    save = checkpoint.Checkpointer.save

    def save_then_abort(self, state):
        save(self, state)
        if state.epochs_done == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpointer, "save", save_then_abort)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.run(cfg, tiny, g, tmp_path, progress=False)
    monkeypatch.setattr(checkpoint.Checkpointer, "save", save)
    outcome = checkpoint.run(cfg, tiny, g, tmp_path, progress=False)
    assert outcome.resumed_from == 2
    saved = results.load(tmp_path / "results.nc")
    for name in reference.data_vars:
        np.testing.assert_array_equal(saved[name].values, reference[name].values, err_msg=name)
