"""The two-stream journey across fresh processes, as the README writes it: `fit.py --modality two_stream`
on the embedded motion dataset (flow added to it), then `evaluate.py` and `predict.py` on `best.keras`,
each reporting the fusion and each stream."""

import json
import os
import subprocess
import sys

import pytest

from tests.training.conftest import REPO_ROOT

CONFIG = {
    "data": {
        "num_segments": 4, "image_size": 32, "batch_size": 4, "shuffle_buffer": 16,
        "synthetic_variant": "motion", "synthetic_classes": 2, "synthetic_train": 8,
        "synthetic_val": 4, "synthetic_test": 4, "synthetic_frames": 8, "synthetic_size": 40,
    },
    "model": {"bn_momentum": 0.9, "dropout": 0.0, "flow_length": 2, "stream_fusion": "concat"},
    "optim": {"warmup_epochs": 0.5},
    "train": {"epochs": 1, "verbose": 0},
    "eval": {"num_segments": 4},
    "output": {"tensorboard": False},
}  # fmt: skip


def _run(tmp_path, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_ISPAN_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_fit_evaluate_predict_two_stream(tmp_path, shared_clips):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(CONFIG))
    runs = tmp_path / "runs"
    out = _run(tmp_path, "training/fit.py", "--config", config, "--modality", "two_stream",
               "--runs-dir", runs, "--name", "ts")  # fmt: skip
    assert "rgb stream top-1" in out and "flow stream top-1" in out
    metrics = json.loads((runs / "ts" / "metrics.json").read_text())
    assert set(metrics["streams"]) == {"rgb", "flow"}
    saved = json.loads((runs / "ts" / "config.json").read_text())["model"]
    assert (saved["modality"], saved["stream_fusion"]) == ("two_stream", "concat")
    model = runs / "ts" / "best.keras"
    _run(tmp_path, "training/evaluate.py", "--model", model, "--segments", "4", "--out", tmp_path)
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(summary["streams"]) == {"rgb", "flow"} and summary["metrics"]["num_clips"] == 4
    video = shared_clips / "basketball_practice.mp4"
    record = json.loads(
        _run(tmp_path, "training/predict.py", video, "--model", model, "--frames", "3", "--json")
    )
    assert set(record["streams"]) == {"rgb", "flow"} and len(record["frame_indices"]) == 3
