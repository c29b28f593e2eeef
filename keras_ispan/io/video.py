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
import typing

import numpy as np

# the names of the split-out modules, importable from here as before
from keras_ispan.io.segments import (  # noqa: F401
    _MODES,
    _check_counts,
    sample_clip_indices,
    sample_segment_indices,
)
from keras_ispan.io.video_stream import (  # noqa: F401
    _UPRIGHT,
    INCOMPLETE_FRACTION,
    VideoDecodeError,
    _check_file,
    _declared_length,
    _demux_length,
    _display_matrix,
    _display_size,
    _frame_end,
    _frame_time,
    _incomplete_note,
    _open,
    _orientation,
    _orientation_note,
    _probe_orientation,
    _resized_size,
    _rgb,
    _stream_fps,
    _warnings,
    count_frames,
)
from keras_ispan.io.video_windows import (  # noqa: F401
    VideoWindow,
    _check_window_args,
    _stream_windows,
    _window_bounds,
    _Windows,
    iter_windows,
    window_sample_times,
)


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
