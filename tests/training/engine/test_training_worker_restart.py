"""A cluster restarted after training ended (`training_done.json` written, the chief killed before
`metrics.json`): a non-chief worker does not train again (under `MultiWorkerMirroredStrategy` its
collective ops would wait for a chief that only evaluates), and the chief evaluates and writes."""

import dataclasses
import json
import shutil

from training.config.core import save_config
from training.engine import run as run_lib
from training.engine.run_dir import worker_dir as worker_dir_of

WORKER_1 = {
    "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
    "task": {"type": "worker", "index": 1},
}


def test_a_worker_restarted_after_training_does_not_train_again(trained_run, tmp_path, monkeypatch):
    config = trained_run.config
    config = config.replace(output=dataclasses.replace(config.output, runs_dir=str(tmp_path)))
    run_dir = tmp_path / config.output.name
    shutil.copytree(trained_run.run_dir, run_dir)
    (run_dir / "metrics.json").unlink()  # killed after training_done.json, before metrics.json
    save_config(config, run_dir / "config.json")
    monkeypatch.setenv("TF_CONFIG", json.dumps(WORKER_1))
    worker_dir = worker_dir_of(config)
    worker_dir.mkdir(parents=True)  # a worker's resume backup left from before

    def trains_again(*args, **kwargs):
        raise AssertionError("a worker restarted after training_done.json trained again")

    monkeypatch.setattr(run_lib, "_fit", trains_again)
    result = run_lib.run(config, log=lambda line: None)
    assert result.metrics == {} and result.model_path is None
    assert result.epochs_completed == trained_run.epochs_completed
    assert not worker_dir.exists() and not (run_dir / "metrics.json").exists()

    monkeypatch.delenv("TF_CONFIG")  # the chief: evaluates and writes only
    lines = []
    result = run_lib.run(config, log=lines.append)
    assert any("evaluating and writing only" in line for line in lines)
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_completed"] == (
        trained_run.epochs_completed
    )
