"""The coarse-to-fine frame orders of anytime inference (NumPy, integer arithmetic, no TensorFlow).

**A clip of N frames** (`coarse_to_fine_indices(N, K)`): the K TSN segment centres
`c_i = ((2 i + 1) N) // (2 K)` (`sample_segment_indices(N, K)`) in a nested order. Step 1 takes one frame,
and step `s > 1` adds `2 ** (s - 2)` frames, so after step `s` the prefix holds `2 ** (s - 1)` frames
(1, 2, 4, 8, ...; the last step takes what is left). The targets are the dyadic points
`t_n = (1/2 + v(n)) mod 1`, with `v` the van der Corput sequence (0, 1/2, 1/4, 3/4, 1/8, ...): target
`t_n` takes the untaken centre nearest to `t_n * N` (ties to the later one). So the first frame is
the centre of the clip (the segment centre nearest to it), the prefix of `2 ** s` frames is evenly spread
(one frame every `N / 2 ** s` frames), and when K is a power of two the first K frames are exactly the TSN
centres of K segments (step 4 covers `sample_segment_indices(N, 8)` for K = 8). All arithmetic is on
integers (positions in units of `1 / (2 K 2 ** L)` of the clip). Repeated indices (N < K) are dropped,
keeping the first.

**Check points** (`check_points(schedule)`, `coarse_to_fine_steps(N, schedule)`): the prefix lengths
after which anytime inference re-runs the head and checks whether to stop. `"doubling"` (the default)
checks after 1, 2, 4, 8, ... frames, the levels above: each level's new frames go through the backbone
in one batched call (each frame still once), and the head runs once per level, not once per frame.
`"every_frame"` checks after every frame (fewest frames, most calls); an explicit increasing tuple
checks there (then doubling). The last check of a clip is at its length.

**A stream of unknown length** (`stream_indices(horizon, stride)`, a webcam or a long file read once):
frames are taken by time, never looking back, with a doubling horizon: phase `j = 0, 1, 2, ...` takes
`horizon` frames with a stride of `stride * 2 ** j` stream frames. Phase 0 covers the first
`horizon * stride` frames densely; every later phase covers twice the stream time of the one before with
the same number of frames, so a frame budget of `horizon * (j + 1)` frames reaches
`horizon * stride * (2 ** (j + 1) - 1)` frames into the stream. Earlier frames are denser: a stream
has no centre to start from.
"""

from __future__ import annotations

import itertools

import numpy as np

from keras_ispan.options import CHECK_POINTS

DEFAULT_CHECK_POINTS = "doubling"

__all__ = [
    "CHECK_POINTS",
    "check_points",
    "coarse_to_fine_indices",
    "coarse_to_fine_segments",
    "coarse_to_fine_steps",
    "stream_indices",
]


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _reverse_bits(n, bits):
    out = 0
    for _ in range(bits):
        out, n = (out << 1) | (n & 1), n >> 1
    return out


def coarse_to_fine_segments(num_segments):
    """The segment numbers `0 .. K-1` in the coarse-to-fine order, int64 `(K,)` (a permutation).

    Example:
    >>> coarse_to_fine_segments(8).tolist()
    [4, 0, 6, 2, 5, 1, 7, 3]
    """
    _check_positive("num_segments", num_segments)
    k = int(num_segments)
    bits = max(0, (k - 1).bit_length())
    scale = 1 << bits  # target n sits at (scale / 2 + rev(n)) mod scale, in units of 1 / scale
    taken = np.zeros(k, dtype=bool)
    centres = (2 * np.arange(k, dtype=np.int64) + 1) * scale  # in units of 1 / (2 K scale)
    order = []
    for n in range(scale):
        if len(order) == k:
            break
        target = ((scale // 2 + _reverse_bits(n, bits)) % scale) * 2 * k
        distance = np.where(taken, np.iinfo(np.int64).max, np.abs(centres - target))
        best = k - 1 - int(np.argmin(distance[::-1]))  # ties go to the later centre
        taken[best] = True
        order.append(best)
    return np.asarray(order, dtype=np.int64)


def coarse_to_fine_indices(num_frames, num_segments=None):
    """Frame indices of a clip of `num_frames` in the coarse-to-fine order (see the module's docstring).

    Args:
        num_frames: N, frames in the clip, >= 1.
        num_segments: K, frames at most (the TSN centres of K segments); None for N (every frame).

    Returns:
        int64 `(min(N, K),)` or fewer: distinct indices in `[0, N)`, the order in which anytime
        inference takes them; `sorted(...)` equals the distinct values of
        `sample_segment_indices(N, K)`.

    Raises:
        ValueError: `num_frames` or `num_segments` is not a positive integer.

    Example:
    >>> coarse_to_fine_indices(16, 8).tolist()
    [9, 1, 13, 5, 11, 3, 15, 7]
    >>> coarse_to_fine_indices(3, 5).tolist()
    [1, 0, 2]
    """
    _check_positive("num_frames", num_frames)
    k = int(num_frames if num_segments is None else num_segments)
    _check_positive("num_segments", k)
    i = coarse_to_fine_segments(k)
    indices = ((2 * i + 1) * int(num_frames)) // (2 * k)
    _, first = np.unique(indices, return_index=True)
    return indices[np.sort(first)]


def check_points(schedule=DEFAULT_CHECK_POINTS):
    """The endless increasing prefix lengths after which anytime inference checks whether to stop.

    Args:
        schedule: `"doubling"` (default: 1, 2, 4, 8, ...: the coarse-to-fine levels; each level's
            new frames go through the backbone in one call), `"every_frame"` (1, 2, 3, ...), or an
            increasing sequence of positive ints (those, then doubling from the last).

    Returns:
        An iterator of ints.

    Raises:
        ValueError: an unknown schedule name, or a sequence that is not increasing positive ints.

    Example:
    >>> import itertools
    >>> list(itertools.islice(check_points((2, 3)), 5))
    [2, 3, 6, 12, 24]
    """
    explicit = check_schedule(schedule)

    def generate():
        if schedule == "every_frame":
            yield from itertools.count(1)
        size = 1
        for size in explicit or ():
            yield size
        if explicit:
            size *= 2
        while True:
            yield size
            size *= 2

    return generate()


def check_schedule(schedule):
    """`None` for a named check-point schedule, else its explicit prefix lengths as a tuple of ints.

    Raises:
        ValueError: not a schedule `check_points` accepts.
    """
    if isinstance(schedule, str):
        if schedule not in CHECK_POINTS:
            raise ValueError(
                f"`check_points` must be one of {CHECK_POINTS} or increasing positive integers. "
                f"Received: check_points={schedule!r}"
            )
        return None
    try:
        values = tuple(schedule)
    except TypeError:
        values = ()
    if not values or not all(
        not isinstance(v, bool) and isinstance(v, int | np.integer) and v >= 1 for v in values
    ) or any(b <= a for a, b in itertools.pairwise(values)):  # fmt: skip
        raise ValueError(
            f"`check_points` must be one of {CHECK_POINTS} or increasing positive integers. "
            f"Received: check_points={schedule!r}"
        )
    return tuple(int(v) for v in values)


def coarse_to_fine_steps(num_taken, schedule=DEFAULT_CHECK_POINTS):
    """Prefix lengths of a clip of `num_taken` frames at which anytime inference checks: the
    `check_points(schedule)` below `num_taken`, then `num_taken` (the last step takes what is left).

    Example:
    >>> coarse_to_fine_steps(6)
    [1, 2, 4, 6]
    >>> coarse_to_fine_steps(4, "every_frame")
    [1, 2, 3, 4]
    """
    _check_positive("num_taken", num_taken)
    steps = list(itertools.takewhile(lambda size: size < num_taken, check_points(schedule)))
    return [*steps, int(num_taken)]


def stream_indices(horizon=8, stride=1):
    """Endless increasing stream frame indices with a doubling horizon (see the module's docstring).

    Args:
        horizon: frames taken per phase, >= 1.
        stride: the stride of phase 0 in stream frames, >= 1.

    Returns:
        An iterator of ints.

    Raises:
        ValueError: `horizon` or `stride` is not a positive integer.

    Example:
    >>> import itertools
    >>> list(itertools.islice(stream_indices(horizon=3), 9))
    [0, 1, 2, 3, 5, 7, 9, 13, 17]
    """
    _check_positive("horizon", horizon)
    _check_positive("stride", stride)

    def generate():
        position = 0
        for phase in itertools.count():
            step = stride << phase
            for _ in range(horizon):
                yield position
                position += step

    return generate()
