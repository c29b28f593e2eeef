"""The signatures of an RGB export (`serving_default`, `serve_jpeg`, `serve_preprocessed`,
`preprocess`, `serve_anytime`; see `keras_ispan.export.saved_model`) and their warmup inputs.

Flow and two-stream models get `keras_ispan.export.streams`' instead (`_signatures` chooses).
"""

import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_ispan.export.anytime import anytime_outputs
from keras_ispan.io import frames_tf
from keras_ispan.io.transform import ClipTransform
from keras_ispan.models import AnytimeClassifier, classifier_info, export_outputs_model

SIGNATURE_FRAMES = "serving_default"
SIGNATURE_JPEG = "serve_jpeg"
SIGNATURE_PREPROCESSED = "serve_preprocessed"
SIGNATURE_PREPROCESS = "preprocess"
SIGNATURE_ANYTIME = "serve_anytime"
SIGNATURES = (
    SIGNATURE_FRAMES,
    SIGNATURE_JPEG,
    SIGNATURE_PREPROCESSED,
    SIGNATURE_PREPROCESS,
    SIGNATURE_ANYTIME,
)
CLASSIFY_SIGNATURES = (SIGNATURE_FRAMES, SIGNATURE_JPEG, SIGNATURE_PREPROCESSED)
INPUT_KEY = "frames"
OUTPUT_KEYS = (
    "logits",
    "probabilities",
    "attention",
    "top_k_classes",
    "top_k_scores",
    "top_k_indices",
)
PREPROCESS_OUTPUT_KEYS = ("frames", "short_side", "image_size")
THRESHOLD_KEY = "threshold"
ANYTIME_OUTPUT_KEYS = (
    "probabilities",
    "frames_used",
    "attention",
    "threshold",
    "confidence",
    "criterion",
    "top_k_classes",
    "top_k_scores",
    "top_k_indices",
)


def outputs_model(model):
    """The dict-output model `{logits, probabilities, attention}` for `model`, and its `ClassifierInfo`.

    Raises:
        ValueError: not a keras-ispan classifier (`classifier_info`), or not the TensorFlow backend.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "Export needs the TensorFlow Keras backend. "
            f"Received: backend={keras.backend.backend()}"
        )
    info = classifier_info(model)
    export = model if isinstance(model.output, dict) else export_outputs_model(model)
    missing = {"logits", "probabilities", "attention"} - set(export.output)
    if missing:
        raise ValueError(
            f"The export model lacks outputs {sorted(missing)}. Received: {export.output}"
        )
    return export, info


def export_transform(info, resize_ratio=None):
    """The transform the signatures apply: the model's, or with an explicit `resize_ratio`.

    Warns (`UserWarning`) when `resize_ratio` differs from the ratio the model records.
    """
    model_transform = info.transform
    if resize_ratio is None:
        return model_transform
    transform = ClipTransform(model_transform.image_size, resize_ratio)
    if not math.isclose(transform.resize_ratio, model_transform.resize_ratio, rel_tol=1e-9):
        warnings.warn(
            f"resize_ratio={transform.resize_ratio:.6g} overrides the model's "
            f"{model_transform.resize_ratio:.6g}: the export resizes the short side to "
            f"{transform.short_side} px, evaluation to {model_transform.short_side} px",
            UserWarning,
            stacklevel=2,
        )
    return transform


def _top_k_fn(table, k):
    """`probabilities -> {top_k_classes, top_k_scores, top_k_indices}` (class names from `table`)."""

    def top_k(probabilities):
        scores, indices = tf.math.top_k(probabilities, k=k)
        return {
            "top_k_classes": table.lookup(tf.cast(indices, tf.int64)),
            "top_k_scores": scores,
            "top_k_indices": indices,
        }

    return top_k


def _signature_fns(export, table, transform, k, options):
    size, ratio, short_side = transform.image_size, transform.resize_ratio, transform.short_side
    top_k = _top_k_fn(table, k)

    def outputs(pixels):
        out = export(pixels, training=False)
        probabilities = tf.cast(out["probabilities"], tf.float32)
        return {
            "logits": tf.cast(out["logits"], tf.float32),
            "probabilities": probabilities,
            "attention": tf.cast(out["attention"], tf.float32),
            **top_k(probabilities),
        }

    def model_input(frames):  # the one transform: uint8 (B, T, H, W, 3) -> uint8 (B, T, S, S, 3)
        return frames_tf.eval_resize_and_crop(frames, size, resize_ratio=ratio)

    def clip_from_jpeg(encoded):  # one clip: its frames share one size, clips may differ
        return model_input(frames_tf.decode_jpeg_frames(encoded)[None])[0]

    def serve_frames(frames):
        return outputs(tf.cast(model_input(frames), tf.float32))

    def serve_jpeg(frames):
        pixels = tf.map_fn(
            clip_from_jpeg,
            frames,
            fn_output_signature=tf.TensorSpec([None, size, size, 3], tf.uint8),
        )
        return outputs(tf.cast(pixels, tf.float32))

    def serve_preprocessed(frames):
        return outputs(frames)

    def preprocess(frames):
        batch = tf.shape(frames)[:1]
        return {
            "frames": model_input(frames),
            "short_side": tf.fill(batch, tf.constant(short_side, tf.int32)),
            "image_size": tf.fill(batch, tf.constant(size, tf.int32)),
        }

    spec = tf.TensorSpec
    uint8_frames = spec([None, None, None, None, 3], tf.uint8, INPUT_KEY)
    return {
        SIGNATURE_ANYTIME: _anytime_signature(export, model_input, uint8_frames, options, top_k),
        SIGNATURE_FRAMES: (serve_frames, uint8_frames),
        SIGNATURE_JPEG: (serve_jpeg, spec([None, None], tf.string, INPUT_KEY)),
        SIGNATURE_PREPROCESSED: (
            serve_preprocessed,
            spec([None, None, size, size, 3], tf.float32, INPUT_KEY),
        ),
        SIGNATURE_PREPROCESS: (preprocess, uint8_frames),
    }


def _anytime_signature(export, model_input, frames_spec, options, top_k):
    """`serve_anytime`: the transform, then `keras_ispan.export.anytime.anytime_outputs`, top k."""
    anytime = AnytimeClassifier(export)

    def serve_anytime(frames, threshold):
        pixels = tf.cast(model_input(frames), tf.float32)
        out = anytime_outputs(
            anytime, pixels, threshold, options.anytime_check_points, options.anytime_threshold,
            options.anytime_criterion,
        )  # fmt: skip
        return {**out, **top_k(out["probabilities"])}

    return serve_anytime, [frames_spec, tf.TensorSpec([], tf.float32, THRESHOLD_KEY)]


def warmup_inputs(transform, options):
    """Representative warmup inputs: `[(signature_name, {"frames": array}), ...]`, deterministic.

    Args:
        transform: the export's `ClipTransform` (an int is taken as the image size with the default
            ratio).
        options: `ExportOptions`.
    """
    if not isinstance(transform, ClipTransform):
        transform = ClipTransform(int(transform))
    size = transform.image_size
    if options.warmup_size is None:
        short = transform.short_side
        height, width = short, int(round(short * 4 / 3))
    else:
        height, width = options.warmup_size
    rng = np.random.default_rng(0)
    out = []
    for steps in options.warmup_num_frames:
        frames = rng.integers(0, 256, size=(1, steps, height, width, 3), dtype=np.uint8)
        jpegs = np.array(
            [[tf.io.encode_jpeg(f, quality=90).numpy() for f in frames[0]]], dtype=object
        )
        pixels = rng.uniform(0, 255, size=(1, steps, size, size, 3)).astype(np.float32)
        out += [
            (SIGNATURE_FRAMES, {INPUT_KEY: frames}),
            (SIGNATURE_JPEG, {INPUT_KEY: jpegs}),
            (SIGNATURE_PREPROCESSED, {INPUT_KEY: pixels}),
            (SIGNATURE_PREPROCESS, {INPUT_KEY: frames}),
            (SIGNATURE_ANYTIME, {INPUT_KEY: frames, THRESHOLD_KEY: np.float32(2.0)}),
        ]
    return out


def _warmup_inputs(transform, options, info):
    if info.modality == "rgb":
        return warmup_inputs(transform, options)
    from keras_ispan.export import streams

    return streams.warmup_inputs(transform, options, info)


def _signatures(export, table, transform, k, info, options):
    """`{name: (fn, spec)}`: an RGB model's signatures, or `keras_ispan.export.streams`'."""
    if info.modality == "rgb":
        return _signature_fns(export, table, transform, k, options)
    from keras_ispan.export import streams
    from keras_ispan.models import is_two_stream, stream_classifier

    rgb = export_outputs_model(stream_classifier(export, "rgb")) if is_two_stream(export) else None
    return streams.signature_fns(export, rgb, table, transform, k, info)
