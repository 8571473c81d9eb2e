"""Progress for log files: one line per chunk, at most one per interval, the last always."""

import io

import pytest

from initjax import logs


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_one_line_per_update_with_epoch_rate_and_eta(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(logs.time, "perf_counter", clock)
    out = io.StringIO()
    bar = logs.LineProgress(total=4, desc="[1/2 scheme=he_normal] 8 runs", stream=out)
    for _ in range(4):
        clock.t += 2.0
        bar.set_postfix_str("1,000 model-steps/s")
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in out.getvalue()
    assert lines[0] == (
        "sweep [1/2 scheme=he_normal] 8 runs: epoch 1/4, 1,000 model-steps/s, 2.0 s, ETA 6.0 s"
    )
    assert lines[-1].endswith("epoch 4/4, 1,000 model-steps/s, 8.0 s")  # done: no ETA


def test_interval_throttles_but_keeps_the_first_and_last_lines(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(logs.time, "perf_counter", clock)
    out = io.StringIO()
    with logs.interval(10):
        bar = logs.LineProgress(total=20, stream=out)
    for _ in range(20):
        clock.t += 1.0
        bar.update(1)
    epochs = [int(line.split("epoch ")[1].split("/")[0]) for line in out.getvalue().splitlines()]
    assert epochs == [1, 11, 20]


def test_interval_must_be_a_non_negative_number():
    with pytest.raises(ValueError, match=">= 0"), logs.interval(-1):
        pass


def test_a_file_is_not_a_terminal(tmp_path):
    with open(tmp_path / "log.txt", "w") as f:
        assert not logs.is_terminal(f)
    assert logs.duration(3725) == "1 h 02 min" and logs.duration(75) == "1 min 15 s"


def test_a_sweep_piped_to_a_file_logs_one_short_line_per_chunk(tmp_path):
    """The issue's case: a sweep of some 20 s piped to a file wrote 49 KB of bar redraws."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    epochs = 12
    with open(tmp_path / "log.txt", "wb") as log:
        proc = subprocess.run(
            [
                sys.executable, "-m", "initjax.cli", "sweep", "--dataset", "mnist1d",
                "--model", "softmax", "--seeds", "2", "--sigmas", "0.01,0.1",
                "--epochs", str(epochs), "--batch-size", "128",
            ],
            stdout=log, stderr=subprocess.STDOUT, cwd=root, timeout=300,
            env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)},
        )  # fmt: skip
    text = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 0, text
    assert len(text.encode()) < 2048, text
    assert "\r" not in text
    progress = [line for line in text.splitlines() if ": epoch " in line]
    assert [line.split(": epoch ")[1].split(",")[0] for line in progress] == [
        f"{e}/{epochs}" for e in range(1, epochs + 1)
    ]
    assert all("model-steps/s" in line for line in progress)
    assert all("ETA" in line for line in progress[:-1])
