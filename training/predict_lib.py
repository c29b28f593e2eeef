"""Prediction on a video file: decode with PyAV, TSN-sample `T` frames, centre-crop as evaluation does, top-k
labels with probabilities and the attention saliency (`keras_ispan.models.export_outputs_model`)."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from training import eval_lib

__all__ = ["Prediction", "predict_video", "load_predictor"]


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
    """

    video: pathlib.Path
    top_k: list
    probabilities: np.ndarray
    frames: np.ndarray
    attention: np.ndarray
    frame_indices: np.ndarray


def load_predictor(model_path):
    """`(outputs model, class names, multi_label, image size)` of a `.keras` classifier."""
    from keras_ispan.models import export_outputs_model

    model = eval_lib.load_model_file(model_path)
    names, multi_label = eval_lib.model_labels(model)
    if names is None:
        names = [str(i) for i in range(int(model.output.shape[-1]))]
    return export_outputs_model(model), list(names), multi_label, eval_lib.model_image_size(model)


def predict_video(
    predictor, video, *, num_frames: int = 8, top_k: int = 5, resize_ratio=None
) -> Prediction:
    """Predicts the classes of `video` with `predictor` (from `load_predictor`).

    Args:
        predictor: `load_predictor(model_path)`.
        video: a video file PyAV can read (MP4, AVI, WebM, GIF, ...).
        num_frames: `T`, frames sampled at the segment centres.
        top_k: labels returned.
        resize_ratio: short side before the centre crop divided by `S` (default: evaluation's 256/224).

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file when it cannot be decoded.
    """
    from keras_ispan.io import frames_tf
    from keras_ispan.io.video import decode_video, sample_clip_indices

    outputs_model, names, multi_label, image_size = predictor
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(
            f"num_frames must be a positive integer. Received: num_frames={num_frames!r}"
        )
    ratio = resize_ratio or frames_tf.DEFAULT_RESIZE_RATIO
    decoded, _ = decode_video(video, short_side=int(round(image_size * ratio)))
    indices = sample_clip_indices(decoded.shape[0], num_frames, 1)[0]
    frames = frames_tf.eval_resize_and_crop(
        decoded[indices], image_size, resize_ratio=ratio
    ).numpy()
    outputs = outputs_model(frames[None], training=False)
    probabilities = np.asarray(outputs["probabilities"])[0].astype(np.float64)
    attention = np.asarray(outputs["attention"])[0].astype(np.float64)
    order = np.argsort(-probabilities, kind="stable")[: max(1, min(top_k, len(names)))]
    return Prediction(
        video=pathlib.Path(video),
        top_k=[(names[i], float(probabilities[i])) for i in order],
        probabilities=probabilities,
        frames=frames,
        attention=attention,
        frame_indices=indices,
    )
