"""Signatures of flow and two-stream exports (`keras_ispan.export.saved_model.export_model` uses them
for a model whose `classifier_info(model).modality` is `"flow"` or `"two_stream"`).

Inputs (the frames axis is dynamic everywhere; `C = 2L` flow channels `[x_1, y_1, ..., x_L, y_L]`, the
quantised flow of `keras_ispan.io.flow`, 128 about zero motion):
- `serving_default`: `frames` uint8 `(batch, K, height, width, 3)` and `flow` uint8
  `(batch, K, height, width, C)`, any size (a flow model: `flow` only). Both get the evaluation
  transform of RGB (`frames_tf.eval_resize_and_crop`, short side to the model's `short_side`, centre
  crop): each flow channel is resized and cropped as a grey image, its values unchanged (TSN resizes its
  flow JPEGs as images), so send flow computed at the model's `short_side` (the client does).
- `serve_jpeg`: `frames` string `(batch, K)` (JPEG frames) and `flow` string `(batch, K, C)`: one
  grey JPEG per flow channel, as conversion stores them (TSN's flow_x / flow_y images); then as
  `serving_default`.
- `serve_preprocessed`: `frames` float32 `(batch, K, S, S, 3)`, `flow` float32 `(batch, K, S, S, C)`
  in [0, 255]: the model only.
- `preprocess`: `frames` uint8 RGB frames, as for an RGB model (for every modality, so a client learns
  the transform's `short_side` and `image_size` the same way).
- `serve_rgb` (two-stream only): `frames` uint8 `(batch, K, height, width, 3)`: the RGB stream alone
  (`keras_ispan.models.stream_classifier(model, "rgb")`), for clients that cannot compute flow.
Outputs: those of an RGB export (`logits`, `probabilities`, `attention`, `top_k_*`) and, for a two-stream
model's fused signatures, `rgb_probabilities` and `flow_probabilities` (each stream alone) and
`flow_attention`. There is no `serve_anytime`.
"""

import numpy as np
import tensorflow as tf

from keras_ispan.io import frames_tf

__all__ = ["FLOW_KEY", "SIGNATURE_RGB", "flow_model_input", "signature_fns", "warmup_inputs"]

FLOW_KEY = "flow"
FRAMES_KEY = "frames"
SIGNATURE_RGB = "serve_rgb"
STREAM_OUTPUT_KEYS = ("rgb_probabilities", "flow_probabilities", "flow_attention")


def flow_model_input(flow, size, ratio):
    """uint8 `(B, K, H, W, C)` -> uint8 `(B, K, S, S, C)`: RGB's evaluation transform on each channel."""
    channels = tf.transpose(flow, [0, 1, 4, 2, 3])[..., None]  # (B, K, C, H, W, 1)
    grey = tf.tile(channels, [1, 1, 1, 1, 1, 3])  # the transform takes 3 channels
    out = frames_tf.eval_resize_and_crop(grey, size, resize_ratio=ratio)[..., 0]
    return tf.transpose(out, [0, 1, 3, 4, 2])


def _decode_flow_clip(encoded):
    """string `(K, C)` grey JPEGs of one clip -> uint8 `(K, H, W, C)`."""
    flat = tf.reshape(encoded, [-1])
    images = tf.map_fn(
        lambda x: tf.io.decode_jpeg(x, channels=1),
        flat,
        fn_output_signature=tf.TensorSpec([None, None, 1], tf.uint8),
    )
    shape = tf.concat([tf.shape(encoded), tf.shape(images)[1:3]], axis=0)  # (K, C, H, W)
    return tf.transpose(tf.reshape(images, shape), [0, 2, 3, 1])


def _outputs_fn(table, k):
    """`outputs(model, inputs)`: an RGB export's outputs plus the streams' (two-stream models)."""

    def outputs(model, inputs):
        out = model(inputs, training=False)
        probabilities = tf.cast(out["probabilities"], tf.float32)
        scores, indices = tf.math.top_k(probabilities, k=k)
        result = {
            "logits": tf.cast(out["logits"], tf.float32),
            "probabilities": probabilities,
            "attention": tf.cast(out["attention"], tf.float32),
            "top_k_classes": table.lookup(tf.cast(indices, tf.int64)),
            "top_k_scores": scores,
            "top_k_indices": indices,
        }
        result.update(
            {key: tf.cast(out[key], tf.float32) for key in STREAM_OUTPUT_KEYS if key in out}
        )
        for stream in ("rgb", "flow"):  # each stream's own top k (`client.py --json` "streams")
            if f"{stream}_probabilities" in out:
                scores, indices = tf.math.top_k(result[f"{stream}_probabilities"], k=k)
                result[f"{stream}_top_k_classes"] = table.lookup(tf.cast(indices, tf.int64))
                result[f"{stream}_top_k_scores"] = scores
        return result

    return outputs


def _specs(size, channels):
    spec = tf.TensorSpec
    return {
        "uint8_frames": spec([None, None, None, None, 3], tf.uint8, FRAMES_KEY),
        "uint8_flow": spec([None, None, None, None, channels], tf.uint8, FLOW_KEY),
        "jpeg_frames": spec([None, None], tf.string, FRAMES_KEY),
        "jpeg_flow": spec([None, None, channels], tf.string, FLOW_KEY),
        "float_frames": spec([None, None, size, size, 3], tf.float32, FRAMES_KEY),
        "float_flow": spec([None, None, size, size, channels], tf.float32, FLOW_KEY),
    }


def signature_fns(export, rgb_export, table, transform, k, info):
    """`{signature name: (fn, input specs)}` of a flow (`rgb_export` None) or two-stream export."""
    size, ratio = transform.image_size, transform.resize_ratio
    channels = 2 * info.flow_length
    outputs, specs = _outputs_fn(table, k), _specs(size, channels)

    def rgb_input(frames):  # uint8 (B, K, H, W, 3) -> uint8 (B, K, S, S, 3)
        return frames_tf.eval_resize_and_crop(frames, size, resize_ratio=ratio)

    def flow_input(flow):
        return flow_model_input(flow, size, ratio)

    def flow_from_jpeg(flow):
        return tf.map_fn(
            lambda clip: flow_input(_decode_flow_clip(clip)[None])[0],
            flow,
            fn_output_signature=tf.TensorSpec([None, size, size, channels], tf.uint8),
        )

    preprocess = (_preprocess_fn(rgb_input, transform, info), [specs["uint8_frames"]])
    if info.modality != "two_stream":
        return _flow_signature_fns(export, outputs, specs, flow_input, flow_from_jpeg, preprocess)

    def fused(frames, flow):  # uint8 model inputs
        pixels = {"rgb": tf.cast(frames, tf.float32), "flow": tf.cast(flow, tf.float32)}
        return outputs(export, pixels)

    def rgb_from_jpeg(frames):
        return tf.map_fn(
            lambda clip: rgb_input(frames_tf.decode_jpeg_frames(clip)[None])[0],
            frames,
            fn_output_signature=tf.TensorSpec([None, size, size, 3], tf.uint8),
        )

    return {
        "serving_default": (
            lambda frames, flow: fused(rgb_input(frames), flow_input(flow)),
            [specs["uint8_frames"], specs["uint8_flow"]],
        ),
        "serve_jpeg": (
            lambda frames, flow: fused(rgb_from_jpeg(frames), flow_from_jpeg(flow)),
            [specs["jpeg_frames"], specs["jpeg_flow"]],
        ),
        "serve_preprocessed": (
            lambda frames, flow: outputs(export, {"rgb": frames, "flow": flow}),
            [specs["float_frames"], specs["float_flow"]],
        ),
        "preprocess": preprocess,
        SIGNATURE_RGB: (
            lambda frames: outputs(rgb_export, tf.cast(rgb_input(frames), tf.float32)),
            [specs["uint8_frames"]],
        ),
    }


def _flow_signature_fns(export, outputs, specs, flow_input, flow_from_jpeg, preprocess):
    """The signatures of a flow-only export: uint8 flow stacks, JPEG-encoded ones, or model inputs."""
    return {
        "serving_default": (
            lambda flow: outputs(export, tf.cast(flow_input(flow), tf.float32)),
            [specs["uint8_flow"]],
        ),
        "serve_jpeg": (
            lambda flow: outputs(export, tf.cast(flow_from_jpeg(flow), tf.float32)),
            [specs["jpeg_flow"]],
        ),
        "serve_preprocessed": (lambda flow: outputs(export, flow), [specs["float_flow"]]),
        "preprocess": preprocess,
    }


def _preprocess_fn(model_input, transform, info):
    """`preprocess`: the RGB transform and its numbers, and the flow settings a client computes
    flow with (`flow_short_side` 0: the video's own size; `flow_fps` 0: every frame; -1 for both:
    not recorded, use `short_side` and every frame)."""
    settings = info.flow_settings
    flow_numbers = {
        "flow_short_side": (-1 if settings is None else settings.short_side or 0, tf.int32),
        "flow_fps": (-1.0 if settings is None else settings.fps or 0.0, tf.float32),
        "flow_bound": (info.flow_settings.bound if settings else 20.0, tf.float32),
    }
    method = "farneback" if settings is None else settings.method

    def preprocess(inputs):
        batch = tf.shape(inputs)[:1]
        return {
            "frames": model_input(inputs),
            "short_side": tf.fill(batch, tf.constant(transform.short_side, tf.int32)),
            "image_size": tf.fill(batch, tf.constant(transform.image_size, tf.int32)),
            **{k: tf.fill(batch, tf.constant(v, dtype)) for k, (v, dtype) in flow_numbers.items()},
            "flow_method": tf.fill(batch, tf.constant(method)),
        }

    return preprocess


def warmup_inputs(transform, options, info):
    """`[(signature name, {input key: array}), ...]` for each signature, deterministic."""
    channels, size, short = 2 * info.flow_length, transform.image_size, transform.short_side
    height, width = options.warmup_size or (short, int(round(short * 4 / 3)))
    rng = np.random.default_rng(0)
    two = info.modality == "two_stream"
    out = []
    for steps in options.warmup_num_frames:
        frames = rng.integers(0, 256, size=(1, steps, height, width, 3), dtype=np.uint8)
        flow = rng.integers(0, 256, size=(1, steps, height, width, channels), dtype=np.uint8)
        encode = lambda image: tf.io.encode_jpeg(image, quality=90).numpy()  # noqa: E731
        jpeg_frames = np.array([[encode(f) for f in frames[0]]], dtype=object)
        jpeg_flow = np.array(
            [[[encode(f[..., c : c + 1]) for c in range(channels)] for f in flow[0]]], dtype=object
        )
        float_flow = rng.uniform(0, 255, size=(1, steps, size, size, channels)).astype(np.float32)
        float_frames = rng.uniform(0, 255, size=(1, steps, size, size, 3)).astype(np.float32)
        if two:
            out += [
                ("serving_default", {FRAMES_KEY: frames, FLOW_KEY: flow}),
                ("serve_jpeg", {FRAMES_KEY: jpeg_frames, FLOW_KEY: jpeg_flow}),
                ("serve_preprocessed", {FRAMES_KEY: float_frames, FLOW_KEY: float_flow}),
                ("preprocess", {FRAMES_KEY: frames}),
                (SIGNATURE_RGB, {FRAMES_KEY: frames}),
            ]
        else:
            out += [
                ("serving_default", {FLOW_KEY: flow}),
                ("serve_jpeg", {FLOW_KEY: jpeg_flow}),
                ("serve_preprocessed", {FLOW_KEY: float_flow}),
                ("preprocess", {FRAMES_KEY: frames}),
            ]
    return out
