"""A video's stream as PyAV opens it: the file checks, the display orientation (rotation and
mirroring from the display matrix), frame times and the declared and demuxed lengths, frames to RGB.

The decoding primitives of `keras_ispan.io.video` (`decode_video`, `read_clip`) and
`keras_ispan.io.video_windows` (`iter_windows`). No TensorFlow.
"""

import fractions
import os
import pathlib

import numpy as np

INCOMPLETE_FRACTION = 0.9
"""A video is incomplete when it decodes to fewer than this fraction of its declared frames or duration.

10 % of slack absorbs what containers legitimately disagree on (edit lists, a last frame's duration,
rounding of the declared duration), while a file cut anywhere but in its last tenth is caught.
"""


class VideoDecodeError(ValueError):
    """A video that cannot be read; the message names the file and the reason."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"Cannot decode video {self.path}: {self.reason}")


def _check_file(path):
    path = pathlib.Path(path)
    if not path.exists():
        raise VideoDecodeError(path, "file not found")
    if not path.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")
    return path


def _open(path):
    import av

    path = _check_file(path)
    try:
        container = av.open(os.fspath(path))
    except Exception as e:  # av.error.FFmpegError and OS errors: unreadable container
        raise VideoDecodeError(path, f"not a readable media file ({type(e).__name__}: {e})") from e
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "the file has no video stream")
    return container, container.streams.video[0]


def _stream_fps(stream):
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0:
            return float(rate)
    return 0.0


def _resized_size(height, width, short_side):
    if short_side is None:
        return height, width
    scale = short_side / min(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


_UPRIGHT = (1, 1, False, 0, False, None)  # `_orientation` without a display matrix


def _display_matrix(frame):
    """The frame's display matrix as 9 int32 (FFmpeg's `AV_FRAME_DATA_DISPLAYMATRIX`), or None."""
    for side_data in frame.side_data:
        if side_data.type.name == "DISPLAYMATRIX":
            matrix = np.frombuffer(bytes(side_data), np.int32)
            return matrix if matrix.size == 9 else None
    return None


def _orientation(frame):
    """How to show `frame` upright: `(row_step, col_step, transpose, rotation, mirrored, note)`.

    The display matrix maps a stored pixel `(x, y)` (y down) to `(a x + c y, b x + d y)` with
    `a, b, c, d = m[0], m[1], m[3], m[4]` (16.16 fixed point). When this is a signed permutation
    (rotations by multiples of 90 degrees, with or without a mirror), the display image is the stored
    one, transposed when `b, c != 0`, with its rows and columns reversed where the signs say: exact,
    no interpolation. Other angles are rounded to the nearest multiple of 90 degrees (`note` says so).
    """
    matrix = _display_matrix(frame)
    if matrix is None:
        return _UPRIGHT
    a, b, c, d = (int(round(float(v) / 65536.0)) for v in matrix[[0, 1, 3, 4]])
    rotation = int(round(float(frame.rotation))) % 360
    note = None
    if not (
        (abs(a) == abs(d) == 1 and b == c == 0) or (abs(b) == abs(c) == 1 and a == d == 0)
    ):  # not a multiple of 90 degrees: the nearest one
        k = int(round(rotation / 90.0)) % 4
        note = f"display rotation of {rotation} degrees applied as {90 * k}"
        rotation = 90 * k
        a, b, c, d = ((1, 0, 0, 1), (0, -1, 1, 0), (-1, 0, 0, -1), (0, 1, -1, 0))[k]
    mirrored = a * d - b * c < 0
    if b == 0:  # x' = a x, y' = d y
        return d, a, False, rotation, mirrored, note
    return b, c, True, rotation, mirrored, note  # x' = c y, y' = b x: transposed


def _probe_orientation(path):
    """The `_orientation` of the first frame of `path`, from a decode of its own (upright on error).

    Reading a frame's side data makes a reference cycle (PyAV caches the side-data container, which
    holds the frame), so that frame is freed only by the garbage collector, perhaps in a worker
    forked later. Freeing there a frame that converted pixels (its swscale context owns threads the
    child does not have) deadlocks; this frame converts none. The orientation is the stream's: a
    display matrix is stream side data, attached by the decoder to every frame.
    """
    import av

    try:
        with av.open(os.fspath(path)) as container:
            for frame in container.decode(container.streams.video[0]):
                return _orientation(frame)
    except Exception:  # the real decode reports errors
        pass
    return _UPRIGHT


def _orientation_note(orientation):
    """The sentence saying that a display matrix was applied, or None for an upright video."""
    rotation, mirrored = orientation[3], orientation[4]
    if not rotation and not mirrored:
        return None
    turn = f"rotated {rotation} degrees counter-clockwise" if rotation else "not rotated"
    mirror = ", mirrored" if mirrored else ""
    return f"display matrix applied: {turn}{mirror} (frames as players show them)"


def _warnings(orientation, notes):
    """`info["warnings"]`: the orientation applied, then the decoder's notes."""
    applied = _orientation_note(orientation)
    return ([applied] if applied else []) + [n for n in notes if n]


def _display_size(frame, orientation):
    return (frame.width, frame.height) if orientation[2] else (frame.height, frame.width)


def _declared_length(container, stream):
    """`(frames, seconds)` the container declares for `stream`; either is None when not declared.

    The duration is the stream's, or the container's when the video is the file's only stream (with
    audio, the container's duration may be the audio's).
    """
    frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
    seconds = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration and len(container.streams) == 1:
        seconds = container.duration / 1_000_000  # av.time_base
    return frames, (seconds if seconds and seconds > 0 else None)


def _incomplete_note(frames, seconds, declared):
    """The reason a decode of `frames` frames spanning `seconds` is incomplete, or None."""
    declared_frames, declared_seconds = declared
    parts = []
    if declared_frames and frames < INCOMPLETE_FRACTION * declared_frames:
        parts.append(f"{frames} of {declared_frames} declared frames")
    if (
        seconds is not None
        and declared_seconds
        and seconds < INCOMPLETE_FRACTION * declared_seconds
    ):
        parts.append(f"{seconds:.2f} s of {declared_seconds:.2f} s declared")
    if not parts:
        return None
    return "incomplete video: " + ", ".join(parts) + " (a truncated or damaged file)"


def _frame_time(frame, stream):
    """The presentation time of `frame`, exact seconds (a Fraction) from the stream's start, or None
    without a timestamp."""
    if frame.pts is None or frame.time_base is None:
        return None
    return (frame.pts - (stream.start_time or 0)) * fractions.Fraction(frame.time_base)


def _frame_end(frame, time, fps):
    """The time (seconds from the stream's start) at which `frame` ends, or None without timestamps."""
    if time is None:
        return None
    duration = float(frame.duration * frame.time_base) if frame.duration else None
    if duration is None:
        duration = 1.0 / fps if fps > 0 else 0.0
    return float(time) + duration


def _rgb(frame, height, width, orientation=None):
    """A decoded frame as uint8 RGB `(height, width, 3)`, resized with the evaluation transform's filter.

    The frame is converted to RGB at its own size, then resized with Pillow's antialiased bilinear
    filter, the filter of `keras_ispan.io.transform` (within one grey level of TensorFlow's
    `resize(antialias=True)`, tested). FFmpeg's scaler (`to_ndarray(height=..., width=...)`) resizes
    the chroma planes on their own grid and differed from it by up to 97 grey levels at colour edges
    on a real clip, so datasets stored with it gave evaluation other frames than prediction.

    `orientation` (from `_orientation`) puts the frame in display orientation first, so that
    `(height, width)` are display sizes and the resize is that of an upright video.
    """
    image = frame.to_ndarray(format="rgb24")
    if orientation is not None and orientation[:3] != (1, 1, False):
        row_step, col_step, transpose = orientation[:3]
        if transpose:
            image = image.transpose(1, 0, 2)
        image = np.ascontiguousarray(image[::row_step, ::col_step])
    if (height, width) == image.shape[:2]:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def _demux_length(path):
    """`(packets, seconds, declared)`: video packets demuxed (no decoding), the time they span (None
    without timestamps), and the container's `_declared_length`. Raises `VideoDecodeError`."""
    container, stream = _open(path)
    count, end = 0, None
    try:
        declared = _declared_length(container, stream)
        start = stream.start_time or 0
        for packet in container.demux(stream):
            if packet.size:
                count += 1
                if packet.pts is not None and packet.time_base is not None:
                    stop = float((packet.pts + (packet.duration or 0) - start) * packet.time_base)
                    end = stop if end is None else max(end, stop)
    except Exception as e:
        raise VideoDecodeError(path, f"demuxing failed ({type(e).__name__}: {e})") from e
    finally:
        container.close()
    return count, end, declared


def count_frames(path):
    """Counts the video frames of `path` by demuxing packets (no decoding).

    Works where the container's frame count is missing (WebM reports 0). Raises `VideoDecodeError`.
    """
    return _demux_length(path)[0]
