"""What a client sends: a video's sampled frames, resized for transport, as a signature's inputs.

The frames are sampled as `training/predict.py` samples them (`keras_ispan.io.video.read_clip`), resized
by step 1 of the model's transform (`keras_ispan.io.frames_tf.transport_frames`), and packed as raw uint8
(`serving_default`) or JPEG (`serve_jpeg`); two-stream models also get flow stacks computed with the
conversion's code (`flow_inputs`). Used by `serving/client.py` and its REST and gRPC clients.
"""

import numpy as np

SIGNATURES = {"jpeg": "serve_jpeg", "uint8": "serving_default"}
PREPROCESS_SIGNATURE = "preprocess"
PREPROCESSED_SIGNATURE = "serve_preprocessed"


def sample_clip(path, num_frames=8):
    """The frames `training/predict.py` samples: `(frames (T, H, W, 3) uint8, frame indices (T,))`.

    `T = num_frames` frames at the TSN segment centres, at the video's own resolution.

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file.
    """
    frames, indices, _ = _sample(path, num_frames)
    return frames, indices


def _sample(path, num_frames):
    """`sample_clip` and `read_clip`'s info (rotation, warnings)."""
    from keras_ispan.io.video import read_clip

    clip, info = read_clip(path, num_frames, short_side=None)
    return clip[0], np.asarray(info["frame_indices"][0]), info


def load_clip(path, num_frames=8, short_side=None):
    """The sampled frames of `path` (`sample_clip`), resized by `transport_frames` when `short_side`."""
    frames, _ = sample_clip(path, num_frames)
    return frames if short_side is None else transport(frames, short_side)


def transport(frames, short_side):
    """`keras_ispan.io.frames_tf.transport_frames` as NumPy: uint8 `(..., H, W, 3)`, short side resized."""
    from keras_ispan.io.frames_tf import transport_frames

    return np.asarray(transport_frames(np.asarray(frames, np.uint8), int(short_side)))


def encode_jpeg(frames, quality=90):
    """JPEG-encodes uint8 `(T, H, W, 3)` frames; returns a list of `bytes`."""
    import tensorflow as tf

    return [tf.io.encode_jpeg(f, quality=quality).numpy() for f in np.asarray(frames, np.uint8)]


def _check_format(fmt):
    if fmt not in SIGNATURES:
        raise ValueError(f"`fmt` must be one of {sorted(SIGNATURES)}. Received: fmt={fmt!r}")


def clip_input(frames, fmt="jpeg", quality=90):
    """The `frames` input for one clip: `(1, T)` JPEG bytes or `(1, T, H, W, 3)` uint8."""
    _check_format(fmt)
    frames = np.asarray(frames, np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"`frames` must have shape (T, H, W, 3). Received: shape={frames.shape}")
    if fmt == "jpeg":
        return np.array([encode_jpeg(frames, quality)], dtype=object)
    return frames[None]


def flow_inputs(path, num_frames, flow_length, short_side, fmt="jpeg", quality=90, settings=None):
    """`({"frames", "flow"}, frame indices, decode info)` of a video for a two-stream export.

    The whole video is decoded as the model's training data was converted (`settings`, the served
    model's `FlowSettings`: short side and frame rate; `client.flow_settings()`) and sampled as
    `training/predict.py` does (`keras_ispan.io.flow_clip.read_two_stream_clip`: RGB frames at the
    segment centres, flow stacks from the conversion's `clip_flow` steps); the RGB frames are then
    resized to `short_side` (`transport`), the flow is sent at the size it was computed at (the
    export resizes it). Without `settings`, both are computed on frames resized to `short_side`.
    `fmt="uint8"`: frames `(1, K, H, W, 3)` and flow `(1, K, H', W', 2L)` uint8; `"jpeg"`: frames
    `(1, K)` JPEG and flow `(1, K, 2L)` grey JPEGs.
    """
    from keras_ispan.io.flow_clip import read_two_stream_clip

    if settings is None:
        rgb, flow, indices, info = read_two_stream_clip(
            path, num_frames, flow_length, resize=lambda f: transport(f, short_side)
        )
    else:
        rgb, flow, indices, info = read_two_stream_clip(
            path, num_frames, flow_length, settings=settings
        )
        rgb = transport(rgb, short_side)
    if fmt == "uint8":
        return {"frames": rgb[None], "flow": flow[None]}, indices, info
    channels = np.moveaxis(flow, -1, 1)[..., None]  # (K, 2L, H, W, 1)
    grey = [[_grey_jpeg(image, quality) for image in clip] for clip in channels]
    inputs = {
        "frames": clip_input(rgb, "jpeg", quality),
        "flow": np.array([grey], dtype=object),
    }
    return inputs, indices, info


def _grey_jpeg(image, quality=90):
    import tensorflow as tf

    return tf.io.encode_jpeg(np.asarray(image, np.uint8), quality=quality).numpy()
