"""Hyperparameter search for ISPAN with KerasTuner: config, tuner factory, search, summary, best config.

One machine: `run_search(train_config, TuneConfig(...))`. Distributed: the same call in every process, with
KerasTuner's environment variables set (`KERASTUNER_TUNER_ID=chief` on the chief, `tuner0`, `tuner1`, ...
on the workers, and `KERASTUNER_ORACLE_IP` / `KERASTUNER_ORACLE_PORT` naming the chief) and `directory`
on a filesystem all of them share. The chief runs the oracle and writes the summary and the best config;
workers run trials. Every check of the input (data folder, search space, objective) runs before the first
trial, in every process.

Files in `<directory>/<project_name>/`: KerasTuner's `oracle.json`, `trial_<id>/trial.json` and
checkpoints; `trial_<id>/ispan_run.json` (which tuner ran it, seconds, best objective value);
`ispan_runs.jsonl` (one line per trial start); `ispan_search.json` (tuner, objective, budget and space: a
resumed search must match it); `summary.txt`, `summary.json` and `best_config.json`.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras_tuner as kt

from keras_ispan.io.atomic import write_json_atomic
from training.engine.callbacks import progress_verbosity
from training.tuning.config import TuneConfig, load_tuning, objective_of
from training.tuning.hypermodel import TUNABLE, ISPANHyperModel, Spec, resolve_space
from training.tuning.results import (
    best_row,
    format_table,
    save_best_model,
    trial_rows,
    write_best_config,
    write_summary,
)
from training.tuning.trial_functions import (
    sized_datasets,
    training_functions,
    trial_callbacks,
    trial_strategy,
)
from training.tuning.tuners import (
    BayesianOptimization,
    Hyperband,
    RandomSearch,
    build_tuner,
    is_distributed,
    is_distributed_worker,
)

SIGNATURE_FILE = "ispan_search.json"

# `build_tuner`, `format_table`, `trial_rows`, `training_functions` and the others re-exported here live in
# `tuners`, `results` and `trial_functions` (the search is split by concern; their names stay importable).
__all__ = [
    "BayesianOptimization",
    "Hyperband",
    "RandomSearch",
    "SearchResult",
    "TuneConfig",
    "best_row",
    "build_tuner",
    "check_objective",
    "format_table",
    "is_distributed",
    "is_distributed_worker",
    "load_tuning",
    "objective_of",
    "run_search",
    "save_best_model",
    "sized_datasets",
    "trial_rows",
    "training_functions",
]


def check_objective(objective: kt.Objective, reported: Sequence[str]) -> None:
    """Raises `ValueError` unless the model reports `objective.name` (e.g. `val_accuracy`)."""
    if objective.name not in reported:
        raise ValueError(
            f"The objective {objective.name!r} names no metric the model reports; it reports "
            f"{sorted(reported)}. Received: objective={objective.name!r}"
        )


def reported_metrics(model: Any, train_dataset: Any, val_dataset: Any) -> list[str]:
    """The names `model.fit(train_dataset, validation_data=val_dataset)` logs, from evaluating 2 clips."""
    frames, labels = next(iter(val_dataset if val_dataset is not None else train_dataset))
    results = model.evaluate(frames[:2], labels[:2], verbose=0, return_dict=True)
    if val_dataset is None:
        return list(results)
    return [*results, *(f"val_{name}" for name in results)]


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What a search leaves: its folder, the summary rows, and the best config (chief / one machine)."""

    project_dir: pathlib.Path
    rows: list[dict[str, Any]]
    best_config_path: pathlib.Path | None
    best_values: dict[str, Any] | None
    best_model_path: pathlib.Path | None = None


def run_search(
    train_config: Any,
    tune_config: TuneConfig,
    *,
    build_model: Callable[[Any], Any] | None = None,
    make_datasets: Callable[[Any], tuple[Any, Any]] | None = None,
    level_candidates: Sequence[str] | None = None,
    default_levels: Sequence[str] | None = None,
    verbose: int = 1,
) -> SearchResult:
    """Checks the input, runs (or resumes, or joins) the search, and writes the summary and best config.

    Args:
        train_config: the training config every trial starts from (`TrainConfig`).
        tune_config: how to search.
        build_model, make_datasets: `config -> compiled model` and `config -> (train, val)`; default to the
            functions `fit.py` uses (`training_functions`), with its precise BN in every trial
            (`train.precise_bn`, `trial_callbacks`).
        level_candidates, default_levels: the backbone's candidate and default pyramid layers; default to
            the `keras_ispan.models` registry.
        verbose: Keras verbosity inside trials.

    Raises:
        FileNotFoundError: the data folder is missing (before any trial).
        ValueError: an empty or invalid space, an objective the model does not report (before any trial).
    """
    from training.engine.scope import mixed_precision_policy, policy_scope, seed_scope

    user_config = train_config
    strategy = trial_strategy(train_config.train.strategy)
    hypermodel = _hypermodel(
        train_config, tune_config, build_model, make_datasets, level_candidates, default_levels
    )
    train_config, specs = hypermodel.base_config, hypermodel.specs
    objective = objective_of(train_config, tune_config)
    with (
        policy_scope(mixed_precision_policy(train_config.train.mixed_precision)),  # as in fit.py
        seed_scope(None),  # each trial sets the seeds (ISPANHyperModel.build); restored after
    ):
        _preflight(hypermodel, objective)
        epochs = tune_config.epochs or train_config.train.epochs
        signature = _signature(tune_config, objective, specs, epochs)
        _check_same_search(tune_config, signature)
        _print_space(specs, tune_config, objective)
        tuner = build_tuner(hypermodel, tune_config, objective, epochs, strategy)
        if tune_config.overwrite or not (tune_config.project_dir / SIGNATURE_FILE).is_file():
            write_json_atomic(tune_config.project_dir / SIGNATURE_FILE, signature, indent=2)
        tuner.search(epochs=epochs, verbose=progress_verbosity(verbose))
        if is_distributed_worker():
            return SearchResult(tune_config.project_dir, [], None, None)
        best_model_path = save_best_model(tuner, tune_config.output_dir / "best.keras")
    rows = trial_rows(tune_config.project_dir)
    best = write_summary(rows, specs, objective, tune_config.output_dir)
    path = write_best_config(hypermodel, best, user_config, tune_config.output_dir)
    print(
        f"best trial {best['trial_id']}: {objective.name}={best['score']:.4f}; config written to {path}"
    )
    if best_model_path is not None:
        print(f"best trial's model written to {best_model_path}")
    return SearchResult(tune_config.project_dir, rows, path, dict(best["values"]), best_model_path)


def _hypermodel(
    train_config, tune_config, build_model, make_datasets, level_candidates, default_levels
) -> ISPANHyperModel:
    """The search's hypermodel: `run_search`'s arguments, their defaults filled (`fit.py`'s functions
    and precise BN, the backbone's registered levels), the space resolved."""
    make_callbacks = None
    if build_model is None or make_datasets is None:
        train_config, build_model, make_datasets = training_functions(train_config, tune_config)
        make_callbacks = trial_callbacks  # fit.py's precise BN
    if level_candidates is None or default_levels is None:
        from keras_ispan.models import get_backbone_spec

        spec = get_backbone_spec(train_config.model.backbone)
        level_candidates, default_levels = spec.candidates, spec.levels
    specs = resolve_space(
        train_config.to_dict(),
        level_candidates,
        default_levels,
        tune_config.space,
        tune_config.tune,
    )
    return ISPANHyperModel(
        train_config, specs, build_model, make_datasets, make_callbacks=make_callbacks
    )


def _signature(
    tune_config: TuneConfig, objective: kt.Objective, specs: Mapping[str, Spec], epochs: int
) -> dict[str, Any]:
    return {
        "tuner": tune_config.tuner,
        "objective": objective.name,
        "direction": objective.direction,
        "epochs": epochs,
        "space": {name: dataclasses.asdict(spec) for name, spec in specs.items()},
    }


def _check_same_search(tune_config: TuneConfig, signature: Mapping[str, Any]) -> None:
    """Refuses to resume a search that was started with another tuner, objective, budget or space
    (KerasTuner would silently keep the old space)."""
    path = tune_config.project_dir / SIGNATURE_FILE
    current = json.loads(json.dumps(signature))
    if tune_config.overwrite or not path.is_file():
        return
    previous = json.loads(path.read_text())
    if previous != current:
        changed = sorted(k for k in current if previous.get(k) != current.get(k))
        raise ValueError(
            f"The search in {tune_config.project_dir} was started with a different {', '.join(changed)}; "
            "resume it with the same settings, or start over with --overwrite or another --project-name. "
            f"Received: {', '.join(f'{k}={current[k]!r}' for k in changed if k != 'space')}"
            + (
                f" space changed for {_changed_names(previous, current)}"
                if "space" in changed
                else ""
            )
        )


def _changed_names(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    old, new = previous.get("space", {}), current["space"]
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


def _preflight(hypermodel: ISPANHyperModel, objective: kt.Objective) -> None:
    """Builds the default model and one validation batch; checks the objective is reported."""
    hp = kt.HyperParameters()
    hypermodel.declare(hp)
    config = hypermodel.config_for(hp.values)
    model = hypermodel.build(hp)
    train_dataset, val_dataset = hypermodel.datasets_for(config)
    check_objective(objective, reported_metrics(model, train_dataset, val_dataset))
    del model


def _print_space(
    specs: Mapping[str, Spec], tune_config: TuneConfig, objective: kt.Objective
) -> None:
    print(
        f"Search: {tune_config.tuner}, objective {objective.direction} {objective.name}, "
        f"folder {tune_config.project_dir}",
        flush=True,
    )
    for name in TUNABLE:
        print(f"  {name}: {specs[name].describe()}", flush=True)
