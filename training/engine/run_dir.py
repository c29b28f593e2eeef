"""The run folder: its name resolved, checked before anything is written, started, and the marker of a
finished training phase (`training_done.json`); where a non-chief worker keeps its own backup."""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import shutil

from training.config.core import TrainConfig, save_config
from training.engine import callbacks as callbacks_lib
from training.evaluation import multiview

__all__ = [
    "TRAINING_DONE",
    "mark_training_done",
    "prepare_run_dir",
    "read_training_done",
    "resolve_config",
    "start_run_dir",
    "worker_dir",
]

TRAINING_DONE = "training_done.json"


def resolve_config(config: TrainConfig, data_dir: pathlib.Path) -> TrainConfig:
    name = config.output.name
    if name is None:
        if config.train.strategy == "multi_worker":
            raise ValueError(
                "train.strategy='multi_worker' needs output.name (every worker must use the same run "
                "folder). Received: output.name=None"
            )
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{config.output.preset}-{stamp}"
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, data_dir=str(data_dir)),
        output=dataclasses.replace(config.output, name=name),
    )


def _comparable(config: TrainConfig) -> dict:
    values = config.to_dict()
    values["output"].pop("overwrite", None)
    values["output"].pop("export", None)
    values["train"].pop("verbose", None)
    return values


def prepare_run_dir(config: TrainConfig, run_dir: pathlib.Path) -> bool:
    """Checks the run folder; returns whether an interrupted run is continued. Writes nothing.

    A folder with `config.json` but no `metrics.json` is an interrupted run: it continues (from `backup/`
    when an epoch was finished, else from epoch 0) if its config equals `config`.
    """
    if config.output.overwrite:
        return False
    if (run_dir / "metrics.json").is_file():
        raise FileExistsError(
            f"Run folder {run_dir} holds a finished run; choose another output.name or set "
            "output.overwrite=true."
        )
    saved = run_dir / "config.json"
    if saved.is_file():
        previous = TrainConfig.from_dict(json.loads(saved.read_text()))
        if _comparable(previous) != _comparable(config):
            raise ValueError(
                f"Run folder {run_dir} holds an interrupted run with a different config; resume it "
                f"with the config in {saved}, or set output.overwrite=true to start again."
            )
        return True
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(
            f"Run folder {run_dir} exists and holds no run of this config; choose another output.name "
            "or set output.overwrite=true."
        )
    return False


def start_run_dir(config: TrainConfig, run_dir: pathlib.Path, resuming: bool) -> None:
    """The chief's first writes: a fresh folder (`output.overwrite`), temporaries swept, `config.json`."""
    if config.output.overwrite and not resuming and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    callbacks_lib.remove_stale_temporaries(run_dir)
    save_config(config, run_dir / "config.json")


def mark_training_done(run_dir, initial_epoch, fit_seconds) -> None:
    """Records (atomically) that the training phase ended, then removes the resume backup.

    A run killed after this point resumes straight to evaluation and writing instead of training again.
    """
    multiview.write_json(
        pathlib.Path(run_dir) / TRAINING_DONE,
        {"initial_epoch": int(initial_epoch), "fit_seconds": float(fit_seconds)},
    )
    callbacks_lib.fault_point("after_training_done")
    shutil.rmtree(pathlib.Path(run_dir) / "backup", ignore_errors=True)


def read_training_done(run_dir) -> dict | None:
    """The content of `run_dir/training_done.json`, or None when training has not finished."""
    path = pathlib.Path(run_dir) / TRAINING_DONE
    return json.loads(path.read_text()) if path.is_file() else None


def worker_dir(config: TrainConfig) -> pathlib.Path:
    """Where a non-chief worker keeps its own backup (`<runs_dir>/.workers/<name>/<type>-<index>`), so a
    restarted cluster resumes every worker from the same epoch."""
    from training.engine.strategy import worker_index

    task_type, index = worker_index()
    return (
        pathlib.Path(config.output.runs_dir)
        / ".workers"
        / config.output.name
        / f"{task_type}-{index}"
    )
