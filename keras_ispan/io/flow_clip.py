"""A video's two-stream inputs for inference: RGB frames at the TSN segment centres and the flow
stacks starting there, computed with the conversion's code (`keras_ispan.io.flow.flow_stacks`: the
steps of `clip_flow` that the stacks use).

Used by `training/predict.py` and `serving/client.py` (one implementation). No TensorFlow.

Decoding follows the model's `FlowSettings` (the frames' short side and rate of its training
data's conversion); sampling is the pipeline's in evaluation: segment `k` takes frame `t_k` (the segment centre,
`keras_ispan.io.video.sample_segment_indices`) and the flow stack of steps
`flow_stack_indices(num_frames, t_k, L)` (`t_k, ..., t_k + L - 1`, clamped at the last step), each
step `s` the flow from frame `s` to frame `s + 1`. Flow is in pixels per frame step of the frames
it is computed on, so `two_stream_inputs` must get frames at the size and rate the model's
training flow was computed at (`read_two_stream_clip` decodes them so).
"""

import numpy as np

from keras_ispan.io.flow import FLOW_BOUND, flow_stack_indices, flow_stacks
from keras_ispan.io.transform import FlowSettings
from keras_ispan.io.video import sample_segment_indices

__all__ = ["read_two_stream_clip", "two_stream_inputs"]


def two_stream_inputs(frames, num_segments, flow_length, method="farneback", bound=FLOW_BOUND):
    """RGB frames and flow stacks of the `num_segments` evaluation segments of decoded `frames`.

    Args:
        frames: uint8 `(N, H, W, 3)`, every frame of the video (N >= 1).
        num_segments: `K`.
        flow_length: `L`, flow steps per stack.
        method: `keras_ispan.io.flow.compute_flow`'s (`"farneback"`, or `"tvl1"` with OpenCV contrib).
        bound: the quantisation bound in pixels.

    Returns:
        `(rgb uint8 (K, H, W, 3), flow uint8 (K, H, W, 2L), frame indices int64 (K,))`; flow channels
        `[x_1, y_1, ..., x_L, y_L]`.

    Raises:
        ValueError: `frames` not `(N, H, W, 3)` with N >= 1, or a bad `num_segments`, `flow_length`
            or `method` (naming the argument).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] < 1 or frames.shape[-1] != 3:
        raise ValueError(
            f"`frames` must be uint8 (N, H, W, 3) with N >= 1. Received: shape={frames.shape}"
        )
    indices = sample_segment_indices(frames.shape[0], num_segments, mode="center")
    return frames[indices], flow_stacks(frames, indices, flow_length, method, bound), indices


def read_two_stream_clip(path, num_segments, flow_length, *, settings=None, resize=None):
    """Decodes `path` as the model's training data was converted and returns `two_stream_inputs`
    and `decode_video`'s info: `(rgb, flow, frame indices, info)`.

    Args:
        path: the video file.
        num_segments, flow_length: `K` and `L`.
        settings: the model's `keras_ispan.io.transform.FlowSettings` (`classifier_info(model)
            .flow_settings`): the video is decoded with `decode_video(short_side=settings.short_side,
            fps=settings.fps)`, the call conversion makes (`keras_ispan.data.convert.encode_video`),
            and flow is computed with `settings.method` and `settings.bound`, so flow in pixels per
            frame step means what it meant in training. None (a model that recorded no settings):
            the video's own size and rate, Farneback, then `resize`.
        resize: a callable on uint8 `(N, H, W, 3)` applied after decoding (e.g. the transport
            resize to the model's short side); only without `settings`.

    Without a frame-rate subsampling (`settings.fps` None, or no `settings` and no `resize`) the
    video is decoded in one streaming pass that keeps only the frames the sampled segments' flow
    stacks read (`K * (L + 1)` at most, whatever the video's length), over the frames counted by
    demuxing, as `keras_ispan.io.video.read_clip` does; a file where fewer frames decode than were
    counted, and `settings.fps`, decode the whole video (`decode_video`) instead.

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file; ValueError for
        `settings` together with `resize`.
    """
    from keras_ispan.io.video import decode_video

    if settings is not None and resize is not None:
        raise ValueError(
            "Give `settings` (decode as the training data was) or `resize`, not both. "
            f"Received: settings={settings!r}, resize={resize!r}"
        )
    if resize is None and (settings is None or settings.fps is None):
        streamed = _streamed_inputs(path, num_segments, flow_length, settings or FlowSettings())
        if streamed is not None:
            return streamed
    if settings is None:
        frames, info = decode_video(path)
        if resize is not None:
            frames = np.asarray(resize(frames), np.uint8)
        method, bound = "farneback", FLOW_BOUND
    else:
        frames, info = decode_video(path, short_side=settings.short_side, fps=settings.fps)
        method, bound = settings.method, settings.bound
    rgb, flow, indices = two_stream_inputs(frames, num_segments, flow_length, method, bound)
    return rgb, flow, indices, info


class _KeptFrames:
    """The frames kept by a streaming decode, indexable by frame number, `len` the frame count."""

    def __init__(self, kept, count):
        self.kept, self.count = kept, count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return self.kept[int(index)]


def _streamed_inputs(path, num_segments, flow_length, settings):
    """`read_two_stream_clip` by one streaming decode of the needed frames, or None when fewer
    frames decode than were counted (then the caller decodes the whole video)."""
    from keras_ispan.io.video import _decode_at, _display_info, _incomplete_note
    from keras_ispan.io.video_stream import _demux_length

    counted, seconds, declared = _demux_length(path)
    if counted < 1:
        return None
    indices = sample_segment_indices(counted, num_segments, mode="center")
    steps = np.unique(flow_stack_indices(counted, indices, flow_length))
    wanted = (
        set(indices.tolist())
        | set(steps.tolist())
        | set(np.minimum(steps + 1, counted - 1).tolist())
    )
    kept, decoded, warning, orientation = _decode_at(path, sorted(wanted), settings.short_side)
    if warning or any(i not in kept for i in wanted):
        return None
    frames = _KeptFrames(kept, counted)
    rgb = np.stack([kept[int(i)] for i in indices])
    flow = flow_stacks(frames, indices, flow_length, settings.method, settings.bound)
    incomplete = _incomplete_note(counted, seconds, declared)
    notes = [n for n in (incomplete, orientation[5]) if n]
    info = {
        "num_frames": int(counted),
        "height": int(rgb.shape[1]),
        "width": int(rgb.shape[2]),
        **_display_info(orientation, declared, incomplete, notes),
    }
    return rgb, flow, indices, info
