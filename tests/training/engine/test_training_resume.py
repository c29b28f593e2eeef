"""Resume after a kill: a training subprocess is SIGKILLed mid-run, the run is started again and ends with
the same number of epochs, continuing the learning-rate schedule where it stopped."""

import dataclasses
import json
import pathlib
import signal
import time

import numpy as np
import pytest

from tests.training.conftest import python_subprocess
from tests.training.schedules import learning_rate_at
from training.config.core import apply_overrides
from training.engine.optim import make_schedule
from training.engine.run import run

SLOW_RUN = """
import json, os, time
import keras
from training.config.core import TrainConfig
from training.engine.run import run

class Slow(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.4)

run(TrainConfig.from_dict(json.loads(os.environ["RUN_CONFIG"])), extra_callbacks=[Slow()])
"""


@pytest.mark.slow
def test_killed_run_resumes_and_ends_with_the_same_epochs(tiny_config):
    config = apply_overrides(tiny_config, {"train.epochs": 3, "output.tensorboard": False})
    run_dir = config_run_dir = config.output.runs_dir + "/" + config.output.name
    log = f"{run_dir}/log.csv"
    process = python_subprocess(SLOW_RUN, {"RUN_CONFIG": json.dumps(config.to_dict())})
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            try:
                with open(log) as handle:
                    rows = [line for line in handle.read().splitlines()[1:] if line]
            except FileNotFoundError:
                rows = []
            committed = pathlib.Path(run_dir, "backup", "training_metadata.json").is_file()
            if rows and committed:  # epoch 0 is logged and its backup committed; epoch 1 runs
                break
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.05)
        else:
            pytest.fail("the training subprocess logged no epoch within 900 s")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    run_path = pathlib.Path(config_run_dir)
    assert (run_path / "backup").is_dir() and not (run_path / "metrics.json").exists()

    result = run(config, log=lambda line: None)
    assert result.initial_epoch == 1
    assert result.epochs_completed == 3 == result.metrics["epochs_completed"]
    with open(log) as handle:
        epochs = [int(line.split(",")[0]) for line in handle.read().splitlines()[1:] if line]
    assert epochs == [0, 1, 2]
    assert not (run_path / "backup").exists()
    # The optimizer step was restored: the logged learning rates follow the schedule at 3, 6, 9 steps.
    schedule = make_schedule(config.optim, steps_per_epoch=3, epochs=3)
    np.testing.assert_allclose(
        result.history["lr"], learning_rate_at(schedule, [3, 6, 9]), rtol=1e-5
    )


def test_interrupted_run_with_another_config_is_refused(tiny_config):
    run_dir = tiny_config.output.runs_dir + "/" + tiny_config.output.name
    import pathlib

    from training.config.core import save_config

    path = pathlib.Path(run_dir)
    (path / "backup").mkdir(parents=True)
    resolved = dataclasses.replace(
        tiny_config, train=dataclasses.replace(tiny_config.train, epochs=5)
    )
    save_config(resolved, path / "config.json")
    with pytest.raises(ValueError, match="different config"):
        run(tiny_config, log=lambda line: None)
    assert sorted(p.name for p in path.iterdir()) == ["backup", "config.json"]
