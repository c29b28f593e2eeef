"""Dense optical flow for the flow stream: computation (OpenCV), TSN quantisation, flow stacks (NumPy).

One implementation shared by dataset conversion (`keras_ispan/data/convert.py`, `add_flow`),
`training/predict.py` and `serving/client.py`, so that a model sees the same flow everywhere. No
TensorFlow. OpenCV (`opencv-python-headless`, an install requirement) is imported lazily.

Source: TSN (Wang et al., "Temporal Segment Networks", ECCV 2016, and its `dense_flow` tool) computes
TV-L1 flow between consecutive frames, clips each component to `[-20, 20]` pixels, maps it linearly to
`0..255` and stores the x and y components as two grayscale JPEGs per frame step; its flow stream takes
`L = 5` consecutive steps stacked as `2L` channels. This module does the same:

- `compute_flow(prev_rgb, next_rgb)`: float32 `(H, W, 2)`, the displacement `(dx, dy)` in pixels per
  frame step that moves a pixel of `prev_rgb` to `next_rgb` (x to the right, y down), computed on the
  frames' grayscale (`cv2.cvtColor(RGB2GRAY)`) by Farneback's method (`cv2.calcOpticalFlowFarneback`
  with `FARNEBACK_PARAMS`, OpenCV's tutorial values) by default, or by TV-L1 (`method="tvl1"`,
  `cv2.optflow.DualTVL1OpticalFlow`, only with the contrib wheel `opencv-contrib-python-headless`).
- `quantize_flow(flow, bound)`: uint8 `q = round((clip(f, -bound, bound) + bound) * 255 / (2 bound))`
  (so 0 pixels is 127.5, stored as 128); `dequantize_flow(q, bound) = (q - 127.5) * 2 bound / 255`.
  Inside `[-bound, bound]` the round trip errs by at most half a step, `bound / 255` pixels (0.078 for
  the default `FLOW_BOUND = 20`); outside it the value is clipped to `+-bound`.
- Horizontal flip (the pipeline's augmentation, `flip_flow_x`): mirroring a flow field negates its x
  component. On stored values the rule is exactly `q -> 255 - q`, which negates the dequantised value
  exactly (`dequantize_flow(255 - q) == -dequantize_flow(q)`); y is unchanged.
- `clip_flow(frames)`: uint8 `(T - 1, H, W, 2)` of quantised flow between consecutive frames of a clip
  of `T` frames (a clip of one frame gets one step of zero motion, so every clip has a step).
- `flow_stack_indices(num_frames, start, length)`: the `L` flow steps of the stack that starts at frame
  `start`: `min(start + i, S - 1)` for `i < L`, `S = max(num_frames - 1, 1)` steps; a stack that would
  run past the clip's end repeats its last step, as TSN's loader does.

Values are in pixels of the frames the flow was computed on (the stored resolution); crops and resizes
of the pipeline treat flow like an image and do not rescale it (as TSN).
"""

import numpy as np

from keras_ispan.options import FLOW_METHODS

FLOW_BOUND = 20.0
"""TSN's clipping bound, pixels per frame step at the stored resolution."""

METHODS = FLOW_METHODS

FARNEBACK_PARAMS = {
    "pyr_scale": 0.5,  # each pyramid level half the size of the previous one
    "levels": 3,  # pyramid levels (large motions: up to about 2**levels times the window)
    "winsize": 15,  # averaging window, pixels
    "iterations": 3,  # iterations at each level
    "poly_n": 5,  # neighbourhood of the polynomial expansion, pixels
    "poly_sigma": 1.2,  # its Gaussian's standard deviation (1.1-1.2 for poly_n=5, per OpenCV)
    "flags": 0,
}
"""`cv2.calcOpticalFlowFarneback` parameters (the values of OpenCV's dense optical flow tutorial)."""


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - an install requirement
        raise ImportError("Optical flow needs OpenCV: pip install opencv-python-headless") from e
    return cv2


def check_method(method):
    """Raises a `ValueError` for an unknown method, and for `"tvl1"` without OpenCV's contrib module."""
    if method not in METHODS:
        raise ValueError(
            f"Unknown flow method; expected one of {METHODS}. Received: method={method!r}"
        )
    if method == "tvl1" and not hasattr(_cv2(), "optflow"):
        raise ValueError(
            "method='tvl1' (--flow-method tvl1) needs OpenCV's contrib module cv2.optflow, which the "
            "installed OpenCV lacks: install opencv-contrib-python-headless (instead of "
            "opencv-python-headless), or use --flow-method farneback. Received: method='tvl1'"
        )


_TVL1 = {}  # one TV-L1 object per process (creating it allocates its buffers)


def _gray(frame, name):
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(
            f"`{name}` must be a uint8 RGB frame (H, W, 3). "
            f"Received: {name} of dtype {frame.dtype} and shape {frame.shape}"
        )
    return _cv2().cvtColor(np.ascontiguousarray(frame), _cv2().COLOR_RGB2GRAY)


def compute_flow(prev_rgb, next_rgb, method="farneback"):
    """Dense optical flow from `prev_rgb` to `next_rgb` (see the module docstring).

    Args:
        prev_rgb, next_rgb: uint8 `(H, W, 3)` RGB frames of the same size.
        method: `"farneback"` or `"tvl1"` (needs `opencv-contrib-python-headless`).

    Returns:
        float32 `(H, W, 2)`: `(dx, dy)` in pixels per frame step, x right and y down.

    Raises:
        ValueError: frames that are not uint8 RGB of one size, an unknown method, or `"tvl1"`
            without OpenCV's contrib module.
    """
    check_method(method)
    prev, nxt = _gray(prev_rgb, "prev_rgb"), _gray(next_rgb, "next_rgb")
    if prev.shape != nxt.shape:
        raise ValueError(
            "`prev_rgb` and `next_rgb` must have the same size. "
            f"Received: shapes {prev.shape} and {nxt.shape}"
        )
    cv2 = _cv2()
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(prev, nxt, None, **FARNEBACK_PARAMS)
    else:
        if "tvl1" not in _TVL1:
            _TVL1["tvl1"] = cv2.optflow.DualTVL1OpticalFlow_create()
        flow = _TVL1["tvl1"].calc(prev, nxt, None)
    return np.asarray(flow, np.float32)


def _check_bound(bound):
    if not bound > 0:
        raise ValueError(f"`bound` must be positive (pixels). Received: bound={bound!r}")


def quantize_flow(flow, bound=FLOW_BOUND):
    """float flow `(..., 2)` (pixels) -> uint8: `round((clip(f, -b, b) + b) * 255 / (2 b))`."""
    _check_bound(bound)
    flow = np.clip(np.asarray(flow, np.float32), -bound, bound)
    return np.round((flow + bound) * (255.0 / (2.0 * bound))).astype(np.uint8)


def dequantize_flow(q, bound=FLOW_BOUND):
    """uint8 quantised flow -> float32 pixels: `(q - 127.5) * 2 b / 255` (the inverse of
    `quantize_flow` up to `bound / 255`)."""
    _check_bound(bound)
    # (q - 127.5) * step: the same value as q * step - b, and exactly odd about 127.5 in float32
    return (np.asarray(q, np.float32) - np.float32(127.5)) * np.float32(2.0 * bound / 255.0)


def flip_flow_x(q):
    """Stored x-flow of a horizontally mirrored field: `255 - q` (exactly `-dequantize_flow(q)`)."""
    return np.uint8(255) - np.asarray(q, np.uint8)


def clip_flow(frames, method="farneback", bound=FLOW_BOUND):
    """Quantised flow between consecutive frames of a clip.

    Args:
        frames: uint8 `(T, H, W, 3)` RGB frames, `T >= 1`.
        method: see `compute_flow`.
        bound: the quantisation bound (pixels), `FLOW_BOUND` by default.

    Returns:
        uint8 `(max(T - 1, 1), H, W, 2)`: step `t` is `quantize_flow(compute_flow(frames[t],
        frames[t + 1]))`; a single frame gives one step of zero motion (all 128).
    """
    check_method(method)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(
            f"`frames` must be uint8 (T, H, W, 3) with T >= 1. Received: shape {frames.shape}"
        )
    if frames.shape[0] == 1:
        return quantize_flow(np.zeros((1, *frames.shape[1:3], 2), np.float32), bound)
    return np.stack([
        quantize_flow(compute_flow(frames[t], frames[t + 1], method), bound)
        for t in range(frames.shape[0] - 1)
    ])  # fmt: skip


def num_flow_steps(num_frames):
    """Flow steps stored for a clip of `num_frames` frames: `max(num_frames - 1, 1)`."""
    return np.maximum(np.asarray(num_frames) - 1, 1)


def flow_stack_indices(num_frames, start, length):
    """Flow step indices `(..., length)` int64 of the stacks starting at frames `start` (`(...)`, any
    shape) of a clip of `num_frames` frames: `min(start + i, max(num_frames - 1, 1) - 1)`."""
    if not isinstance(length, int | np.integer) or length < 1:
        raise ValueError(f"`length` must be a positive integer. Received: length={length!r}")
    last = num_flow_steps(num_frames) - 1
    start = np.asarray(start, np.int64)[..., None]
    return np.minimum(start + np.arange(length), last).astype(np.int64)


def stack_flow(flow, indices):
    """Interleaved flow stacks: uint8 steps `(S, H, W, 2)` and stack indices `(..., L)` ->
    `(..., H, W, 2L)` with channels `[x_1, y_1, x_2, y_2, ..., x_L, y_L]`."""
    picked = np.asarray(flow)[np.asarray(indices)]  # (..., L, H, W, 2)
    picked = np.moveaxis(picked, -4, -2)  # (..., H, W, L, 2)
    return picked.reshape(*picked.shape[:-2], -1)


def flow_stacks(frames, starts, length, method="farneback", bound=FLOW_BOUND):
    """The flow stacks of a clip at frames `starts`, computing only the steps they use.

    `stack_flow(clip_flow(frames), flow_stack_indices(T, starts, length))` without the flow of the
    other steps: what `training/predict.py` and the serving client need for `K` sampled frames of a
    long video.

    Args:
        frames: uint8 `(T, H, W, 3)` RGB frames (or any sequence indexable by frame number).
        starts: the sampled frame indices `(...)`, any shape.
        length: `L`, flow steps per stack.

    Returns:
        uint8 `(..., H, W, 2L)`, channels `[x_1, y_1, ..., x_L, y_L]`.
    """
    check_method(method)
    num_frames = len(frames)
    indices = flow_stack_indices(num_frames, starts, length)
    steps = {}
    for s in np.unique(indices).tolist():
        if num_frames == 1:
            steps[s] = quantize_flow(np.zeros((*np.shape(frames[0])[:2], 2), np.float32), bound)
        else:
            steps[s] = quantize_flow(compute_flow(frames[s], frames[s + 1], method), bound)
    order = sorted(steps)
    lookup = np.searchsorted(order, indices)
    return stack_flow(np.stack([steps[s] for s in order]), lookup)
