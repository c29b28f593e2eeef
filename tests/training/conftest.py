"""Fixtures of the training tests: a tiny synthetic dataset (generated once per session) and a tiny config."""

import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

TINY = {
    "data": {
        "num_segments": 4,
        "image_size": 32,
        "batch_size": 4,
        "shuffle_buffer": 16,
        "synthetic_classes": 3,
        "synthetic_train": 12,
        "synthetic_val": 6,
        "synthetic_test": 6,
        "synthetic_frames": 8,
        "synthetic_size": 40,
    },
    "model": {"bn_momentum": 0.9, "dropout": 0.0},
    "optim": {"warmup_epochs": 0.5},
    "train": {"epochs": 2, "verbose": 0},
    "eval": {"num_segments": 4},
}


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A 3-class synthetic dataset (12/6/6 clips of 8 frames, 40x40)."""
    from keras_ispan.data.synthetic import generate_synthetic_dataset
    from training.config.core import TrainConfig
    from training.data.datasets import synthetic_config

    config = TrainConfig.from_dict(TINY)
    path = tmp_path_factory.mktemp("tiny_synthetic")
    generate_synthetic_dataset(path, synthetic_config(config), log=None)
    return path


@pytest.fixture
def tiny_config(tiny_data_dir, tmp_path):
    """A `TrainConfig` that trains 2 epochs on `tiny_data_dir` into `tmp_path / "runs"`."""
    from training.config.core import TrainConfig

    config = TrainConfig.from_dict(TINY)
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, data_dir=str(tiny_data_dir)),
        output=dataclasses.replace(config.output, runs_dir=str(tmp_path / "runs"), name="tiny"),
    )


def python_subprocess(code: str, env_extra=None, **kwargs) -> subprocess.Popen:
    """Starts `python -c code` in the repo root with quiet TensorFlow logs."""
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)})
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="session")
def trained_run(tiny_data_dir, tmp_path_factory):
    """One finished tiny run shared by the tests that only read it (`RunResult`)."""
    from training.config.core import TrainConfig
    from training.engine.run import run

    config = TrainConfig.from_dict(TINY)
    config = dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, data_dir=str(tiny_data_dir)),
        output=dataclasses.replace(
            config.output, runs_dir=str(tmp_path_factory.mktemp("shared_runs")), name="shared"
        ),
    )
    return run(config, log=lambda line: None)
