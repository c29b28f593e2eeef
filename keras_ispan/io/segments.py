"""TSN segment sampling: which frame indices a clip of `num_segments` frames takes (Wang et al., TSN,
ECCV 2016: one frame per equal segment, its centre at evaluation). No TensorFlow.
"""

import numpy as np

_MODES = ("center", "random")


def _check_counts(num_frames, num_segments, num_clips=1):
    for name, value, low in (
        ("num_frames", num_frames, 1),
        ("num_segments", num_segments, 1),
        ("num_clips", num_clips, 1),
    ):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value}")


def sample_segment_indices(num_frames, num_segments, *, mode="center", rng=None):
    """TSN frame indices: one frame in each of `num_segments` equal segments of the clip.

    Args:
        num_frames: frames in the clip, >= 1.
        num_segments: `K`, the number of frames to sample.
        mode: `"center"` (evaluation: the segment centres) or `"random"` (training: a uniformly random
            frame in each segment).
        rng: a `numpy.random.Generator` (or a seed) for `"random"`; None uses fresh entropy.

    Returns:
        int64 `(num_segments,)` indices in `[0, num_frames)`, non-decreasing.

    Example:
    >>> sample_segment_indices(10, 4).tolist()
    [1, 3, 6, 8]
    >>> sample_segment_indices(3, 5).tolist()
    [0, 0, 1, 2, 2]
    """
    _check_counts(num_frames, num_segments)
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
    i = np.arange(num_segments, dtype=np.int64)
    if mode == "center":
        return ((2 * i + 1) * num_frames) // (2 * num_segments)
    rng = np.random.default_rng(rng)
    start = (i * num_frames) // num_segments
    end = ((i + 1) * num_frames) // num_segments
    length = np.maximum(end - start, 1)
    return start + np.floor(rng.random(num_segments) * length).astype(np.int64)


def sample_clip_indices(num_frames, num_segments, num_clips=1):
    """Evaluation indices for `num_clips` temporal views, `(num_clips, num_segments)` int64.

    View `c` takes, in each segment `i`, the frame `floor((i + (c + 0.5) / num_clips) N / K)`: the views
    are evenly spread inside the segments, and one view is exactly `sample_segment_indices(..., "center")`.

    Example:
    >>> sample_clip_indices(16, 2, 2).tolist()
    [[2, 10], [6, 14]]
    """
    _check_counts(num_frames, num_segments, num_clips)
    i = np.arange(num_segments, dtype=np.int64)[None, :]
    c = np.arange(num_clips, dtype=np.int64)[:, None]
    return ((2 * num_clips * i + 2 * c + 1) * num_frames) // (2 * num_segments * num_clips)
