"""A video's two-stream inputs for inference: RGB frames at the TSN segment centres and the flow
stacks starting there, computed with the conversion's code (`keras_ispan.io.flow.flow_stacks`: the
steps of `clip_flow` that the stacks use).

Used by `training/predict.py` and `serving/client.py` (one implementation). No TensorFlow.

Sampling is the pipeline's in evaluation: segment `k` takes frame `t_k` (the segment centre,
`keras_ispan.io.video.sample_segment_indices`) and the flow stack of steps
`flow_stack_indices(num_frames, t_k, L)` (`t_k, ..., t_k + L - 1`, clamped at the last step), each
step `s` the flow from frame `s` to frame `s + 1`. Flow is computed
on the frames as given: pass frames at the resolution the model's flow was stored at in conversion
(the model's `short_side`, as the client's transport does), since the quantisation bound is in
pixels at that resolution.
"""

import numpy as np

from keras_ispan.io.flow import FLOW_BOUND, flow_stacks
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


def read_two_stream_clip(path, num_segments, flow_length, *, resize=None, method="farneback"):
    """Decodes `path` at its own size, applies `resize` (a callable on uint8 `(N, H, W, 3)`, e.g. the
    transport resize to the model's short side; None keeps the frames) and returns `two_stream_inputs`
    and `decode_video`'s info: `(rgb, flow, frame indices, info)`. The whole video is decoded (flow
    needs consecutive frames), so memory grows with its length.

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file.
    """
    from keras_ispan.io.video import decode_video

    frames, info = decode_video(path)
    if resize is not None:
        frames = np.asarray(resize(frames), np.uint8)
    rgb, flow, indices = two_stream_inputs(frames, num_segments, flow_length, method)
    return rgb, flow, indices, info
