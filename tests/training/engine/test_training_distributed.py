"""Strategies: mirrored on 2 logical CPU devices; multi-worker with two worker processes on 127.0.0.1 whose
final weights are identical. Each runs in subprocesses (a strategy must be created before other TF work)."""

import json
import pathlib

import numpy as np
import pytest

from tests.ports import free_port
from tests.training.conftest import python_subprocess
from training.config.core import apply_overrides

MIRRORED = """
import json, os
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from training.config.core import TrainConfig
from training.engine.run import run

result = run(TrainConfig.from_dict(json.loads(os.environ["RUN_CONFIG"])), log=print)
variable = result.model.trainable_variables[0]
strategy = result.model.distribute_strategy
values = strategy.experimental_local_results(getattr(variable, "value", variable))
print("REPLICAS", strategy.num_replicas_in_sync, len(values))
np.testing.assert_array_equal(values[0].numpy(), values[1].numpy())
"""

WORKER = """
import json, os
import numpy as np
from training.config.core import TrainConfig
from training.engine.run import run

result = run(TrainConfig.from_dict(json.loads(os.environ["RUN_CONFIG"])), log=print)
np.savez(os.environ["WEIGHTS_OUT"], *[np.asarray(w) for w in result.model.get_weights()])
print("WORKER_DONE", result.metrics.get("epochs_completed"))
"""


def _finish(process, timeout):
    try:
        output, _ = process.communicate(timeout=timeout)
    except Exception:
        process.kill()
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"subprocess timed out after {timeout} s:\n{output[-4000:]}")
    return output


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus(tiny_config):
    config = apply_overrides(
        tiny_config, {"train.strategy": "mirrored", "output.tensorboard": False}
    )
    process = python_subprocess(MIRRORED, {"RUN_CONFIG": json.dumps(config.to_dict())})
    output = _finish(process, 400)
    assert process.returncode == 0, output[-4000:]
    assert "REPLICAS 2 2" in output
    metrics = json.loads(
        (pathlib.Path(config.output.runs_dir) / "tiny" / "metrics.json").read_text()
    )
    assert metrics["epochs_completed"] == 2


@pytest.mark.slow
def test_multi_worker_two_processes_end_with_identical_weights(tiny_config, tmp_path):
    config = apply_overrides(
        tiny_config, {"train.strategy": "multi_worker", "output.tensorboard": False}
    )
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        env = {
            "RUN_CONFIG": json.dumps(config.to_dict()),
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
            "WEIGHTS_OUT": str(tmp_path / f"weights{index}.npz"),
        }
        processes.append(python_subprocess(WORKER, env))
    outputs = [_finish(process, 500) for process in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]
        assert "WORKER_DONE" in output
    first, second = (np.load(tmp_path / f"weights{i}.npz") for i in range(2))
    assert len(first.files) == len(second.files) > 0
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    run_dir = pathlib.Path(config.output.runs_dir) / "tiny"
    metrics = json.loads(
        (run_dir / "metrics.json").read_text()
    )  # written by the chief (worker 0) only
    assert metrics["epochs_completed"] == 2
    assert "WORKER_DONE 2" in outputs[0] and "WORKER_DONE None" in outputs[1]
