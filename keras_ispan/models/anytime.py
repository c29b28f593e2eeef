"""Anytime inference: take frames coarse to fine and stop as soon as the prediction is confident.

The pyramid attention head serves any number of frames with the same weights, so a classifier can
look at one frame, then two, four, eight, ... and stop when it is sure. `AnytimeClassifier` splits a
classifier from `build_classifier` (or `load_classifier`) into its per-frame part (`preprocessing`
and `backbone`: each new frame goes through it once, its pyramid features are cached) and its head
(everything after `backbone`, re-run on the features of all frames taken so far). At each check point
(`check_points`: by default after 1, 2, 4, 8, ... frames, the coarse-to-fine levels, each level's new
frames through the backbone in one batched call; or after every frame) it stops when the confidence
(the top-1 probability, or its margin over the second) reaches `threshold`, when `max_frames` frames
are taken, or when `budget_ms` milliseconds are spent; the result says which.

Frames are taken in `keras_ispan.io.coarse_to_fine` order: for a clip in memory the centre first,
then evenly spread prefixes of 2, 4, 8, ... frames (`coarse_to_fine_indices`); for a stream of unknown
length (a webcam, a long file read once) by time with a doubling horizon (`stream_indices`).

With a `threshold` above 1 (never confident) on a clip, the result equals the classifier on all the
frames in the same order. The model part runs through Keras (`predict_on_batch`: compiled per input
shape, TensorFlow and JAX backends: 2.2 against 12.6 ms for one frame through `small_cnn`'s backbone,
`benchmarks/anytime_profile.py`); the loop, the feature cache and the result are NumPy.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import keras
import numpy as np

from keras_ispan.io.coarse_to_fine import (
    DEFAULT_CHECK_POINTS,
    coarse_to_fine_indices,
    coarse_to_fine_steps,
    stream_indices,
)
from keras_ispan.io.coarse_to_fine import check_points as check_point_sequence
from keras_ispan.options import ANYTIME_CRITERIA

__all__ = ["CRITERIA", "AnytimeClassifier", "AnytimeResult", "confidence"]

CRITERIA = ANYTIME_CRITERIA
STOP_REASONS = ("confident", "max_frames", "budget", "exhausted")


def confidence(probabilities, criterion="top1"):
    """The confidence of `probabilities` `(..., classes)`: the largest (`"top1"`), or the largest
    minus the second largest (`"margin"`; the largest itself for one class). Returns `(...)`."""
    p = np.asarray(probabilities, dtype=np.float64)
    if criterion not in CRITERIA:
        raise ValueError(
            f"`criterion` must be one of {CRITERIA}. Received: criterion={criterion!r}"
        )
    top = np.sort(p, axis=-1)
    if criterion == "top1" or p.shape[-1] < 2:
        return top[..., -1]
    return top[..., -1] - top[..., -2]


@dataclasses.dataclass(frozen=True)
class AnytimeResult:
    """What anytime inference returns for one clip or stream.

    Attributes:
        probabilities: `(classes,)` after the last frame taken (softmax, or sigmoid for multi-label).
        frames_used: frames that went through the backbone.
        frame_indices: `(frames_used,)` int64 indices of those frames, in the order taken (into the
            clip, or stream frame numbers).
        attention: `(frames_used, h, w)` saliency over the frames used, in the order taken.
        confidence: the confidence of `probabilities` (see `criterion`).
        stopped: `"confident"`, `"max_frames"`, `"budget"` or `"exhausted"` (no frame left).
        latency_ms: wall time of the model calls, in milliseconds.
        step_probabilities: `(checks, classes)`, the probabilities at each check point (for
            choosing a threshold offline: the result for a lower threshold is a prefix).
        step_frames: `(checks,)` int64, the frames used at each check point (the last is
            `frames_used`).
    """

    probabilities: np.ndarray
    frames_used: int
    frame_indices: np.ndarray
    attention: np.ndarray
    confidence: float
    stopped: str
    latency_ms: float
    step_probabilities: np.ndarray
    step_frames: np.ndarray


def _check_stop_args(threshold, max_frames, budget_ms):
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise ValueError(f"`threshold` must be a number >= 0. Received: threshold={threshold!r}")
    if max_frames is not None and (
        isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1
    ):
        raise ValueError(
            f"`max_frames` must be a positive integer or None. Received: max_frames={max_frames!r}"
        )
    if budget_ms is not None and not (isinstance(budget_ms, int | float) and budget_ms > 0):
        raise ValueError(f"`budget_ms` must be > 0 or None. Received: budget_ms={budget_ms!r}")


class AnytimeClassifier:
    """A classifier split for anytime inference (see the module's docstring).

    Args:
        model: a keras-ispan classifier (`build_classifier`, `load_classifier`) with layers named
            `backbone` and `logits`, or its `export_outputs_model`.
        criterion: `"top1"` (default: the top-1 probability) or `"margin"` (top-1 minus top-2).

    Attributes:
        frame_model: frames `(batch, frames, S, S, 3)` -> the list of pyramid levels
            `(batch, frames, h_j, w_j, c_j)`.
        head_model: that list -> `{"logits", "probabilities", "attention"}`.

    Raises:
        ValueError: `model` has no `backbone` layer, reads optical flow (a flow or two-stream
            model), or a bad `criterion`.
    """

    def __init__(self, model, criterion="top1"):
        from keras_ispan.models.classifier import export_outputs_model

        if criterion not in CRITERIA:
            raise ValueError(
                f"`criterion` must be one of {CRITERIA}. Received: criterion={criterion!r}"
            )
        shapes = [tuple(x.shape) for x in getattr(model, "inputs", None) or []]
        flow = shapes and len(shapes[0]) == 5 and shapes[0][-1] != 3  # clips of 2L channels
        if len(shapes) > 1 or flow:  # a two-stream model has two inputs
            raise ValueError(
                "Anytime inference takes an RGB classifier (frames `(batch, T, S, S, 3)`); flow and "
                f"two-stream models are not supported. Received: model={model.name!r} with inputs "
                f"{shapes}"
            )
        try:
            backbone = model.get_layer("backbone")
        except (ValueError, AttributeError):
            raise ValueError(
                "Anytime inference needs a keras-ispan classifier with a layer named 'backbone'. "
                f"Received: model={getattr(model, 'name', model)!r}"
            ) from None
        export = model if isinstance(model.output, dict) else export_outputs_model(model)
        levels = backbone.output if isinstance(backbone.output, list | tuple) else [backbone.output]
        self.criterion = criterion
        self.image_size = int(model.inputs[0].shape[2])
        self.frame_model = keras.Model(export.inputs[0], list(levels), name="anytime_frames")
        self.head_model = keras.Model(list(levels), export.output, name="anytime_head")

    def _check_frame(self, frame):
        frame = np.asarray(frame)
        if frame.shape != (self.image_size, self.image_size, 3):
            raise ValueError(
                f"A frame must be `({self.image_size}, {self.image_size}, 3)`, the model's input "
                f"size (apply the evaluation transform first). Received: frame.shape={frame.shape}"
            )
        return frame

    def _features(self, frames):
        """The pyramid features of `frames` `(n, S, S, 3)` (one clip): a list of `(1, n, h, w, c)`."""
        batch = np.stack([self._check_frame(f) for f in frames])[None].astype(np.float32)
        features = self.frame_model.predict_on_batch(batch)
        return [
            np.asarray(f) for f in (features if isinstance(features, list | tuple) else [features])
        ]

    def _run(self, frames, threshold, max_frames, budget_ms, points):
        """Takes `(index, frame)` pairs from `frames`, checking at the prefix lengths `points` (an
        increasing iterator) until a stop; returns an `AnytimeResult`."""
        frames, cached, used, steps, step_frames = iter(frames), None, [], [], []
        stopped, out, start = "exhausted", None, time.perf_counter()
        for point in points:
            point = point if max_frames is None else min(point, max_frames)
            new = list(itertools.islice(frames, point - len(used)))
            if not new:
                break
            features = self._features([frame for _, frame in new])
            cached = (
                features
                if cached is None
                else [np.concatenate([c, f], axis=1) for c, f in zip(cached, features)]
            )
            out = self.head_model.predict_on_batch(cached)
            steps.append(np.asarray(out["probabilities"])[0].astype(np.float64))
            used += [int(index) for index, _ in new]
            step_frames.append(len(used))
            if confidence(steps[-1], self.criterion) >= threshold:
                stopped = "confident"
            elif max_frames is not None and len(used) >= max_frames:
                stopped = "max_frames"
            elif budget_ms is not None and (time.perf_counter() - start) * 1e3 >= budget_ms:
                stopped = "budget"
            if stopped != "exhausted" or len(used) < point:
                break
        if out is None:
            raise ValueError("Anytime inference received no frames. Received: frames=[]")
        return AnytimeResult(
            probabilities=steps[-1],
            frames_used=len(used),
            frame_indices=np.asarray(used, dtype=np.int64),
            attention=np.asarray(out["attention"])[0].astype(np.float64),
            confidence=float(confidence(steps[-1], self.criterion)),
            stopped=stopped,
            latency_ms=(time.perf_counter() - start) * 1e3,
            step_probabilities=np.stack(steps),
            step_frames=np.asarray(step_frames, dtype=np.int64),
        )

    def predict(
        self, frames, threshold=0.9, *, max_frames=None, budget_ms=None, order=None,
        check_points=DEFAULT_CHECK_POINTS,
    ):  # fmt: skip
        """Anytime prediction on a clip in memory.

        Args:
            frames: `(T, S, S, 3)` or `(1, T, S, S, 3)`, uint8 or float pixels in [0, 255], in time
                order, already at the model's size (the evaluation transform applied).
            threshold: stop when the confidence reaches it; above 1 never (all frames are used).
            max_frames: K: take the frames at the TSN centres of K segments of the clip
                (`coarse_to_fine_indices(T, K)`); None for all T frames.
            budget_ms: stop once this many milliseconds are spent (checked at the check points,
                so after at least one).
            order: explicit frame indices to take, in order (overrides the coarse-to-fine order).
            check_points: when to check: `"doubling"` (after 1, 2, 4, ... frames, each level's
                new frames in one backbone call), `"every_frame"`, or increasing prefix lengths
                (`keras_ispan.io.coarse_to_fine.check_points`).

        Returns:
            An `AnytimeResult`; `frame_indices` index `frames`.

        Raises:
            ValueError: bad shapes or arguments.
        """
        _check_stop_args(threshold, max_frames, budget_ms)
        frames = np.asarray(frames)
        if frames.ndim == 5 and frames.shape[0] == 1:
            frames = frames[0]
        if frames.ndim != 4 or frames.shape[0] < 1:
            raise ValueError(
                "`frames` must be one clip `(T, S, S, 3)` or `(1, T, S, S, 3)` with T >= 1. "
                f"Received: frames.shape={frames.shape}"
            )
        if order is None:
            order = coarse_to_fine_indices(frames.shape[0], max_frames)
        order = np.asarray(order, dtype=np.int64)
        if order.ndim != 1 or order.size == 0 or order.min() < 0 or order.max() >= len(frames):
            raise ValueError(
                f"`order` must be indices into the {len(frames)} frames. Received: order={order}"
            )
        points = coarse_to_fine_steps(len(order), check_points)
        return self._run(((i, frames[i]) for i in order), threshold, max_frames, budget_ms, points)

    def predict_stream(
        self, frames, threshold=0.9, *, max_frames=None, budget_ms=None, horizon=8, stride=1,
        transform=None, check_points=DEFAULT_CHECK_POINTS,
    ):  # fmt: skip
        """Anytime prediction on a stream of frames of unknown length (a webcam, a long file).

        Frames are taken by time with a doubling horizon (`keras_ispan.io.coarse_to_fine.
        stream_indices(horizon, stride)`); the others are skipped without a model call. Reading
        stops with the prediction, so an endless stream needs a `threshold` it can reach, a
        `max_frames` or a `budget_ms`. The taken frames are gathered up to each check point (by
        default after 1, 2, 4, 8, ... taken frames), then go through the backbone together.

        Args:
            frames: an iterable of frames `(S, S, 3)` (or of any size with `transform`).
            threshold, max_frames, budget_ms, check_points: as in `predict`.
            horizon, stride: the stream order's phase length and first stride.
            transform: optional callable applied to each taken frame (e.g. the evaluation
                transform) before the model.

        Returns:
            An `AnytimeResult`; `frame_indices` are stream frame numbers (0 for the first frame).

        Raises:
            ValueError: bad arguments, an empty stream, or a frame of the wrong size.
        """
        _check_stop_args(threshold, max_frames, budget_ms)
        points = check_point_sequence(check_points)
        wanted = stream_indices(horizon, stride)
        transform = transform or (lambda frame: frame)

        def taken():
            target = next(wanted)
            for index, frame in zip(itertools.count(), frames):
                if index == target:
                    target = next(wanted)
                    yield index, transform(frame)

        return self._run(taken(), threshold, max_frames, budget_ms, points)
