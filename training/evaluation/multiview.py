"""Evaluation: model loading with clear errors, class checks, multi-view scores in bounded chunks, metrics and
the frames sweep (the same weights evaluated with T = 1, 2, 4, 8, 16, 25 frames)."""

from __future__ import annotations

import pathlib
import time

import numpy as np
import tensorflow as tf

from training.evaluation import metrics as metrics_lib

__all__ = [
    "check_classes",
    "evaluate",
    "evaluate_streams",
    "frames_sweep",
    "predict_scores",
]


def check_classes(model, info, model_path="model") -> None:
    """Raises a `ValueError` naming both sides when the dataset's classes differ from the model's."""
    from keras_ispan.models import classifier_info

    model_info = classifier_info(model)
    names, multi_label = list(model_info.class_names), model_info.multi_label
    dataset = list(info.classes)
    if model.get_layer("logits").class_names is None:
        if model_info.num_classes != len(dataset):
            raise ValueError(
                f"{model_path} has {model_info.num_classes} outputs but dataset {info.path} has "
                f"{len(dataset)} classes."
            )
        return
    if names != dataset:
        only_model = [c for c in names if c not in dataset]
        only_data = [c for c in dataset if c not in names]
        detail = (
            f"only in the model: {_listed(only_model)}, only in the dataset: {_listed(only_data)}"
            if only_model or only_data
            else "same names in a different order"
        )
        raise ValueError(
            f"The classes of {model_path} ({len(names)}) disagree with those of dataset {info.path} "
            f"({len(dataset)}): {detail}."
        )
    if multi_label != info.multi_label:
        raise ValueError(
            f"{model_path} is multi_label={multi_label} but dataset {info.path} is "
            f"multi_label={info.multi_label}."
        )


def _listed(names, shown=5) -> str:
    """`names` for a message: all of them when at most `shown + 1`, else the first `shown` and how many
    more (never cut silently)."""
    if len(names) <= shown + 1:
        return "[" + ", ".join(map(repr, names)) + "]"
    return "[" + ", ".join(map(repr, names[:shown])) + f", ... and {len(names) - shown} more]"


def _score_function(model, multi_label: bool):
    """A `tf.function` per input dtype with a `(None, None, S, S, C)` signature per input (frames, flow,
    or the dict of both of a two-stream model): one trace for every batch size and number of frames,
    as long as the same function is used (`frames_sweep` passes one to every `evaluate`: a new one per
    T traced the model again each time, and TensorFlow warned of retracing). `scores.functions` holds
    the traced functions."""
    activation = tf.nn.sigmoid if multi_label else tf.nn.softmax
    traced = {}

    def scores(inputs):
        key = tuple(t.dtype for t in tf.nest.flatten(inputs))
        if key not in traced:
            spec = tf.nest.map_structure(
                lambda t: tf.TensorSpec([None, None, *t.shape[2:]], t.dtype), inputs
            )

            @tf.function(input_signature=[spec])
            def function(x):
                return activation(tf.cast(model(x, training=False), tf.float32))

            traced[key] = function
        return traced[key](inputs)

    scores.functions = traced
    return scores


def predict_scores(
    model, dataset, *, multi_label: bool, chunk_views: int = 10, progress=None, scores_fn=None
):
    """Per-clip probabilities averaged over views, and the labels.

    Args:
        model: a classifier with logits `(batch, classes)`.
        dataset: `(inputs, labels)` batches; inputs `(batch, K, S, S, C)` or `(batch, views, K, S, S, C)`
            (frames, flow stacks, or a dict `{"rgb", "flow"}` of both for a two-stream model).
        multi_label: sigmoid scores instead of softmax.
        chunk_views: clip views passed through the model at once (bounds the activation memory).
        progress: optional callable `(clips_done, seconds)` called after each batch.
        scores_fn: `_score_function(model, multi_label)` to reuse across calls (one trace); None:
            a new one.

    Returns:
        `(scores (num_clips, classes) float64, labels (num_clips,) or (num_clips, classes))`.
    """
    scores_fn = scores_fn or _score_function(model, multi_label)
    all_scores, all_labels = [], []
    start, done = time.perf_counter(), 0
    for inputs, labels in dataset:
        inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
        first = tf.nest.flatten(inputs)[0]
        views = 1
        if first.shape.rank == 6:
            views = int(first.shape[1])
            inputs = tf.nest.map_structure(lambda t: tf.reshape(t, [-1, *t.shape[2:]]), inputs)
        count = int(tf.nest.flatten(inputs)[0].shape[0])
        parts = [
            scores_fn(tf.nest.map_structure(lambda t, i=i: t[i : i + chunk_views], inputs)).numpy()
            for i in range(0, count, chunk_views)
        ]
        probs = np.concatenate(parts, axis=0).astype(np.float64)
        probs = probs.reshape(-1, views, probs.shape[-1]).mean(axis=1)
        all_scores.append(probs)
        all_labels.append(np.asarray(labels))
        done += probs.shape[0]
        if progress is not None:
            progress(done, time.perf_counter() - start)
    if not all_scores:
        raise ValueError("The evaluation dataset is empty.")
    return np.concatenate(all_scores, axis=0), np.concatenate(all_labels, axis=0)


def evaluate_streams(model, dataset, **kwargs) -> dict:
    """Each stream of a two-stream model evaluated alone on the same views (`{"rgb": metrics, "flow":
    metrics}`, without confusion matrices); `{}` for a one-stream model. `kwargs`: `evaluate`'s."""
    from keras_ispan.models import is_two_stream, stream_classifier
    from keras_ispan.options import STREAMS

    if not is_two_stream(model):
        return {}
    streams = {}
    for stream in STREAMS:
        part = dataset.map(lambda inputs, labels, s=stream: (inputs[s], labels))
        result = evaluate(stream_classifier(model, stream), part, **kwargs)
        result.pop("confusion_matrix", None)
        streams[stream] = result
    return streams


def evaluate(
    model,
    dataset,
    *,
    multi_label: bool,
    chunk_views: int = 10,
    top_k: int = 5,
    progress=None,
    scores_fn=None,
):
    """`metrics.summarize` of `predict_scores` plus the evaluation speed (`clips_per_s`)."""
    start = time.perf_counter()
    scores, labels = predict_scores(
        model,
        dataset,
        multi_label=multi_label,
        chunk_views=chunk_views,
        progress=progress,
        scores_fn=scores_fn,
    )
    result = metrics_lib.summarize(scores, labels, multi_label=multi_label, top_k=top_k)
    result["clips_per_s"] = len(scores) / max(time.perf_counter() - start, 1e-9)
    return result


def frames_sweep(
    model, make_eval_dataset, counts, *, multi_label: bool, chunk_views=10, top_k=5, log=print
):
    """The same weights evaluated with each number of frames in `counts`.

    Args:
        make_eval_dataset: `num_segments -> dataset` (deterministic evaluation sampling).
        counts: numbers of frames, e.g. `(1, 2, 4, 8, 16, 25)`.

    Returns:
        A list of `{"frames": T, "top1"|"mAP": ..., ...}` without confusion matrices.
    """
    rows = []
    scores_fn = _score_function(model, multi_label)  # one trace for every T
    for count in counts:
        result = evaluate(
            model,
            make_eval_dataset(int(count)),
            multi_label=multi_label,
            chunk_views=chunk_views,
            top_k=top_k,
            scores_fn=scores_fn,
        )
        result.pop("confusion_matrix", None)
        row = {"frames": int(count), **result}
        rows.append(row)
        main = f"mAP {row['mAP']:.4f}" if multi_label else f"top-1 {row['top1']:.4f}"
        log(f"frames sweep: T={count:3d}  {main}  ({row['clips_per_s']:.1f} clips/s)")
    return rows


def write_json(path, obj) -> pathlib.Path:
    """Atomic JSON write (`keras_ispan.io.atomic.write_json_atomic`)."""
    from keras_ispan.io.atomic import write_json_atomic

    write_json_atomic(path, obj, indent=2)
    return pathlib.Path(path)


def run_evaluation(
    model_path,
    data_dir,
    *,
    split: str = "test",
    num_segments: int = 25,
    crops: int = 1,
    clips: int = 1,
    sweep=(),
    sweep_crops: int = 1,
    output_dir=None,
    batch_size: int = 8,
    chunk_views: int = 10,
    top_k: int = 5,
    log=print,
) -> dict:
    """Evaluates a `.keras` classifier on a dataset split; optionally the frames sweep; writes results.

    Checks everything before writing: the model file, the dataset folder and that their classes agree.

    Args:
        model_path: the `.keras` file.
        data_dir: a dataset folder.
        split: `train`, `val` or `test`.
        num_segments, crops, clips: the multi-view protocol (`K` frames x `crops * clips` views).
        sweep: numbers of frames for the frames sweep (empty: none).
        sweep_crops: crops per clip in the sweep.
        output_dir: where `evaluation.json`, `confusion.png` (single-label) and `frames_sweep.png` go; None
            writes nothing.
        batch_size: clips per batch; chunk_views: views per model call (bounds memory).

    Returns:
        `{"model", "dataset", "split", "protocol", "metrics", "streams", "frames_sweep"}`; `streams`
        holds each stream's metrics for a two-stream model (`evaluate_streams`), else `{}`.
    """
    model, info = _model_and_dataset(model_path, data_dir)
    make = _view_datasets(model, data_dir, split, batch_size)
    views = crops * clips
    log(f"[evaluate] {model_path} on {data_dir} '{split}': {num_segments} frames x {views} views")
    common = dict(multi_label=info.multi_label, chunk_views=chunk_views, top_k=top_k)
    progress = _progress_lines(info.counts.get(split), log)
    result = evaluate(model, make(num_segments, crops, clips), progress=progress, **common)
    streams = evaluate_streams(model, make(num_segments, crops, clips), **common)
    sweep_rows = frames_sweep(model, lambda t: make(t, sweep_crops, 1), sweep, log=log, **common)
    summary = {
        "model": str(model_path),
        "dataset": str(data_dir),
        "split": split,
        "protocol": {
            "num_segments": num_segments,
            "crops": crops,
            "clips": clips,
            "top_k": top_k,
            # the sweep's views differ from the main evaluation's: said, not left implicit
            **({"sweep_views": {"crops": sweep_crops, "clips": 1}} if sweep else {}),
        },
        "metrics": result,
        "streams": streams,
        "frames_sweep": sweep_rows,
    }
    if output_dir is not None:
        _write_outputs(summary, info, pathlib.Path(output_dir))
    return summary


def _model_and_dataset(model_path, data_dir):
    """`(model, dataset info)`, their classes checked against each other (`check_classes`)."""
    from keras_ispan.models import load_classifier
    from training.data import datasets

    model = load_classifier(model_path)
    info = datasets.dataset_info(data_dir)
    check_classes(model, info, model_path)
    return model, info


def _view_datasets(model, data_dir, split, batch_size):
    """`make(num_segments, crops, clips)`: the evaluation dataset of `split` with the model's transform."""
    from keras_ispan.models import classifier_info
    from training.config.core import TrainConfig
    from training.data import datasets

    info = classifier_info(model)
    transform = info.transform
    config = TrainConfig.from_dict(
        {
            "data": {
                "data_dir": str(data_dir),
                "image_size": transform.image_size,
                "batch_size": batch_size,
                "cache": False,
            },
            # what the model reads: frames, flow stacks of its length, or both
            "model": {"modality": info.modality, "flow_length": info.flow_length or 5},
        }
    )

    def make(count, crops, clips):
        return datasets.eval_dataset(
            config, data_dir, split, num_segments=count, crops=crops, num_clips=clips,
            resize_ratio=transform.resize_ratio,
        )  # fmt: skip

    return make


def _progress_lines(total, log, every_s=5.0):
    """A `progress(done, seconds)` that logs at most one line every `every_s` seconds, and the last."""
    last = [-every_s * 2]

    def progress(done, seconds):
        if seconds - last[0] < every_s and done != total:
            return
        last[0] = seconds
        rate = done / max(seconds, 1e-9)
        eta = f", ETA {(total - done) / rate:.0f} s" if total else ""
        log(f"[evaluate] {done}/{total or '?'} clips, {rate:.1f} clips/s{eta}")

    return progress


def _write_outputs(summary, info, output_dir):
    from training.evaluation import plots

    result, sweep_rows = summary["metrics"], summary["frames_sweep"]
    if "confusion_matrix" in result:
        plots.plot_confusion(result["confusion_matrix"], info.classes, output_dir / "confusion.png")
    if sweep_rows:
        metric = "mAP" if info.multi_label else "top1"
        plots.plot_frames_sweep(sweep_rows, output_dir / "frames_sweep.png", metric=metric)
    write_json(output_dir / "evaluation.json", summary)


def format_summary(summary: dict) -> str:
    """A printable table of `run_evaluation`'s result."""
    metrics = summary["metrics"]
    protocol = summary["protocol"]
    lines = [
        f"model   {summary['model']}",
        f"dataset {summary['dataset']} ({summary['split']}, {metrics['num_clips']} clips)",
        f"views   {protocol['num_segments']} frames x {protocol['crops']} crops x {protocol['clips']} clips",
    ]
    for key, value in metrics.items():
        if key not in ("confusion_matrix", "num_clips"):
            lines.append(f"{key:<22}{value:.4f}")
    k, num_classes = protocol.get("top_k"), len(metrics.get("confusion_matrix", ()))
    if k and num_classes and not metrics_lib.top_k_reported(k, num_classes):
        lines.append(
            f"{'top' + str(k):<22}not reported: {num_classes} classes (always 1 for k >= classes)"
        )
    for stream, values in summary.get("streams", {}).items():
        metric = "mAP" if "mAP" in values else "top1"
        lines.append(f"{stream + ' stream ' + metric:<22}{values[metric]:.4f}")
    if summary["frames_sweep"]:
        metric = "mAP" if "mAP" in metrics else "top1"
        views = protocol.get("sweep_views", {"crops": 1, "clips": 1})
        lines.append(f"frames sweep ({views['crops']} crop x {views['clips']} clip per T):")
        lines.append(f"  {'T':>3}  {metric:>7}")
        for row in summary["frames_sweep"]:
            lines.append(f"  {row['frames']:>3}  {row[metric]:7.4f}")
    return "\n".join(lines)
