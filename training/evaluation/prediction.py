"""Prediction on a video file: decode with PyAV at the video's own size, take `T` frames at the TSN segment
centres, apply the model's evaluation transform (`keras_ispan.io.frames_tf.eval_resize_and_crop` with the
`ClipTransform` recorded in the model), and return the top-k labels, the probabilities and the attention
saliency (`keras_ispan.models.export_outputs_model`).

The frames reach the model exactly as through an exported SavedModel's `serving_default` signature given
the same decoded frames, and as through `serving/client.py` (which sends the transform's resized frames).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

from keras_ispan.options import STREAMS

__all__ = [
    "Prediction",
    "Predictor",
    "WindowPrediction",
    "load_predictor",
    "predict_video",
    "predict_video_anytime",
    "predict_windows",
]


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A loaded classifier ready to predict: its outputs model and what it records about itself."""

    outputs_model: object
    info: object  # keras_ispan.models.ClassifierInfo
    model_path: pathlib.Path


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One video's prediction.

    Attributes:
        video: the file.
        top_k: `[(class name, probability), ...]`, best first (sigmoid scores for multi-label models).
        probabilities: `(classes,)`.
        frames: the sampled, cropped frames `(T, S, S, 3)` uint8 the model saw.
        attention: the saliency `(T, h, w)` (sums to 1 over the clip).
        frame_indices: indices of the sampled frames in the decoded video.
        latency_ms: wall time of the model call (not the decoding), in milliseconds.
        source_frames: uint8 `(T, H, W, 3)`, the sampled frames at the video's own size.
        rotation: counter-clockwise degrees of display rotation applied to the frames (0: none).
        warnings: what the decoder reports about the video (`keras_ispan.io.video`'s
            `info["warnings"]`: the display rotation applied, an incomplete file, a decoding error).
    """

    video: pathlib.Path
    top_k: list
    probabilities: np.ndarray
    frames: np.ndarray
    attention: np.ndarray
    frame_indices: np.ndarray
    latency_ms: float = 0.0
    source_frames: np.ndarray | None = None
    rotation: int = 0
    warnings: tuple = ()
    anytime: dict | None = None
    streams: dict | None = None

    def to_json(self) -> dict:
        """The machine-readable record printed by `predict.py --json` (keys shared with `client.py`);
        with `--anytime` also `anytime`: `threshold`, `criterion`, `max_frames`, `budget_ms`, `stopped`,
        `confidence`."""
        extra = {"anytime": dict(self.anytime)} if self.anytime is not None else {}
        if self.streams is not None:  # a two-stream model: each stream's top-k alone
            extra["streams"] = {
                stream: [{"class": name, "score": score} for name, score in pairs]
                for stream, pairs in self.streams.items()
            }
        return {
            "video": str(self.video),
            "top_k": [{"class": name, "score": score} for name, score in self.top_k],
            "frames_used": int(self.frames.shape[0]),
            "frame_indices": [int(i) for i in self.frame_indices],
            "attention_shape": [int(d) for d in self.attention.shape],
            "latency_ms": round(float(self.latency_ms), 3),
            "rotation": int(self.rotation),
            "warnings": list(self.warnings),
            **extra,
        }


def load_predictor(model_path) -> Predictor:
    """A `Predictor` for the `.keras` classifier at `model_path` (`keras_ispan.models.load_classifier`).

    Raises:
        FileNotFoundError, ValueError: naming the file (see `load_classifier`).
    """
    from keras_ispan.models import classifier_info, export_outputs_model, load_classifier

    model = load_classifier(model_path)
    return Predictor(export_outputs_model(model), classifier_info(model), pathlib.Path(model_path))


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def predict_video(
    predictor: Predictor, video, *, num_frames: int = 8, top_k: int = 5
) -> Prediction:
    """Predicts the classes of `video` with `predictor` (from `load_predictor`).

    Args:
        predictor: `load_predictor(model_path)`.
        video: a video file PyAV can read (MP4, AVI, WebM, GIF, ...).
        num_frames: `T`, frames sampled at the TSN segment centres
            (`keras_ispan.io.video.sample_segment_indices(..., mode="center")`).
        top_k: labels returned.

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file when it cannot be decoded;
        ValueError for a `num_frames` or `top_k` below 1.
    """
    from keras_ispan.io.video import read_clip

    _check_positive("num_frames", num_frames)
    _check_positive("top_k", top_k)
    if predictor.info.modality != "rgb":
        return _predict_streams(predictor, video, num_frames, top_k)
    clip, clip_info = read_clip(video, num_frames, short_side=None)
    source, indices = clip[0], clip_info["frame_indices"][0]
    frames, probabilities, attention, latency_ms = _classify(predictor, source)
    return Prediction(
        video=pathlib.Path(video),
        top_k=_top_k(predictor, probabilities, top_k),
        probabilities=probabilities,
        frames=frames,
        attention=attention,
        frame_indices=indices,
        latency_ms=latency_ms,
        source_frames=source,
        rotation=int(clip_info["rotation"]),
        warnings=tuple(clip_info["warnings"]),
    )


def predict_video_anytime(
    predictor: Predictor, video, *, threshold=0.9, max_frames=8, budget_ms=None, top_k=5,
    criterion="top1", anytime=None,
) -> Prediction:  # fmt: skip
    """Anytime prediction on `video`: the `max_frames` TSN centres (as `predict_video`), transformed,
    through `keras_ispan.models.AnytimeClassifier.predict` in coarse-to-fine order. The `Prediction`
    holds the frames used in the order taken (`frames`, `attention`, `frame_indices` into the video),
    `latency_ms` of the model calls and `anytime` (the stop).

    Args:
        predictor: `load_predictor(model_path)`.
        video: a video file.
        threshold: stop when the confidence reaches it (above 1: never, all `max_frames` are used).
        max_frames: frames at most (the TSN centres of that many segments).
        budget_ms: stop once the model calls took this many milliseconds; None for no limit.
        top_k: labels returned.
        criterion: `"top1"` or `"margin"` (`AnytimeClassifier`).
        anytime: an `AnytimeClassifier` of the predictor's model to reuse across videos.

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file; ValueError for bad
        arguments.
    """
    from keras_ispan.io import frames_tf
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_indices
    from keras_ispan.io.video import read_clip
    from keras_ispan.models import AnytimeClassifier

    _check_positive("max_frames", max_frames)
    _check_positive("top_k", top_k)
    anytime = anytime or AnytimeClassifier(predictor.outputs_model, criterion=criterion)
    clip, clip_info = read_clip(video, max_frames, short_side=None)
    source, indices = clip[0], clip_info["frame_indices"][0]
    transform = predictor.info.transform
    frames = frames_tf.eval_resize_and_crop(
        source, transform.image_size, resize_ratio=transform.resize_ratio
    ).numpy()
    order = coarse_to_fine_indices(len(frames))
    result = anytime.predict(frames, threshold, budget_ms=budget_ms, order=order)
    used = result.frame_indices
    return Prediction(
        video=pathlib.Path(video),
        top_k=_top_k(predictor, result.probabilities, top_k),
        probabilities=result.probabilities,
        frames=frames[used],
        attention=result.attention,
        frame_indices=indices[used],
        latency_ms=result.latency_ms,
        source_frames=source[used],
        rotation=int(clip_info["rotation"]),
        warnings=tuple(clip_info["warnings"]),
        anytime={
            "threshold": float(threshold),
            "criterion": anytime.criterion,
            "max_frames": int(max_frames),
            "budget_ms": None if budget_ms is None else float(budget_ms),
            "stopped": result.stopped,
            "confidence": round(result.confidence, 6),
        },
    )


def _classify(predictor, source):
    """The model's evaluation transform and call on `source` `(T, H, W, 3)` uint8:
    `(frames, probabilities, attention, latency_ms)`."""
    from keras_ispan.io import frames_tf

    transform = predictor.info.transform
    frames = frames_tf.eval_resize_and_crop(
        source, transform.image_size, resize_ratio=transform.resize_ratio
    ).numpy()
    start = time.perf_counter()
    outputs = predictor.outputs_model(frames[None], training=False)
    probabilities = np.asarray(outputs["probabilities"])[0].astype(np.float64)
    latency_ms = (time.perf_counter() - start) * 1000.0
    attention = np.asarray(outputs["attention"])[0].astype(np.float64)
    return frames, probabilities, attention, latency_ms


def stream_inputs(info, video, num_frames):
    """The model inputs of a flow or two-stream model for `video`: `(inputs, frames, rgb source
    frames, frame indices, decode info)`, `inputs` the flow `(1, K, S, S, 2L)` or `{"rgb", "flow"}`
    uint8, `frames` the transformed RGB frames `(K, S, S, 3)` (the model's for two streams).

    The video is decoded as the model's training data was converted (`info.flow_settings`: its
    short side and frame rate, `keras_ispan.io.flow_clip.read_two_stream_clip`), flow computed
    with the conversion's code (`flow_stacks`, `clip_flow`'s steps), and the evaluation transform
    applied to both (`keras_ispan.export.streams.flow_model_input` for flow). A model that recorded
    no flow settings gets the frames resized to its short side (`transport_frames`)."""
    from keras_ispan.export.streams import flow_model_input
    from keras_ispan.io import frames_tf
    from keras_ispan.io.flow_clip import read_two_stream_clip

    size, ratio = info.transform.image_size, info.transform.resize_ratio
    resize = None
    if info.flow_settings is None:
        short = info.transform.short_side
        resize = lambda f: frames_tf.transport_frames(f, short).numpy()  # noqa: E731
    rgb, flow, indices, clip_info = read_two_stream_clip(
        video, num_frames, info.flow_length, settings=info.flow_settings, resize=resize
    )
    frames = frames_tf.eval_resize_and_crop(rgb, size, resize_ratio=ratio).numpy()
    flow = flow_model_input(flow[None], size, ratio).numpy()
    inputs = {"rgb": frames[None], "flow": flow} if info.modality == "two_stream" else flow
    return inputs, frames, rgb, indices, clip_info


def _predict_streams(predictor, video, num_frames, top_k) -> Prediction:
    """`predict_video` of a flow or two-stream model (inputs: `stream_inputs`)."""
    info = predictor.info
    inputs, frames, rgb, indices, clip_info = stream_inputs(info, video, num_frames)
    start = time.perf_counter()
    outputs = predictor.outputs_model(inputs, training=False)
    probabilities = np.asarray(outputs["probabilities"])[0].astype(np.float64)
    latency_ms = (time.perf_counter() - start) * 1000.0
    streams = None
    if info.modality == "two_stream":
        streams = {
            s: _top_k(predictor, np.asarray(outputs[f"{s}_probabilities"])[0], top_k)
            for s in STREAMS
        }
    return Prediction(
        video=pathlib.Path(video),
        top_k=_top_k(predictor, probabilities, top_k),
        probabilities=probabilities,
        frames=frames,
        attention=np.asarray(outputs["attention"])[0].astype(np.float64),
        frame_indices=indices,
        latency_ms=latency_ms,
        source_frames=rgb,
        rotation=int(clip_info["rotation"]),
        warnings=tuple(clip_info["warnings"]),
        streams=streams,
    )


def _top_k(predictor, probabilities, k):
    names = predictor.info.class_names
    order = np.argsort(-probabilities, kind="stable")[: min(k, len(names))]
    return [(names[i], float(probabilities[i])) for i in order]


@dataclasses.dataclass(frozen=True)
class WindowPrediction:
    """The prediction of one window of a long video (`predict_windows`).

    Attributes:
        video: the file.
        start_s, end_s: the window, seconds from the video's start.
        top_k: `[(class name, probability), ...]`, best first.
        frame_times: the timestamps (seconds) of the frames the model saw.
        frames: the cropped frames `(T, S, S, 3)` uint8 the model saw.
    """

    video: pathlib.Path
    start_s: float
    end_s: float
    top_k: list
    frame_times: tuple
    frames: np.ndarray | None = None

    def to_json(self) -> dict:
        """The record printed by `predict.py --window S --json`, one per window."""
        return {
            "video": str(self.video),
            "start_s": round(float(self.start_s), 6),
            "end_s": round(float(self.end_s), 6),
            "top_k": [{"class": name, "score": score} for name, score in self.top_k],
            "frame_times": [round(float(t), 6) for t in self.frame_times],
        }


def predict_windows(predictor, video, window_s, *, num_frames=8, top_k=5, info=None):
    """Yields a `WindowPrediction` for each successive window of `window_s` seconds of `video`.

    One streaming decode (`keras_ispan.io.video.iter_windows`): memory holds one window's `num_frames`
    frames whatever the video's length. `info` (a dict), when given, is filled as `iter_windows`
    fills it (`rotation`, then `warnings` once the video has been read).

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file; ValueError for a
        `window_s`, `num_frames` or `top_k` out of range.
    """
    from keras_ispan.io.video import iter_windows

    _check_positive("num_frames", num_frames)
    _check_positive("top_k", top_k)
    for window in iter_windows(video, window_s, num_frames, short_side=None, info=info):
        frames, probabilities, _, _ = _classify(predictor, window.frames)
        yield WindowPrediction(
            video=pathlib.Path(video),
            start_s=window.start_s,
            end_s=window.end_s,
            top_k=_top_k(predictor, probabilities, top_k),
            frame_times=window.frame_times,
            frames=frames,
        )
