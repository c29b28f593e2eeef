"""A tiny stand-in model and in-memory data for testing the tuner machinery quickly.

Used in-process by the tests and as a script by the distributed test (each process builds the same search).
`python tests/training/tuning/tiny_tuning.py DIRECTORY MAX_TRIALS` runs one process of a tiny random search.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from training.config.core import TrainConfig, apply_overrides  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[3]
CANDIDATES = ("block1_out", "block2_out", "block3_out")
DEFAULT_LEVELS = ("block2_out", "block3_out")
NUM_CLASSES = 3


def base_config(**overrides):
    values = {"train.epochs": 1, "data.batch_size": 4, "data.num_segments": 2}
    values.update(overrides)
    return apply_overrides(TrainConfig(), values)


def tiny_overrides(tmp_path, data):
    """`--set` values for a tiny, quiet run on `data` whose run folders go under `tmp_path`."""
    return [
        f"data.data_dir={data}",
        "data.image_size=32",
        "data.batch_size=4",
        "data.shuffle_buffer=16",
        "train.epochs=1",
        "train.verbose=0",
        "eval.num_segments=2",
        f"output.runs_dir={tmp_path / 'runs'}",
        "output.tensorboard=false",
    ]


def build_model(config):
    """Frames `(batch, frames, 8, 8, 3)` -> logits `(batch, 3)`; uses the config's dropout and rate."""
    frames = keras.Input((None, 8, 8, 3), name="frames")
    x = keras.layers.Rescaling(1 / 255.0)(frames)
    x = keras.layers.GlobalAveragePooling3D()(x)
    x = keras.layers.Dropout(config.model.dropout)(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    model = keras.Model(frames, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(config.optim.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def make_datasets(config):
    """In-memory clips whose class sets the mean colour; `num_segments` frames per clip."""
    rng = np.random.default_rng(0)
    labels = np.arange(24) % NUM_CLASSES
    frames = rng.integers(0, 80, (24, config.data.num_segments, 8, 8, 3)).astype("uint8")
    frames[..., 0] += (labels * 60).astype("uint8")[:, None, None, None]
    ds = tf.data.Dataset.from_tensor_slices((frames, labels.astype("int32")))
    return ds.batch(config.data.batch_size), ds.batch(config.data.batch_size)


def search_kwargs():
    return {
        "build_model": build_model,
        "make_datasets": make_datasets,
        "level_candidates": CANDIDATES,
        "default_levels": DEFAULT_LEVELS,
        "verbose": 0,
    }


def _barrier_datasets(sync_dir, num_workers):
    """`make_datasets` that, on a worker's first trial, waits until every worker holds a trial.

    So the distributed test cannot pass or fail by which worker happened to start first.
    """
    import os
    import time

    calls = {"n": 0}

    def make(config):
        calls["n"] += 1
        if calls["n"] == 2:  # the first call is the pre-flight check, the second the first trial
            sync = pathlib.Path(sync_dir)
            sync.mkdir(parents=True, exist_ok=True)
            (sync / os.environ["KERASTUNER_TUNER_ID"]).touch()
            deadline = time.time() + 120
            while len(list(sync.iterdir())) < num_workers and time.time() < deadline:
                time.sleep(0.2)
        return make_datasets(config)

    return make


def _mirrored_search(directory):
    """Two trials with `train.strategy=mirrored` over 2 logical CPUs; records the replicas per build."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from training.tuning.search import TuneConfig, run_search

    def build(config):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with open(pathlib.Path(directory) / "replicas.txt", "a") as handle:
            handle.write(f"{replicas}\n")
        return build_model(config)

    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    tune = TuneConfig(max_trials=2, directory=directory, tune=("learning_rate",), epochs=1)
    run_search(
        base_config(**{"train.strategy": "mirrored"}),
        tune,
        **{**search_kwargs(), "build_model": build},
    )


if __name__ == "__main__":
    from training.tuning.search import TuneConfig, run_search

    if sys.argv[1] == "mirrored":
        _mirrored_search(sys.argv[2])
        sys.exit(0)
    directory, max_trials, num_workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tune = TuneConfig(
        max_trials=max_trials, directory=directory, tune=("learning_rate", "dropout"), epochs=1
    )
    kwargs = search_kwargs()
    kwargs["make_datasets"] = _barrier_datasets(pathlib.Path(directory) / "sync", num_workers)
    run_search(base_config(), tune, **kwargs)
