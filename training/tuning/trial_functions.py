"""What each trial trains with: `fit.py`'s model builder and datasets (with lengths Keras knows), the
synthetic dataset made once under a file lock, and the per-trial distribution strategy."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
from typing import Any

from training.tuning.config import TuneConfig

__all__ = ["sized_datasets", "training_functions", "trial_callbacks", "trial_strategy"]


def training_functions(train_config: Any, tune_config: TuneConfig):
    """`(train_config with its data folder resolved, build_model, make_datasets)`: what `fit.py` uses.

    A missing data folder raises `FileNotFoundError` here. Without one, the embedded synthetic dataset is
    generated once into its cache, under a file lock in the tuning folder so that the processes of a
    distributed search on one host do not write it at the same time.
    """
    from training.data import datasets
    from training.engine.run import build_compiled_model

    if train_config.data.data_dir is not None:
        data_dir = datasets.resolve_data_dir(train_config)
    else:
        with _file_lock(pathlib.Path(tune_config.directory) / ".synthetic.lock"):
            data_dir = datasets.resolve_data_dir(train_config)
    if train_config.data.resize == "model":
        raise ValueError(
            "Tuning resizes crops in the input pipeline (the tuner saves and reloads the trial model "
            "itself, not a model behind a resize layer). Received: data.resize='model'"
        )
    resolved = train_config.replace(
        data=dataclasses.replace(train_config.data, data_dir=str(data_dir), resize="pipeline")
    )

    def make_datasets(config):
        return sized_datasets(config, data_dir)

    return resolved, build_compiled_model, make_datasets


def sized_datasets(config: Any, data_dir) -> tuple[Any, Any]:
    """`training.data.datasets.make_datasets` with lengths Keras knows: repeated when
    `train.steps_per_epoch` / `train.validation_steps` are set, else the exact batch count asserted.

    A finite dataset of unknown length ends each first epoch with a `StopIteration` that Keras
    reports as "Your input ran out of data" although every batch ran."""
    import tensorflow as tf

    from training.data import datasets

    info = datasets.dataset_info(data_dir)
    train, val = datasets.make_datasets(config, data_dir)
    if config.train.steps_per_epoch:
        train = train.repeat()
    else:
        steps = datasets.steps_per_epoch(info, config)
        train = train.apply(tf.data.experimental.assert_cardinality(steps))
    if val is not None and config.train.validation_steps:
        val = val.repeat()
    elif val is not None:
        steps = datasets.eval_steps(info, config, datasets.validation_split(info, config))
        val = val.apply(tf.data.experimental.assert_cardinality(steps))
    return train, val


@contextlib.contextmanager
def _file_lock(path: pathlib.Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def trial_strategy(name: str) -> Any:
    """The per-trial strategy of `train.strategy`: `mirrored` trains each trial on every local device."""
    if name == "multi_worker":
        raise ValueError(
            "train.strategy='multi_worker' is not supported inside a search: spread the trials over "
            "machines with KerasTuner's chief/worker mode instead (KERASTUNER_TUNER_ID, "
            "KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT), each trial on 'default' or 'mirrored'. "
            "Received: train.strategy='multi_worker'"
        )
    if name == "mirrored":
        from training.engine.strategy import make_strategy

        return make_strategy("mirrored")
    return None


def trial_callbacks(config: Any, model: Any) -> list:
    """The callbacks `fit.py`'s engine adds to a run of `config`, for a trial's `model`: precise BN
    (`train.precise_bn`, `training.engine.batch_norm.precise_bn_callback`)."""
    from training.engine.batch_norm import precise_bn_callback

    return [precise_bn_callback(config, model)] if config.train.precise_bn else []
