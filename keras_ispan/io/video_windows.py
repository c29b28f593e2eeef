"""Windows over a whole video (`iter_windows`): each window's TSN sample times and frames, decoded in
one pass over the stream. No TensorFlow.
"""

import math
import typing

import numpy as np

from keras_ispan.io.segments import _check_counts
from keras_ispan.io.video_stream import (
    VideoDecodeError,
    _demux_length,
    _display_size,
    _frame_end,
    _frame_time,
    _incomplete_note,
    _open,
    _probe_orientation,
    _resized_size,
    _rgb,
    _stream_fps,
    _warnings,
)


class VideoWindow(typing.NamedTuple):
    """One window of `iter_windows`: `[start_s, end_s)` seconds, its `frames` `(K, H, W, 3)` uint8 and
    `frame_times` (the timestamp, seconds, of the frame shown at each of the window's sample times)."""

    start_s: float
    end_s: float
    frames: np.ndarray
    frame_times: tuple


def window_sample_times(start_s, end_s, num_segments):
    """The TSN segment centres of `[start_s, end_s)` in seconds: `start + (2 i + 1) (end - start) / 2K`.

    Example:
    >>> window_sample_times(4.0, 8.0, 4).tolist()
    [4.5, 5.5, 6.5, 7.5]
    """
    i = np.arange(num_segments, dtype=np.float64)
    return start_s + (2 * i + 1) * (end_s - start_s) / (2 * num_segments)


def _window_bounds(duration, window_s):
    count = max(1, math.ceil(duration / window_s - 1e-9))
    return [(w * window_s, min((w + 1) * window_s, duration)) for w in range(count)]


class _Windows:
    """`iter_windows`' state: the sample times still to fill, the frame held, the window being filled.

    The frame shown at time `s` is the last frame whose timestamp is <= `s`, so a frame is held until
    the next frame's timestamp says when it stops being shown; only then is it converted (once, however
    many sample times it fills). Memory: one held frame and the current window's `K` frames.
    """

    def __init__(self, bounds, num_segments, convert):
        self.bounds, self.num_segments, self.convert = bounds, num_segments, convert
        self.targets = [
            (w, float(t))
            for w, (start, end) in enumerate(bounds)
            for t in window_sample_times(start, end, num_segments)
        ]
        self.next, self.frames, self.times, self.held = 0, [], [], None

    def hold(self, frame, time):
        self.held = [frame, time, None]

    def advance(self, before):
        """Gives the held frame to every pending sample time before `before`; yields full windows."""
        while self.held is not None and self.next < len(self.targets):
            window, time = self.targets[self.next]
            if time >= before:
                return
            self.next += 1
            if self.held[2] is None:
                self.held[2] = self.convert(self.held[0])
            self.frames.append(self.held[2])
            self.times.append(self.held[1])
            if len(self.frames) == self.num_segments:
                start, end = self.bounds[window]
                yield VideoWindow(start, end, np.stack(self.frames), tuple(self.times))
                self.frames, self.times = [], []


def _check_window_args(window_s, num_segments, short_side):
    if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not window_s > 0:
        raise ValueError(f"`window_s` must be a positive number. Received: window_s={window_s!r}")
    _check_counts(1, num_segments)
    if short_side is not None and (not isinstance(short_side, int | np.integer) or short_side < 1):
        raise ValueError(
            f"`short_side` must be a positive integer or None. Received: short_side={short_side}"
        )


def iter_windows(path, window_s, num_segments, *, short_side=None, info=None):
    """Yields a `VideoWindow` for each successive window of `window_s` seconds of `path`.

    Windows are `[w window_s, (w + 1) window_s)`, the last one ending with the video (the time its
    demuxed packets span, else the declared duration). In each window, `num_segments` sample times at
    the segment centres (`window_sample_times`) take the frame shown then, by the frames' timestamps
    (by index over the average rate for frames without one). One streaming decode; memory holds one
    window's frames whatever the video's length. Frames are in display orientation.

    Args:
        path: the video file.
        window_s: the windows' length in seconds, > 0.
        num_segments: `K`, frames per window.
        short_side: resize the kept frames to this short side; None keeps the video's size.
        info: an optional dict, filled with `rotation`, `mirrored`, `duration_s`, `num_windows` before
            the first window and with `incomplete`, `warning`, `warnings` (as `read_clip`'s) at the end.

    Raises:
        VideoDecodeError: missing, empty or unreadable file, no video stream, unknown duration.
        ValueError: for a `window_s`, `num_segments` or `short_side` out of range.
    """
    _check_window_args(window_s, num_segments, short_side)
    counted, seconds, declared = _demux_length(path)
    if counted < 1:
        raise VideoDecodeError(path, "no video packet in the file")
    container, stream = _open(path)
    stream.thread_type = "AUTO"
    fps = _stream_fps(stream)
    duration = seconds or declared[1] or (counted / fps if fps > 0 else None)
    if not duration:
        container.close()
        raise VideoDecodeError(path, "unknown duration (no timestamps, declared duration or rate)")
    orientation = _probe_orientation(path)

    def convert(frame):
        display = _display_size(frame, orientation)
        return _rgb(frame, *_resized_size(*display, short_side), orientation)

    windows = _Windows(_window_bounds(duration, window_s), num_segments, convert)
    report = info if info is not None else {}
    report.update(rotation=int(orientation[3]), mirrored=bool(orientation[4]),
                  duration_s=float(duration), num_windows=len(windows.bounds))  # fmt: skip
    incomplete = _incomplete_note(counted, seconds, declared)
    notes = [orientation[5], incomplete]
    try:
        limit = yield from _stream_windows(container, stream, fps, windows, notes)
        yield from windows.advance(limit)
    finally:
        container.close()
    if windows.next < len(windows.targets):
        notes.append(f"windows after {windows.targets[windows.next][1]:.2f} s not classified")
    notes = [n for n in notes if n]
    report.update(incomplete=bool(incomplete), warning="; ".join(notes) or None,
                  warnings=_warnings(orientation, notes))  # fmt: skip


def _stream_windows(container, stream, fps, windows, notes):
    """The decode loop of `iter_windows`; returns the time up to which the held frame is shown."""
    decoded, end = 0, 0.0
    try:
        for frame in container.decode(stream):
            time = _frame_time(frame, stream)
            time = float(time) if time is not None else decoded / (fps if fps > 0 else 1.0)
            decoded += 1
            yield from windows.advance(time)
            windows.hold(frame, time)
            end = _frame_end(frame, time, fps)
    except Exception as e:  # corrupt packet: the windows up to the last decoded frame, reported
        notes.append(f"decoding stopped after {decoded} frames ({type(e).__name__}: {e})")
        return end
    return math.inf
