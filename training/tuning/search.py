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

import contextlib
import dataclasses
import json
import os
import pathlib
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras_tuner as kt

from keras_ispan.io.atomic import write_json_atomic, write_text_atomic
from training.config import core as config_lib
from training.engine.callbacks import progress_verbosity
from training.tuning.config import TuneConfig, load_tuning, objective_of
from training.tuning.hypermodel import TUNABLE, ISPANHyperModel, Spec, resolve_space

SIGNATURE_FILE = "ispan_search.json"

__all__ = [
    "SearchResult",
    "TuneConfig",
    "build_tuner",
    "check_objective",
    "format_table",
    "load_tuning",
    "objective_of",
    "run_search",
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
        _write_json(pathlib.Path(self.get_trial_dir(trial.trial_id)) / "ispan_run.json", record)
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
            functions `fit.py` uses (`training.engine.run`).
        level_candidates, default_levels: the backbone's candidate and default pyramid layers; default to
            the `keras_ispan.models` registry.
        verbose: Keras verbosity inside trials.

    Raises:
        FileNotFoundError: the data folder is missing (before any trial).
        ValueError: an empty or invalid space, an objective the model does not report (before any trial).
    """
    user_config = train_config
    strategy = _trial_strategy(train_config.train.strategy)
    if build_model is None or make_datasets is None:
        train_config, build_model, make_datasets = training_functions(train_config, tune_config)
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
    objective = objective_of(train_config, tune_config)
    hypermodel = ISPANHyperModel(train_config, specs, build_model, make_datasets)
    from training.engine.run import mixed_precision_policy, policy_scope

    with policy_scope(mixed_precision_policy(train_config.train.mixed_precision)):  # as in fit.py
        _preflight(hypermodel, objective)
        epochs = tune_config.epochs or train_config.train.epochs
        signature = _signature(tune_config, objective, specs, epochs)
        _check_same_search(tune_config, signature)
        _print_space(specs, tune_config, objective)
        tuner = build_tuner(hypermodel, tune_config, objective, epochs, strategy)
        if tune_config.overwrite or not (tune_config.project_dir / SIGNATURE_FILE).is_file():
            _write_json(tune_config.project_dir / SIGNATURE_FILE, signature)
        tuner.search(epochs=epochs, verbose=progress_verbosity(verbose))
        if is_distributed_worker():
            return SearchResult(tune_config.project_dir, [], None, None)
        best_model_path = save_best_model(tuner, tune_config.output_dir / "best.keras")
    rows = trial_rows(tune_config.project_dir)
    best = _write_summary(rows, specs, objective, tune_config.output_dir)
    path = _write_best_config(hypermodel, best, user_config, tune_config.output_dir)
    print(
        f"best trial {best['trial_id']}: {objective.name}={best['score']:.4f}; config written to {path}"
    )
    if best_model_path is not None:
        print(f"best trial's model written to {best_model_path}")
    return SearchResult(tune_config.project_dir, rows, path, dict(best["values"]), best_model_path)


def _write_summary(rows, specs, objective, output) -> dict:
    """Prints and writes the trial table (`summary.txt`, `summary.json`); returns the best row."""
    names = [name for name, spec in specs.items() if spec.tunable]
    table = format_table(rows, names, objective)
    print(table, flush=True)
    _write_text(output / "summary.txt", table + "\n")
    _write_json(
        output / "summary.json",
        {"objective": objective.name, "direction": objective.direction, "rows": rows},
    )
    return best_row(rows, objective)


def _write_best_config(hypermodel, best, user_config, output) -> pathlib.Path:
    """The best trial's training config, with the data and epochs the user gave (fit.py's own
    defaults, not the tuner's per-trial budget), as `best_config.json`."""
    best_config = hypermodel.config_for(dict(best["values"]))
    best_config = best_config.replace(
        data=dataclasses.replace(best_config.data, data_dir=user_config.data.data_dir),
        train=dataclasses.replace(best_config.train, epochs=user_config.train.epochs),
    )
    return config_lib.save_config(best_config, output / "best_config.json")


def save_best_model(tuner, path: pathlib.Path) -> pathlib.Path | None:
    """Saves the best trial's model (its best checkpoint) to `path` as `.keras`, atomically.

    The file is what `training/evaluate.py`, `training/predict.py` and `serving/export.py` load
    (`keras_ispan.models.load_classifier`); None when no trial completed.
    """
    from keras_ispan.io.atomic import atomic_path

    try:
        with warnings.catch_warnings():  # the checkpoint holds optimizer state the model needs not
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            models = tuner.get_best_models(1)
    except (IndexError, ValueError):  # no completed trial
        return None
    if not models:
        return None
    with atomic_path(path, suffix=".keras") as tmp:
        models[0].save(tmp)
    return path


def trial_rows(project_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per trial of the search in `project_dir`, read from its files, in trial order."""
    project_dir = pathlib.Path(project_dir)
    rows = []
    paths = project_dir.glob("trial_*/trial.json")
    for path in sorted(paths, key=lambda p: (len(p.parent.name), p.parent.name)):
        state = json.loads(path.read_text())
        values = state["hyperparameters"]["values"]
        run = path.parent / "ispan_run.json"
        run_info = json.loads(run.read_text()) if run.is_file() else {}
        rows.append(
            {
                "trial_id": state["trial_id"],
                "status": state["status"],
                "score": state["score"],
                "tuner_id": run_info.get("tuner_id"),
                "seconds": run_info.get("seconds"),
                "values": values,
                "error": (state.get("message") or "").strip().splitlines()[-1:] or None,
            }
        )
    return rows


def best_row(rows: Sequence[Mapping[str, Any]], objective: kt.Objective) -> Mapping[str, Any]:
    done = [row for row in rows if row["status"] == "COMPLETED" and row["score"] is not None]
    if not done:
        statuses = {row["trial_id"]: row["status"] for row in rows}
        errors = [row["error"][0] for row in rows if row.get("error")]
        hint = f" First error: {errors[0]}" if errors else ""
        raise RuntimeError(f"No trial completed with a score (trial statuses: {statuses}).{hint}")
    pick = max if objective.direction == "max" else min
    return pick(done, key=lambda row: row["score"])


def format_table(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], objective: kt.Objective
) -> str:
    """The summary: one line per trial, best first, with its status, score, tuner and tuned values."""
    sign = -1.0 if objective.direction == "max" else 1.0

    def order(row):
        return (row["score"] is None, 0.0 if row["score"] is None else sign * row["score"])

    scored = sorted(rows, key=order)
    extra = [n for n in ("tuner/epochs",) if any(n in r["values"] for r in rows)]
    header = ["trial", "status", objective.name, "tuner", "seconds", *names, *extra]
    lines = [header]
    for row in scored:
        cells = [
            row["trial_id"],
            row["status"],
            "-" if row["score"] is None else f"{row['score']:.4f}",
            row["tuner_id"] or "-",
            "-" if row["seconds"] is None else f"{row['seconds']:.1f}",
        ]
        cells += [_cell(row["values"].get(name)) for name in [*names, *extra]]
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = [
        " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    ]
    text.insert(1, "-+-".join("-" * w for w in widths))
    return (
        f"Search summary ({len(rows)} trials, {objective.direction} {objective.name}):\n"
        + "\n".join(text)
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def training_functions(train_config: Any, tune_config: TuneConfig):
    """`(train_config with its data folder resolved, build_model, make_datasets)`: what `fit.py` uses.

    A missing data folder raises `FileNotFoundError` here. Without one, the embedded synthetic dataset is
    generated once into its cache, under a file lock in the tuning folder so that the processes of a
    distributed search on one host do not write it at the same time.
    """
    from training.engine import datasets
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
    """`training.engine.datasets.make_datasets` with lengths Keras knows: repeated when
    `train.steps_per_epoch` / `train.validation_steps` are set, else the exact batch count asserted.

    A finite dataset of unknown length ends each first epoch with a `StopIteration` that Keras
    reports as "Your input ran out of data" although every batch ran."""
    import tensorflow as tf

    from training.engine import datasets

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


def _trial_strategy(name: str) -> Any:
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


def _write_text(path: pathlib.Path, text: str) -> None:
    write_text_atomic(path, text)


def _write_json(path: pathlib.Path, value: Any) -> None:
    write_json_atomic(path, value, indent=2)
