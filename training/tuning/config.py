"""The typed search config (`TuneConfig`) and the search file: training sections plus a `tuning` section.

A search file is a training config file (what `python training/fit.py --config` reads) with an optional
`tuning` table of `TuneConfig` keys; its `tuning.space` table restricts the search space (the forms are
documented in `training/tuning/hypermodel.py`). Example (TOML):

    [model]
    backbone = "small_cnn"

    [tuning]
    tuner = "bayesian"
    max_trials = 20
    objective = "val_accuracy"

    [tuning.space]
    fusion = ["sum", "mean"]
    learning_rate = { min = 1e-4, max = 1e-2, log = true }
    interaction_weight = [0.0, 1e-4, 1e-3]
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from training.config import core as config_lib

if TYPE_CHECKING:
    import keras_tuner as kt

TUNERS = ("random", "bayesian", "hyperband")
DIRECTIONS = ("min", "max")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """How to search.

    Args:
        tuner: `random`, `bayesian` (Gaussian process; needs scipy and scikit-learn) or `hyperband`.
        max_trials: trials to run in all (random, bayesian); hyperband's budget is `epochs` and
            `hyperband_factor` instead.
        objective: a metric the model reports (`val_accuracy`, `val_loss`, `val_top5`, ...); `None` uses the
            training config's `train.monitor`.
        direction: `max` or `min`; `None` infers it (`min` for names ending in `loss`).
        epochs: epochs per trial (hyperband: the most epochs of one model); `None` uses `train.epochs`.
        executions_per_trial: models trained per trial (their objective is averaged).
        directory, project_name: the search's folder `directory/project_name`, on a shared filesystem when
            distributed. An existing search there is resumed unless `overwrite`.
        overwrite: start over, deleting the previous search (refused on distributed workers).
        seed: the tuner's seed.
        hyperband_factor, hyperband_iterations: Hyperband's reduction factor and brackets.
        tune: names of the hyperparameters to search (the others are fixed at the training values);
            `None` searches every one.
        space: per-name restrictions (`training.tuning.hypermodel` documents the forms).
        output: where `summary.*` and `best_config.json` go; `None` is the search's folder.
    """

    tuner: str = "random"
    max_trials: int = 10
    objective: str | None = None
    direction: str | None = None
    epochs: int | None = None
    executions_per_trial: int = 1
    directory: str = "tuning"
    project_name: str = "ispan"
    overwrite: bool = False
    seed: int = 0
    hyperband_factor: int = 3
    hyperband_iterations: int = 1
    tune: tuple[str, ...] | None = None
    space: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    output: str | None = None

    def __post_init__(self):
        if self.tuner not in TUNERS:
            raise ValueError(
                f"tuning.tuner must be one of {list(TUNERS)}. Received: tuner={self.tuner!r}"
            )
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(
                f"tuning.direction must be 'min' or 'max'. Received: direction={self.direction!r}"
            )
        for name in ("max_trials", "executions_per_trial", "hyperband_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"tuning.{name} must be >= 1. Received: {name}={getattr(self, name)!r}"
                )
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"tuning.epochs must be >= 1. Received: epochs={self.epochs!r}")
        if self.hyperband_factor < 2:
            raise ValueError(
                f"tuning.hyperband_factor must be >= 2. Received: hyperband_factor={self.hyperband_factor!r}"
            )
        if not self.project_name or os.sep in self.project_name:
            raise ValueError(
                f"tuning.project_name must be a folder name. Received: project_name={self.project_name!r}"
            )
        if self.tune is not None:
            object.__setattr__(self, "tune", tuple(self.tune))
        if not isinstance(self.space, Mapping):
            raise ValueError(f"tuning.space must be a mapping. Received: space={self.space!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TuneConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"Unknown tuning key {unknown[0]!r}; valid keys: {sorted(fields)}. "
                f"Received: key={unknown[0]!r}"
            )
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["tune"] = None if self.tune is None else list(self.tune)
        values["space"] = dict(self.space)
        return values

    @property
    def project_dir(self) -> pathlib.Path:
        return pathlib.Path(self.directory) / self.project_name

    @property
    def output_dir(self) -> pathlib.Path:
        return pathlib.Path(self.output) if self.output else self.project_dir


def load_tuning(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
    preset: str | None = None,
) -> tuple[config_lib.TrainConfig, TuneConfig]:
    """Reads a search file: a training config (what `fit.py --config` reads) plus a `tuning` section.

    Args:
        path: a `.json` or `.toml` file, or `None` for the defaults. Without a `tuning` section it is a plain
            training config file.
        overrides: training-config overrides (`["train.epochs=3"]`), applied after the file.
        tuning: `TuneConfig` keys that override the file's `tuning` section (the command-line flags; `None`
            values are ignored).
        preset: the training preset to start from; `None` uses the file's, else `synthetic`.
    """
    values = config_lib.read_config_file(path) if path is not None else {}
    tuning_values = values.pop("tuning", None) or {}
    if not isinstance(tuning_values, Mapping):
        raise ValueError(
            f"The 'tuning' section of {path} must be a table. Received: tuning={tuning_values!r}"
        )
    train_config = config_lib.config_from_values(values, overrides, preset=preset, source=path)
    try:
        tune_values = {
            **tuning_values,
            **{k: v for k, v in (tuning or {}).items() if v is not None},
        }
        tune_config = TuneConfig.from_dict(tune_values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{error} (in {path})" if path else str(error)) from None
    config_lib.refuse_ignored_stream_keys(train_config, source=path)
    return train_config, tune_config


def objective_of(train_config: Any, tune_config: TuneConfig) -> kt.Objective:
    """The `kt.Objective` (name and direction) of the search."""
    import keras_tuner as kt

    name = tune_config.objective or train_config.train.monitor
    direction = tune_config.direction or ("min" if name.endswith("loss") else "max")
    return kt.Objective(name, direction)
