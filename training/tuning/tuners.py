"""The KerasTuner tuners of a search: each records which tuner ran a trial and prints one line per trial
(with the search's progress); random and Bayesian search try the training config's defaults first; and
whether this process is a distributed search's worker (KerasTuner's environment variables)."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import time
from collections.abc import Mapping
from typing import Any

import keras_tuner as kt

from keras_ispan.io.atomic import write_json_atomic
from training.tuning.config import TuneConfig
from training.tuning.hypermodel import ISPANHyperModel

__all__ = [
    "BayesianOptimization",
    "Hyperband",
    "RandomSearch",
    "build_tuner",
    "is_distributed",
    "is_distributed_worker",
]


class _RecordingTuner:
    """Mixin for KerasTuner tuners: records which tuner ran each trial and prints one line per trial.

    With `baseline_first` (random and Bayesian search), the first trial takes every default: the training
    config as given, so the summary shows whether the search beat it.
    """

    def __init__(self, *args, baseline_first: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if baseline_first and not is_distributed_worker():
            _defaults_first(self.oracle)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_start = time.time()
        _append_line(
            pathlib.Path(self.project_dir) / "ispan_runs.jsonl",
            {
                "trial_id": trial.trial_id,
                "tuner_id": self.tuner_id,
                "pid": os.getpid(),
                "time": time.time(),
            },
        )

    def run_trial(self, trial, *args, **kwargs):
        results = super().run_trial(trial, *args, **kwargs)
        objective = self.oracle.objective
        pick = max if objective.direction == "max" else min
        bests = [  # the best epoch of each execution, averaged as KerasTuner does
            pick(values)
            for history in (results if isinstance(results, list) else [results])
            if (values := getattr(history, "history", {}).get(objective.name))
        ]
        best = sum(bests) / len(bests) if bests else None
        seconds = time.time() - getattr(self, "_trial_start", time.time())
        record = {
            "trial_id": trial.trial_id,
            "tuner_id": self.tuner_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "seconds": round(seconds, 3),
            "objective": objective.name,
            "best_value": None if best is None else float(best),
        }
        write_json_atomic(
            pathlib.Path(self.get_trial_dir(trial.trial_id)) / "ispan_run.json", record, indent=2
        )
        self._done = getattr(self, "_done", 0) + 1
        self._seconds = getattr(self, "_seconds", 0.0) + seconds
        line = (
            f"[tune {self.tuner_id}] trial {trial.trial_id} done in {seconds:.1f}s, "
            f"{objective.name}={'n/a' if best is None else f'{best:.4f}'}; "
            f"{self._done} done here, {self._seconds / self._done:.1f}s/trial"
        )
        remaining = _remaining_trials(self.oracle)
        if remaining is not None:
            line += f", {remaining} left, ETA {remaining * self._seconds / self._done:.0f}s"
        print(line, flush=True)
        return results


def _defaults_first(oracle: Any) -> None:
    """Makes `oracle` propose the space's defaults for its very first trial."""
    propose = oracle.populate_space

    def populate_space(trial_id):
        if oracle.trials:
            return propose(trial_id)
        values = {hp.name: hp.default for hp in oracle.get_space().space}
        return {"status": "RUNNING", "values": values}

    oracle.populate_space = populate_space


class RandomSearch(_RecordingTuner, kt.RandomSearch):
    pass


class BayesianOptimization(_RecordingTuner, kt.BayesianOptimization):
    pass


class Hyperband(_RecordingTuner, kt.Hyperband):
    pass


def build_tuner(
    hypermodel: ISPANHyperModel,
    tune_config: TuneConfig,
    objective: kt.Objective,
    epochs: int,
    distribution_strategy: Any = None,
) -> kt.Tuner:
    """The KerasTuner tuner of `tune_config.tuner`, resuming the search in its folder unless `overwrite`.

    `distribution_strategy` (e.g. a `MirroredStrategy`) trains each trial data-parallel.
    """
    overwrite = tune_config.overwrite
    if is_distributed_worker() and overwrite:
        raise ValueError(
            "overwrite=True on a distributed worker would delete the search the chief runs; set it on "
            f"the chief only. Received: overwrite={overwrite}, "
            f"KERASTUNER_TUNER_ID={os.environ.get('KERASTUNER_TUNER_ID')!r}"
        )
    common = {
        "hypermodel": hypermodel,
        "objective": objective,
        "seed": tune_config.seed,
        "executions_per_trial": tune_config.executions_per_trial,
        "directory": tune_config.directory,
        "project_name": tune_config.project_name,
        "overwrite": overwrite,
        "distribution_strategy": distribution_strategy,
    }
    if tune_config.tuner == "random":
        return RandomSearch(max_trials=tune_config.max_trials, **common)
    if tune_config.tuner == "bayesian":
        return BayesianOptimization(max_trials=tune_config.max_trials, **common)
    return Hyperband(
        baseline_first=False,
        max_epochs=epochs,
        factor=tune_config.hyperband_factor,
        hyperband_iterations=tune_config.hyperband_iterations,
        **common,
    )


def is_distributed() -> bool:
    return "KERASTUNER_ORACLE_IP" in os.environ


def is_distributed_worker() -> bool:
    return is_distributed() and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", "")


def _remaining_trials(oracle: Any) -> int | None:
    trials = getattr(oracle, "trials", None)
    max_trials = getattr(oracle, "max_trials", None)
    if not isinstance(trials, dict) or not max_trials:
        return None
    return max(0, max_trials - len(trials))


def _append_line(path: pathlib.Path, record: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
