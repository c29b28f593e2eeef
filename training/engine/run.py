"""`run(config) -> RunResult`: train, checkpoint, resume, evaluate and write a run folder.

A run folder `<runs_dir>/<name>/` holds, when the run has finished:
`config.json` (the resolved config), `best.keras` (best validation epoch), `log.csv`, `tensorboard/`,
`curves.png`, `metrics.json` (test metrics and the training clips' top-1 in inference mode, written last:
its presence marks a finished run),
`confusion.png` (single-label), `attention.png|gif`, and `export/` with `--export`. While it trains, `backup/`
holds the resume state (`callbacks.AtomicBackupAndRestore`, committed atomically after each epoch's CSV row
and checkpoint): running the same config (same name) again resumes from the last finished epoch and ends
after the same number of epochs, whatever the moment of a kill. `training_done.json`, written atomically
when training ends, makes a rerun go straight to evaluation and writing.

Every check that can fail on bad input (dataset folder, backbone, layer names, weights file, mixed precision,
a finished run of the same name) runs before anything is written.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from training.config.core import TrainConfig
from training.data import datasets
from training.engine import callbacks as callbacks_lib
from training.engine import optim
from training.engine.batch_norm import precise_bn_callback
from training.engine.build import build_compiled_model, build_model, check_label_kind, compile_model
from training.engine.final_evaluation import (
    evaluation_split,
    export_run,
    finish,
    headline,
    write_attention_example,
)
from training.engine.run_dir import (
    TRAINING_DONE,
    mark_training_done,
    prepare_run_dir,
    read_training_done,
    resolve_config,
    start_run_dir,
    worker_dir,
)
from training.engine.scope import mixed_precision_policy, policy_scope, training_scope
from training.engine.strategy import is_chief, make_strategy
from training.evaluation import multiview, plots
from training.evaluation.metrics import top_k_reported

# Re-exported from the modules the run is split into (their names were importable from here).
__all__ = [
    "TRAINING_DONE",
    "RunResult",
    "build_compiled_model",
    "build_model",
    "compile_model",
    "evaluation_split",
    "mark_training_done",
    "mixed_precision_policy",
    "policy_scope",
    "read_training_done",
    "run",
    "training_scope",
    "write_attention_example",
]


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What `run` produced.

    Attributes:
        run_dir: the run folder.
        config: the resolved config (name and dataset folder filled in), as saved in `config.json`.
        model_path: `run_dir/best.keras` (None on non-chief workers).
        metrics: the content of `metrics.json` (`{}` on non-chief workers).
        history: per-epoch columns of the CSV log (all epochs, across resumes).
        initial_epoch: the epoch training started from (> 0 when the run was resumed).
        epochs_completed: epochs finished in total.
        model: the trained model (final weights, still under its strategy).
        export_dir: the servable SavedModel base folder, when exported.
    """

    run_dir: pathlib.Path
    config: TrainConfig
    model_path: pathlib.Path | None
    metrics: dict
    history: dict
    initial_epoch: int
    epochs_completed: int
    model: Any = None
    export_dir: pathlib.Path | None = None


def _check_monitor(config: TrainConfig, info, has_validation: bool) -> None:
    """`train.monitor` must be a metric this run logs (checked before anything is written)."""
    top5 = not info.multi_label and top_k_reported(5, info.num_classes)
    names = ["loss"] + (["auc"] if info.multi_label else ["accuracy"]) + (["top5"] if top5 else [])
    valid = names + ([f"val_{name}" for name in names] if has_validation else [])
    if has_validation and config.train.monitor not in valid:
        no_top5 = "" if top5 or info.multi_label else f", no top5 with {info.num_classes} classes"
        raise ValueError(
            f"train.monitor must be one of {valid} for this dataset "
            f"({'multi' if info.multi_label else 'single'}-label{no_top5}). "
            f"Received: train.monitor={config.train.monitor!r}"
        )


def run(
    config: TrainConfig,
    *,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    log: Callable[[str], None] = print,
) -> RunResult:
    """Trains and evaluates `config`, writing the run folder (see the module docstring).

    Args:
        config: a `TrainConfig`.
        extra_callbacks: appended to the run's callbacks (after checkpointing and logging).
        log: receives one progress line at a time.

    Returns:
        A `RunResult`.

    Raises:
        FileNotFoundError: a missing dataset folder or weights file.
        FileExistsError: a finished run of the same name (without `output.overwrite`).
        ValueError: a config the model builder or the dataset rejects (unknown layer, label kind, ...).
    """
    start = time.perf_counter()
    strategy = make_strategy(config.train.strategy)
    chief = is_chief(strategy)
    data_dir = datasets.resolve_data_dir(config, log=log)
    info = datasets.dataset_info(data_dir)
    check_label_kind(config, info)
    evaluation_split(config, info)
    config = resolve_config(config, data_dir)
    run_dir = pathlib.Path(config.output.runs_dir) / config.output.name
    resuming = prepare_run_dir(config, run_dir)
    with training_scope(config):
        steps = datasets.steps_per_epoch(info, config)
        setup = _set_up(config, info, data_dir, strategy, steps)
        # Everything that can reject the input has run: from here on the run folder is written.
        if chief:
            start_run_dir(config, run_dir, resuming)
        log(_start_line(config, run_dir, resuming, info, steps, setup, strategy))
        done = read_training_done(run_dir) if resuming else None
        if done is not None and not chief:  # restarted after training: the chief evaluates alone
            return _worker_done(config, run_dir, done, setup.model)
        if done is None:
            history, fit_seconds = _fit(config, setup, run_dir, chief, steps, extra_callbacks, log)
            initial_epoch = int(history.epoch[0]) if history.epoch else config.train.epochs
            if not chief:
                shutil.rmtree(worker_dir(config), ignore_errors=True)
                return RunResult(
                    run_dir, config, None, {}, dict(history.history), initial_epoch,
                    initial_epoch + len(history.epoch), setup.model,
                )  # fmt: skip
            mark_training_done(run_dir, initial_epoch, fit_seconds)
        else:
            history, initial_epoch, fit_seconds = None, done["initial_epoch"], done["fit_seconds"]
            shutil.rmtree(run_dir / "backup", ignore_errors=True)  # killed before it was removed
            log(f"[run] training had finished ({TRAINING_DONE}): evaluating and writing only")
        result = finish(config, run_dir, info, data_dir, history, fit_seconds, initial_epoch, log)
        return _conclude(config, run_dir, result, setup.model, initial_epoch, start, log)


def _worker_done(config: TrainConfig, run_dir: pathlib.Path, done: dict, model) -> RunResult:
    """A non-chief worker of a cluster restarted after `TRAINING_DONE`: it does not train again (its
    collective ops would wait for a chief that only evaluates); its own backup goes."""
    shutil.rmtree(worker_dir(config), ignore_errors=True)
    epochs = len(plots.read_csv_log(run_dir / "log.csv").get("epoch", []))
    return RunResult(run_dir, config, None, {}, {}, int(done["initial_epoch"]), epochs, model)


def _start_line(config, run_dir, resuming, info, steps, setup, strategy) -> str:
    return (
        f"[run] {run_dir} ({'resuming' if resuming else 'new'}): {info.num_classes} classes, "
        f"{datasets.training_clip_count(info, config)} training clips, {steps} steps/epoch, "
        f"{setup.model.count_params():,} parameters, strategy={config.train.strategy} "
        f"({strategy.num_replicas_in_sync} replicas), "
        f"policy={mixed_precision_policy(config.train.mixed_precision) or 'float32'}, "
        f"crops resized in the {setup.resize}"
    )


def _conclude(config, run_dir, result, model, initial_epoch, start, log) -> RunResult:
    """Exports (`output.export`), writes `metrics.json` last (it marks a finished run), logs the headline."""
    export_dir = export_run(config, run_dir, log) if config.output.export else None
    result["wall_time_s"] = time.perf_counter() - start
    multiview.write_json(run_dir / "metrics.json", result)
    log(f"[run] finished in {result['wall_time_s']:.0f} s: {headline(result)}; folder {run_dir}")
    return RunResult(
        run_dir=run_dir,
        config=config,
        model_path=run_dir / "best.keras",
        metrics=result,
        history=plots.read_csv_log(run_dir / "log.csv"),
        initial_epoch=initial_epoch,
        epochs_completed=result["epochs_completed"],
        model=model,
        export_dir=export_dir,
    )


@dataclasses.dataclass
class _Setup:
    """What a run trains: the classifier, the model fitted (the classifier, or it behind the frame
    resize), the datasets and the validation steps."""

    model: keras.Model
    trained: keras.Model
    train_ds: Any
    val_ds: Any
    validation_steps: int | None
    resize: str


def _set_up(config, info, data_dir, strategy, steps) -> _Setup:
    from keras_ispan.models import with_frame_resize

    train_ds, val_ds = datasets.make_datasets(config, data_dir)
    # Repeated datasets with explicit step counts: exact epochs and known progress-bar lengths.
    train_ds = _shard_by_data(train_ds.repeat(), strategy)
    validation_steps = None
    if val_ds is not None:
        validation_steps = config.train.validation_steps or datasets.eval_steps(
            info, config, datasets.validation_split(info, config)
        )
        val_ds = _shard_by_data(val_ds.repeat(), strategy)
    _check_monitor(config, info, has_validation=val_ds is not None)
    resize = datasets.training_resize(config)
    with strategy.scope():
        model = build_model(config, info)
        if strategy.num_replicas_in_sync > 1 and config.train.sync_batch_norm:
            optim.synchronize_batch_norm(model)
        # resize="model": crops of one size per batch, resized (and flipped) by the model's first
        # layers; the classifier inside (same weights) is checkpointed, evaluated and exported
        trained = model
        if resize == "model":
            trained = with_frame_resize(model, flip=config.data.flip, seed=config.train.seed)
        trained = compile_model(trained, config, info, steps)
    return _Setup(model, trained, train_ds, val_ds, validation_steps, resize)


def _fit(config, setup: _Setup, run_dir, chief, steps, extra_callbacks, log=print):
    validated = setup.val_ds is not None
    callbacks = callbacks_lib.make_callbacks(
        run_dir,
        monitor=config.train.monitor if validated else "loss",
        mode=config.train.monitor_mode if validated else "min",
        chief=chief,
        worker_dir=worker_dir(config),
        early_stopping_patience=config.train.early_stopping_patience,
        tensorboard=config.output.tensorboard,
        saved_model=setup.model if setup.trained is not setup.model else None,
        extra=extra_callbacks,
    )
    if config.train.precise_bn:  # first: before validation and before the checkpoint
        callbacks.insert(0, precise_bn_callback(config, setup.model, log))
    fit_start = time.perf_counter()
    history = setup.trained.fit(
        setup.train_ds,
        validation_data=setup.val_ds,
        epochs=config.train.epochs,
        steps_per_epoch=steps,
        validation_steps=setup.validation_steps,
        shuffle=False,
        callbacks=callbacks,
        verbose=callbacks_lib.progress_verbosity(config.train.verbose),
    )
    return history, time.perf_counter() - fit_start


def _shard_by_data(dataset, strategy):
    """Under several workers, shard by element: a split may have fewer files than workers."""
    if getattr(strategy.extended, "_num_workers", 1) <= 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
