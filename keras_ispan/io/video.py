"""Video decoding with PyAV and TSN frame-index sampling in NumPy (no TensorFlow).

Shared by dataset conversion (`keras_ispan/data/convert.py`), `training/predict.py` and `serving/client.py`, so
that a clip is decoded and sampled the same way everywhere. PyAV (`av`) is imported lazily.

TSN sampling (Wang et al., "Temporal Segment Networks", ECCV 2016): a clip of `N` frames is cut into `K`
equal segments `[floor(i N / K), floor((i + 1) N / K))`; training takes one random frame in each segment,
evaluation takes the segment centres `floor((2 i + 1) N / (2 K))`. Integer arithmetic keeps these indices
identical to the in-graph version in `keras_ispan/data/pipeline.py`. Clips shorter than `K` frames repeat frames
(each empty segment takes the frame at its start), so any clip with at least one frame gives `K` indices.

What the decoder honours and reports (the same for `decode_video` and `read_clip`, hence for datasets,
`training/predict.py` and the serving client):
- orientation: a display matrix (a phone video stored 320x240 shown 240 wide, 320 tall) is applied
  to every frame, rotations by multiples of 90 degrees and mirrorings exactly, before any resize;
  `info["rotation"]` says the counter-clockwise degrees applied (players' convention, PyAV's
  `VideoFrame.rotation`), `info["mirrored"]` whether the matrix also mirrors (the matrix is the
  stream's, read from its first frame);
- declared length: when clearly fewer frames, or less time, decode than the container declares
  (below `INCOMPLETE_FRACTION`, 90 %, of the declared frame count or duration), the video is
  incomplete (a truncated download, a cut file): `info["incomplete"]` is True and `info["warning"]`
  says what decoded against what was declared. The frames that decoded are still returned.

`info["warnings"]` lists, one sentence each, what a user should be told about a video: the display
rotation applied (so that an upright result is never a silent change), then the parts of
`info["warning"]`. `training/predict.py` and `serving/client.py` print them (one line per video on
stderr) and put them in their `--json` records.
"""

import fractions
import math
import os
import pathlib
import typing

import numpy as np

_MODES = ("center", "random")

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


def decode_video(path, *, short_side=None, max_frames=None, fps=None, thread_type="AUTO"):
    """Decodes a video to RGB frames.

    Args:
        path: the video file (any container FFmpeg reads: MP4, AVI, WebM, GIF ...).
        short_side: resize so that the shorter side has this many pixels (aspect kept); None keeps the size.
        max_frames: stop after this many output frames; None decodes the whole video.
        fps: subsample to at most this frame rate (frames are dropped, never duplicated): a frame is
            kept when its timestamp starts a new period of `1 / fps` seconds (`floor(t * fps)`
            increases), so variable-frame-rate videos are sampled by time, not by index; None keeps all.
        thread_type: PyAV decoder threading (`"AUTO"`, `"FRAME"`, `"SLICE"`, `"NONE"`).

    Returns:
        `(frames, info)`: frames uint8 `(T, H, W, 3)`, and a dict with `fps`, `num_frames`, `height`,
        `width` of the output, `source_fps`, `source_num_frames` (frames decoded before subsampling),
        `source_height`, `source_width` (the decoded frames in display orientation, before resizing),
        `codec`, `frame_times` (each returned frame's timestamp, seconds from the stream's start,
        None where a frame has none), `rotation` (counter-clockwise degrees applied from the display matrix, 0 without one),
        `mirrored`, `declared_frames`, `declared_seconds` (what the container declares, None when it
        does not), `incomplete` (fewer than `INCOMPLETE_FRACTION` of the declared frames or duration
        decoded; never set by a `max_frames` stop), and `warning` (a decoding error after some frames,
        an incomplete video, a display rotation that is not a multiple of 90 degrees; the frames that
        decoded are kept) or None, and `warnings` (a list: the display rotation applied, then
        `warning`'s parts; see the module's docstring).

    Raises:
        VideoDecodeError: missing, empty or unreadable file, no video stream, or no decodable frame.
    """
    _check_decode_args(short_side, max_frames, fps)
    container, stream = _open(path)
    if thread_type:
        stream.thread_type = thread_type
    source_fps = _stream_fps(stream)
    declared = _declared_length(container, stream)
    orientation = _probe_orientation(path)
    keep = _period_filter(fps, source_fps)
    try:
        out = _decode_frames(container, stream, keep, orientation, short_side, max_frames)
    finally:
        codec = stream.codec_context.name
        container.close()
    notes = [note for note in (orientation[5], out.error) if note]
    if not out.frames:
        raise VideoDecodeError(path, "; ".join(notes) or "no decodable video frame")
    incomplete = None if out.stopped else _incomplete_note(out.decoded, out.end, declared)
    if incomplete:
        notes.append(incomplete)
    array = np.stack(out.frames)
    info = _decoded_info(array, out, fps, source_fps, codec)
    return array, info | _display_info(orientation, declared, incomplete, notes)


def _decoded_info(array, out, fps, source_fps, codec):
    """`decode_video`'s `info` keys about the frames: rates, counts, sizes, codec, times."""
    out_fps = (
        float(fps) if fps is not None and (source_fps <= 0 or fps < source_fps) else source_fps
    )
    return {
        "fps": out_fps,
        "num_frames": int(array.shape[0]),
        "height": int(array.shape[1]),
        "width": int(array.shape[2]),
        "source_fps": source_fps,
        "source_num_frames": out.decoded,
        "source_height": int(out.size[0]),
        "source_width": int(out.size[1]),
        "codec": codec,
        "frame_times": out.times[: len(out.frames)],
    }


def _check_decode_args(short_side, max_frames, fps):
    for name, value in (("short_side", short_side), ("max_frames", max_frames)):
        if value is not None and (not isinstance(value, int | np.integer) or value < 1):
            raise ValueError(
                f"`{name}` must be a positive integer or None. Received: {name}={value}"
            )
    if fps is not None and not fps > 0:
        raise ValueError(f"`fps` must be positive or None. Received: fps={fps}")


def _period_filter(fps, source_fps):
    """`keep(index, time)`: whether `decode_video(fps=...)` keeps the frame decoded `index`-th at `time`.

    A frame is kept when it starts a new output period: `floor(t * fps)` increases, `t` its timestamp
    (exact); without one, its index over the average rate. Every frame is kept when `fps` is None.
    """
    if fps is None:
        return lambda index, time: True
    rate = fractions.Fraction(fps).limit_denominator(1_000_000)
    last_period = None

    def keep(index, time):
        nonlocal last_period
        if time is not None:
            period = math.floor(time * rate)
        elif source_fps > 0:
            period = int(index * fps / source_fps)
        else:
            period = index
        if last_period is not None and period <= last_period:
            return False
        last_period = period
        return True

    return keep


class _Decoded(typing.NamedTuple):
    """What `_decode_frames` read: the kept frames and their times, the size of the last one
    `(display h, w, resized h, w)`, frames decoded, the latest frame end (seconds), whether
    `max_frames` stopped it, and the decoding error that ended it early (or None)."""

    frames: list
    times: list
    size: tuple | None
    decoded: int
    end: float | None
    stopped: bool
    error: str | None


def _decode_frames(container, stream, keep, orientation, short_side, max_frames) -> _Decoded:
    """The decoding loop of `decode_video`; a corrupt packet ends it, keeping what was decoded."""
    source_fps = _stream_fps(stream)
    frames, times, size, decoded, end = [], [], None, 0, None
    stopped, error = False, None
    try:
        for frame in container.decode(stream):
            index = decoded
            decoded += 1
            time = _frame_time(frame, stream)
            stop = _frame_end(frame, time, source_fps)
            end = stop if end is None or (stop is not None and stop > end) else end
            if not keep(index, time):
                continue
            times.append(None if time is None else float(time))
            display = _display_size(frame, orientation)
            if size is None or display != size[:2]:  # the first frame, or a mid-stream size change
                size = (*display, *_resized_size(*display, short_side))
            frames.append(_rgb(frame, size[2], size[3], orientation))
            if max_frames is not None and len(frames) >= max_frames:
                stopped = True
                break
    except Exception as e:  # corrupt packet: keep what was decoded, report it
        error = f"decoding stopped after {decoded} frames ({type(e).__name__}: {e})"
    return _Decoded(frames, times, size, decoded, end, stopped, error)


def _display_info(orientation, declared, incomplete, notes):
    """The `info` keys `decode_video` and `read_clip` share: orientation, declared length, warnings."""
    return {
        "rotation": int(orientation[3]),
        "mirrored": bool(orientation[4]),
        "declared_frames": declared[0],
        "declared_seconds": declared[1],
        "incomplete": bool(incomplete),
        "warning": "; ".join(notes) or None,
        "warnings": _warnings(orientation, notes),
    }


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


def _decode_at(path, wanted, short_side, thread_type="AUTO"):
    """Decodes `path` in one streaming pass, keeping only the frames whose decode index is in `wanted`.

    Returns `(kept: {index: frame}, decoded: frames decoded, warning or None, orientation)`; frames
    are in display orientation. Memory holds the kept frames only, whatever the video's length.
    """
    container, stream = _open(path)
    if thread_type:
        stream.thread_type = thread_type
    wanted = set(int(i) for i in wanted)
    last = max(wanted) if wanted else -1
    orientation = _probe_orientation(path)
    kept, decoded, warning = {}, 0, None
    try:
        for frame in container.decode(stream):
            index = decoded
            decoded += 1
            if index in wanted:
                display = _display_size(frame, orientation)
                kept[index] = _rgb(frame, *_resized_size(*display, short_side), orientation)
            if index >= last:
                break
    except Exception as e:  # corrupt packet: keep what was decoded, report it
        warning = f"decoding stopped after {decoded} frames ({type(e).__name__}: {e})"
    finally:
        container.close()
    return kept, decoded, warning, orientation


def read_clip(path, num_segments, *, num_clips=1, short_side=256):
    """Decodes only the evaluation frames of `path`: `(num_clips, num_segments, H, W, 3)` uint8.

    The frames are those of `sample_clip_indices` over the video's frame count (counted by demuxing,
    without decoding); one streaming decode keeps only them, so memory holds `num_clips * num_segments`
    frames whatever the video's length. When fewer frames decode than were counted (a damaged file),
    the indices are recomputed over the frames that decode and the file is decoded again; `info`'s
    `warning` says so. Frames are in display orientation (see the module's docstring); a video whose
    demuxed packets hold clearly fewer frames or less time than the container declares is reported
    as incomplete (`info["incomplete"]`, `info["warning"]`), as `decode_video` does. Spatial
    cropping is left to the model's evaluation transform
    (`keras_ispan.io.frames_tf.eval_resize_and_crop`).

    Args:
        path: the video file.
        num_segments: `K`, frames per view.
        num_clips: temporal views.
        short_side: resize the kept frames so that the shorter side has this many pixels (area
            interpolation); None keeps the video's own size (what inference uses, so that the model's
            transform does the only resize).

    Returns:
        `(frames, info)`: `info` has `num_frames` (frames in the video), `frame_indices`
        `(num_clips, num_segments)`, `height`, `width` (of the returned frames), `rotation`,
        `mirrored`, `declared_frames`, `declared_seconds`, `incomplete`, `warning`, `warnings`.

    Raises:
        VideoDecodeError: missing, empty or unreadable file, no video stream, or no decodable frame.
    """
    _check_counts(1, num_segments, num_clips)
    counted, seconds, declared = _demux_length(path)
    if counted < 1:
        raise VideoDecodeError(path, "no video packet in the file")
    indices, kept, decoded, warning, orientation = _decode_views(
        path, counted, num_segments, num_clips, short_side
    )
    frames = np.stack([kept[int(i)] for i in indices.ravel()])
    frames = frames.reshape(indices.shape + frames.shape[1:])
    num_frames = int(min(counted, decoded) if warning else counted)
    incomplete = _incomplete_note(num_frames, seconds, declared)
    notes = [n for n in (warning, incomplete, orientation[5]) if n]
    info = {
        "num_frames": num_frames,
        "frame_indices": indices,
        "height": int(frames.shape[-3]),
        "width": int(frames.shape[-2]),
        **_display_info(orientation, declared, incomplete, notes),
    }
    return frames, info


def _decode_views(path, counted, num_segments, num_clips, short_side):
    """The frames of `sample_clip_indices` over the `counted` frames, decoded; when some of them do
    not decode, sampled again over the frames that do (with a warning saying so).

    Returns `(indices, kept, decoded, warning, orientation)` (see `_decode_at`).
    """
    indices = sample_clip_indices(counted, num_segments, num_clips)
    kept, decoded, warning, orientation = _decode_at(path, indices.ravel(), short_side)
    if any(int(i) not in kept for i in indices.ravel()):
        if decoded < 1:
            raise VideoDecodeError(path, warning or "no decodable video frame")
        note = f"{decoded} of {counted} counted frames decoded; sampled over the {decoded}"
        warning = f"{warning}; {note}" if warning else note
        indices = sample_clip_indices(decoded, num_segments, num_clips)
        kept, _, _, orientation = _decode_at(path, indices.ravel(), short_side)
        if any(int(i) not in kept for i in indices.ravel()):
            raise VideoDecodeError(path, warning)
    return indices, kept, decoded, warning, orientation


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
