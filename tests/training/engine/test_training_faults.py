"""Training resumes from any kill: `training/fit.py` is SIGKILLed at injected points (the test hook
`KERAS_ISPAN_FAULT=<point>[:<epoch>]`, `training.engine.callbacks.fault_point`), the same command is run
again, and the run folder must be whole: `log.csv` holds epochs 0..N-1 exactly once, every file parses,
`metrics.json` is written, no temporary is left."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.training.conftest import REPO_ROOT

EPOCHS = 3
SETTINGS = ["--set", "data.synthetic_train=24", "--set", "data.synthetic_val=12",
            "--set", "data.synthetic_test=12", "--set", "data.image_size=32",
            "--set", "data.num_segments=2", "--set", "output.tensorboard=false"]  # fmt: skip


def _fit(tmp_path, fault=None):
    env = dict(os.environ, KERAS_ISPAN_FAULT=fault or "")
    command = [sys.executable, "training/fit.py", "--epochs", str(EPOCHS), "--runs-dir",
               str(tmp_path / "runs"), "--name", "r", *SETTINGS]  # fmt: skip
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    ["during_backup_write:1", "after_backup_write:1", "during_best_save:0",
     "after_training_done", "during_evaluation"],
)  # fmt: skip
def test_fit_resumes_after_a_kill_at_any_moment(tmp_path, fault):
    killed = _fit(tmp_path, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    done = _fit(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "r"
    with open(run_dir / "log.csv") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(EPOCHS)), epochs
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == EPOCHS
    for name in ("config.json", "training_done.json", "best.keras.best.json"):
        json.loads((run_dir / name).read_text())
    from keras_ispan.models import load_classifier

    load_classifier(run_dir / "best.keras")
    assert not (run_dir / "backup").exists()
    assert [p.name for p in run_dir.glob(".*")] == []
    if fault in ("after_training_done", "during_evaluation"):
        assert "evaluating and writing only" in done.stdout + done.stderr
