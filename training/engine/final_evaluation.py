"""The end of a run: the best checkpoint evaluated (multi-view, per stream), the training clips checked in
inference mode (collapse to one class), curves, confusion matrix and attention picture, the metrics dict,
its headline, and the SavedModel export (`output.export`)."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import tensorflow as tf

from keras_ispan.models import load_classifier
from training.config.core import TrainConfig
from training.data import datasets
from training.engine import callbacks as callbacks_lib
from training.engine import streams as streams_lib
from training.evaluation import attention_pictures as visualize
from training.evaluation import multiview, plots

__all__ = ["evaluation_split", "export_run", "finish", "headline", "write_attention_example"]


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


def headline(result: dict) -> str:
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


def finish(config, run_dir, info, data_dir, history, fit_seconds, initial_epoch, log) -> dict:
    """Curves, best-model evaluation, confusion matrix and attention picture; returns the metrics dict."""
    columns = plots.read_csv_log(run_dir / "log.csv")
    epochs_completed = len(columns.get("epoch", []))
    plots.plot_curves(columns, run_dir / "curves.png", title=config.output.name)
    best_state = json.loads((run_dir / "best.keras.best.json").read_text())
    model = load_classifier(run_dir / "best.keras")
    calibration = streams_lib.calibrate_best(model, config, run_dir, data_dir, info, log)
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
        **({"stream_temperatures": calibration} if calibration else {}),
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


def export_run(config: TrainConfig, run_dir: pathlib.Path, log) -> pathlib.Path:
    """Exports `best.keras` as a TF Serving SavedModel version under `run_dir/export`."""
    from keras_ispan.export.saved_model import export_model

    result = export_model(load_classifier(run_dir / "best.keras"), run_dir / "export", name="ispan")
    log(f"[run] exported SavedModel version {result.version} to {result.version_dir}")
    log(f"[run] serve it with: {result.docker_command}")
    return run_dir / "export"
