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

import contextlib
import dataclasses
import datetime
import json
import pathlib
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from keras_ispan.models import load_classifier
from training.config.core import TrainConfig, save_config
from training.engine import callbacks as callbacks_lib
from training.engine import datasets, optim
from training.engine.strategy import is_chief, make_strategy
from training.evaluation import attention_pictures as visualize
from training.evaluation import multiview, plots
from training.evaluation.metrics import top_k_reported

__all__ = [
    "RunResult",
    "build_compiled_model",
    "build_model",
    "compile_model",
    "mixed_precision_policy",
    "run",
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


# `model.*` keys passed to `build_classifier` under the same name.
_CLASSIFIER_KEYS = (
    "backbone", "head", "dropout", "downsample", "fusion", "bias", "attention_pooling",
    "interaction_weight", "diversity_weight", "normalize_features", "diversity_form",
    "classifier_initializer",
)  # fmt: skip


def build_model(config: TrainConfig, info) -> keras.Model:
    """The (uncompiled) classifier of `config` for the dataset described by `info` (its classes): one
    stream (`model.modality` `rgb` or `flow`) or both fused (`two_stream`)."""
    from keras_ispan.models import build_classifier, two_stream_from_streams

    model_cfg = config.model
    weights = model_cfg.weights_argument
    if weights not in (None, "imagenet") and not pathlib.Path(weights).is_file():
        raise FileNotFoundError(f"Backbone weights file not found: {weights} (model.weights)")
    common = dict(
        num_classes=info.num_classes,
        levels=list(model_cfg.levels) if model_cfg.levels else None,
        image_size=config.data.image_size,
        num_frames=config.data.num_segments,
        multi_label=info.multi_label,
        class_names=list(info.classes),
        **{name: getattr(model_cfg, name) for name in _CLASSIFIER_KEYS},
    )
    streams = []
    if model_cfg.modality in ("rgb", "two_stream"):
        name = "rgb" if model_cfg.modality == "two_stream" else None
        streams.append(build_classifier(weights=weights, name=name, **common))
    if model_cfg.modality in ("flow", "two_stream"):
        # cross-modality initialisation from the RGB stream's backbone (or from `weights`)
        flow_weights = (streams[0] if streams else weights) if weights else None
        name = "flow" if model_cfg.modality == "two_stream" else None
        flow = build_classifier(
            weights=flow_weights, modality="flow", flow_length=model_cfg.flow_length, name=name,
            **common,
        )  # fmt: skip
        streams.append(flow)
    for stream in streams:
        optim.freeze_layers(stream, model_cfg)
    if len(streams) == 1:
        return streams[0]
    return two_stream_from_streams(
        *streams, fusion=model_cfg.stream_fusion, stream_weights=model_cfg.stream_weights,
        dropout=model_cfg.dropout,
    )  # fmt: skip


def compile_model(
    model: keras.Model, config: TrainConfig, info, steps_per_epoch: int
) -> keras.Model:
    """Compiles with the configured optimiser and schedule, (sigmoid) cross-entropy and metrics. The ISPAN
    layer's regularisers are added by the layer itself (`add_loss`, training only)."""
    model.compile(
        optimizer=optim.build_optimizer(config.optim, steps_per_epoch, config.train.epochs),
        loss=optim.build_loss(info.multi_label, config.optim.label_smoothing),
        metrics=optim.build_metrics(info.multi_label, info.num_classes),
        jit_compile=False,
    )
    return model


def build_compiled_model(config: TrainConfig) -> keras.Model:
    """`config -> compiled model` for the tuner: resolves the dataset, builds, freezes and compiles."""
    info = datasets.dataset_info(datasets.resolve_data_dir(config))
    _check_label_kind(config, info)
    model = build_model(config, info)
    return compile_model(model, config, info, datasets.steps_per_epoch(info, config))


def evaluation_split(config: TrainConfig, info) -> str:
    """The split the finished run is evaluated on: `eval.split`, else the validation split.

    Raises:
        ValueError: naming the dataset, when it has neither (checked before training starts).
    """
    if info.counts.get(config.eval.split, 0):
        return config.eval.split
    split = datasets.validation_split(info, config)
    if split is None:
        raise ValueError(
            f"Dataset {info.path} has no clips in split {config.eval.split!r} (eval.split) nor a "
            f"validation split ({config.data.val_split!r}) to evaluate on; its splits: "
            f"{dict(info.counts)}. Convert it with a test split, e.g. `python training/prepare.py "
            "... --test-fraction 0.2` (each class needs at least 2 videos to have one in each split)."
        )
    return split


def _check_label_kind(config: TrainConfig, info) -> None:
    if config.model.multi_label != info.multi_label:
        raise ValueError(
            f"Dataset {info.path} is {'multi' if info.multi_label else 'single'}-label but "
            f"model.multi_label={str(config.model.multi_label).lower()}. "
            f"Received: model.multi_label={config.model.multi_label}"
        )


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


def mixed_precision_policy(setting: str) -> str | None:
    """`"mixed_float16"` or `None` for `train.mixed_precision` (`auto`: mixed on GPU only; `on` needs a GPU)."""
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if setting == "on" and not has_gpu:
        raise ValueError(
            "train.mixed_precision='on' needs a GPU (none is visible); use 'auto' or 'off'. "
            "Received: train.mixed_precision='on'"
        )
    if setting == "on" or (setting == "auto" and has_gpu):
        return "mixed_float16"
    return None


def _resolve(config: TrainConfig, data_dir: pathlib.Path) -> TrainConfig:
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


def _prepare_run_dir(config: TrainConfig, run_dir: pathlib.Path) -> bool:
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
    _check_label_kind(config, info)
    evaluation_split(config, info)
    config = _resolve(config, data_dir)
    run_dir = pathlib.Path(config.output.runs_dir) / config.output.name
    resuming = _prepare_run_dir(config, run_dir)
    with training_scope(config):
        steps = datasets.steps_per_epoch(info, config)
        setup = _set_up(config, info, data_dir, strategy, steps)
        # Everything that can reject the input has run: from here on the run folder is written.
        if chief:
            _start_run_dir(config, run_dir, resuming)
        log(_start_line(config, run_dir, resuming, info, steps, setup, strategy))
        done = read_training_done(run_dir) if resuming else None
        if done is not None and not chief:  # restarted after training: the chief evaluates alone
            return _worker_done(config, run_dir, done, setup.model)
        if done is None:
            history, fit_seconds = _fit(config, setup, run_dir, chief, steps, extra_callbacks, log)
            initial_epoch = int(history.epoch[0]) if history.epoch else config.train.epochs
            if not chief:
                shutil.rmtree(_worker_dir(config), ignore_errors=True)
                return RunResult(
                    run_dir, config, None, {}, dict(history.history), initial_epoch,
                    initial_epoch + len(history.epoch), setup.model,
                )  # fmt: skip
            mark_training_done(run_dir, initial_epoch, fit_seconds)
        else:
            history, initial_epoch, fit_seconds = None, done["initial_epoch"], done["fit_seconds"]
            shutil.rmtree(run_dir / "backup", ignore_errors=True)  # killed before it was removed
            log(f"[run] training had finished ({TRAINING_DONE}): evaluating and writing only")
        result = _finish(config, run_dir, info, data_dir, history, fit_seconds, initial_epoch, log)
        return _conclude(config, run_dir, result, setup.model, initial_epoch, start, log)


def _worker_done(config: TrainConfig, run_dir: pathlib.Path, done: dict, model) -> RunResult:
    """A non-chief worker of a cluster restarted after `TRAINING_DONE`: it does not train again (its
    collective ops would wait for a chief that only evaluates); its own backup goes."""
    shutil.rmtree(_worker_dir(config), ignore_errors=True)
    epochs = len(plots.read_csv_log(run_dir / "log.csv").get("epoch", []))
    return RunResult(run_dir, config, None, {}, {}, int(done["initial_epoch"]), epochs, model)


def _start_run_dir(config: TrainConfig, run_dir: pathlib.Path, resuming: bool) -> None:
    """The chief's first writes: a fresh folder (`output.overwrite`), temporaries swept, `config.json`."""
    if config.output.overwrite and not resuming and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    callbacks_lib.remove_stale_temporaries(run_dir)
    save_config(config, run_dir / "config.json")


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
    export_dir = _export(config, run_dir, log) if config.output.export else None
    result["wall_time_s"] = time.perf_counter() - start
    multiview.write_json(run_dir / "metrics.json", result)
    log(f"[run] finished in {result['wall_time_s']:.0f} s: {_headline(result)}; folder {run_dir}")
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


@contextlib.contextmanager
def training_scope(config: TrainConfig):
    """Sets the process-wide state a run needs (mixed-precision policy, random seeds) and restores it.

    On exit the global Keras dtype policy, Python's and NumPy's global random states and TensorFlow's
    global seed are what they were before."""
    import random

    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    tf_seed = tf.compat.v1.get_seed(None)[0]
    try:
        with policy_scope(mixed_precision_policy(config.train.mixed_precision)):
            keras.utils.set_random_seed(config.train.seed)
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        if tf_seed is not None:
            tf.random.set_seed(tf_seed)


@contextlib.contextmanager
def policy_scope(policy: str | None):
    """Sets the global Keras dtype policy to `policy` (None: leave it) and restores it on exit."""
    previous = keras.mixed_precision.global_policy()
    try:
        if policy:
            keras.mixed_precision.set_global_policy(policy)
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


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


TRAINING_DONE = "training_done.json"


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


def _fit(config, setup: _Setup, run_dir, chief, steps, extra_callbacks, log=print):
    validated = setup.val_ds is not None
    callbacks = callbacks_lib.make_callbacks(
        run_dir,
        monitor=config.train.monitor if validated else "loss",
        mode=config.train.monitor_mode if validated else "min",
        chief=chief,
        worker_dir=_worker_dir(config),
        early_stopping_patience=config.train.early_stopping_patience,
        tensorboard=config.output.tensorboard,
        saved_model=setup.model if setup.trained is not setup.model else None,
        extra=extra_callbacks,
    )
    if config.train.precise_bn:  # first: before validation and before the checkpoint
        callbacks.insert(0, _precise_bn_callback(config, setup.model, log))
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


def _precise_bn_callback(config: TrainConfig, classifier, log):
    """`train.precise_bn`: the training clips under the evaluation transform (centre crop, uncached)."""
    from training.engine.batch_norm import PreciseBatchNorm

    def training_clips():
        return datasets.training_clips(config, config.data.data_dir)

    return PreciseBatchNorm(classifier, training_clips, config.train.precise_bn_batches, log=log)


def _worker_dir(config: TrainConfig) -> pathlib.Path:
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


def _shard_by_data(dataset, strategy):
    """Under several workers, shard by element: a split may have fewer files than workers."""
    if getattr(strategy.extended, "_num_workers", 1) <= 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _headline(result: dict) -> str:
    test = result.get("test", {})
    split = result.get("split", "test")
    metric, name = ("mAP", "mAP") if "mAP" in test else ("top1", "top-1")
    streams = "".join(
        f", {stream} stream {name} {values[metric]:.4f}"
        for stream, values in result.get("streams", {}).items()
    )
    if "mAP" in test:
        return f"{split} mAP {test['mAP']:.4f}{streams}"
    line = f"{split} top-1 {test.get('top1', float('nan')):.4f}, mean class accuracy " + (
        f"{test.get('mean_class_accuracy', float('nan')):.4f}{streams}"
    )
    check = result.get("train_split")
    if check and check["logged_accuracy_at_best_epoch"] is not None:
        line += (
            f"; training clips in inference mode top-1 {check['inference_top1']:.4f} "
            f"(logged in training at the best epoch: {check['logged_accuracy_at_best_epoch']:.4f})"
        )
    return line


def _finish(config, run_dir, info, data_dir, history, fit_seconds, initial_epoch, log) -> dict:
    """Curves, best-model evaluation, confusion matrix and attention picture; returns the metrics dict."""
    columns = plots.read_csv_log(run_dir / "log.csv")
    epochs_completed = len(columns.get("epoch", []))
    plots.plot_curves(columns, run_dir / "curves.png", title=config.output.name)
    best_state = json.loads((run_dir / "best.keras.best.json").read_text())
    model = load_classifier(run_dir / "best.keras")
    split = evaluation_split(config, info)
    eval_ds = datasets.eval_dataset(
        config, data_dir, split, crops=config.eval.num_crops, num_clips=config.eval.num_clips
    )
    log(
        f"[run] evaluating {run_dir / 'best.keras'} (epoch {best_state['epoch'] + 1}) on '{split}': "
        f"{config.eval.num_segments} frames x {config.eval.num_crops * config.eval.num_clips} views"
    )
    test = multiview.evaluate(
        model,
        eval_ds,
        multi_label=info.multi_label,
        chunk_views=config.eval.chunk_views,
        top_k=config.eval.top_k,
    )
    streams = multiview.evaluate_streams(
        model, eval_ds, multi_label=info.multi_label, chunk_views=config.eval.chunk_views,
        top_k=config.eval.top_k,
    )  # fmt: skip
    if "confusion_matrix" in test:
        plots.plot_confusion(test["confusion_matrix"], info.classes, run_dir / "confusion.png")
    train_split = _train_split_check(config, data_dir, info, model, columns, best_state, log)
    if "confusion_matrix" in test:
        _warn_one_class(test["confusion_matrix"], split, info, log)
    callbacks_lib.fault_point("during_evaluation")
    picture = run_dir / f"attention.{config.output.attention_format}"
    write_attention_example(model, config, data_dir, split, info, picture)
    trained = max(epochs_completed - initial_epoch, 0)
    train_clips = int(info.counts.get(config.data.train_split, 0))
    return {
        "run": config.output.name,
        "dataset": str(data_dir),
        "split": split,
        "eval_protocol": {
            "num_segments": config.eval.num_segments,
            "num_crops": config.eval.num_crops,
            "num_clips": config.eval.num_clips,
        },
        "test": test,
        **({"streams": streams} if streams else {}),
        "best_epoch": int(best_state["epoch"]) + 1,
        "best_" + best_state["monitor"]: best_state["best"],
        "epochs_completed": epochs_completed,
        "initial_epoch": initial_epoch,
        "fit_seconds": fit_seconds,
        "train_clips_per_s": (trained * train_clips / fit_seconds) if fit_seconds > 0 else None,
        "final_epoch_logs": {k: v[-1] for k, v in columns.items() if k != "epoch" and v},
        **({"train_split": train_split} if train_split else {}),
    }


def _train_split_check(config, data_dir, info, model, columns, best_state, log) -> dict | None:
    """The best checkpoint on the training clips in inference mode (once, centre view), next to the
    training accuracy logged at the best epoch; warns when it predicts one class (single-label only)."""
    from training.evaluation import collapse

    if info.multi_label or not info.counts.get(config.data.train_split, 0):
        return None
    result = multiview.evaluate(
        model, datasets.training_clips(config, data_dir), multi_label=False, top_k=1
    )
    epochs = [int(e) for e in columns.get("epoch", [])]
    best = int(best_state["epoch"])
    logged = (
        columns["accuracy"][epochs.index(best)]
        if best in epochs and "accuracy" in columns
        else None
    )
    _warn_one_class(result["confusion_matrix"], config.data.train_split, info, log)
    return collapse.train_split_check(result, logged)


def _warn_one_class(confusion, split, info, log) -> None:
    from training.evaluation import collapse

    warning = collapse.one_class_warning(confusion, split, info.classes)
    if warning:
        log(warning)


def write_attention_example(model, config, data_dir, split, info, path, num_clips: int = 1):
    """Overlays the attention of the first clip of `split` on its sampled frames (`visualize`)."""
    from keras_ispan.models import export_outputs_model

    outputs_model = export_outputs_model(model)
    # one batch is read: without the cache (a partly read cached dataset warns and caches nothing)
    config = config.replace(data=dataclasses.replace(config.data, cache=False))
    dataset = datasets.eval_dataset(config, data_dir, split, crops=1, num_clips=1)
    inputs, labels = next(iter(dataset.take(1)))
    inputs = tf.nest.map_structure(lambda t: t[:num_clips], inputs)
    outputs = outputs_model(inputs, training=False)
    frames = _picture_frames(inputs)
    probabilities = keras.ops.convert_to_numpy(outputs["probabilities"])[0]
    attention = keras.ops.convert_to_numpy(outputs["attention"])[0]
    predicted = int(probabilities.argmax())
    if info.multi_label:
        truth = ",".join(info.classes[i] for i, v in enumerate(labels[0].numpy()) if v > 0)
    else:
        truth = info.classes[int(labels[0])]
    title = [
        f"true: {truth}",
        f"predicted: {info.classes[predicted]} ({probabilities[predicted]:.2f})",
    ]
    return visualize.save_attention_picture(frames[0].numpy(), attention, path, title=title)


def _picture_frames(inputs):
    """RGB frames to draw the attention on: the frames, the RGB stream's, or (flow stream) the first
    flow field of each stack as an image (red: x, green: y, blue: 128; grey is no motion)."""
    if isinstance(inputs, dict):
        return inputs["rgb"]
    if inputs.shape[-1] == 3:
        return inputs
    first = tf.cast(inputs[..., :2], tf.uint8)
    return tf.concat([first, tf.fill(tf.shape(first[..., :1]), tf.constant(128, tf.uint8))], -1)


def _export(config: TrainConfig, run_dir: pathlib.Path, log) -> pathlib.Path:
    """Exports `best.keras` as a TF Serving SavedModel version under `run_dir/export`."""
    from keras_ispan.export.saved_model import export_model

    result = export_model(load_classifier(run_dir / "best.keras"), run_dir / "export", name="ispan")
    log(f"[run] exported SavedModel version {result.version} to {result.version_dir}")
    log(f"[run] serve it with: {result.docker_command}")
    return run_dir / "export"
