"""Video decoding with PyAV and TSN frame-index sampling in NumPy (no TensorFlow).

Shared by dataset conversion (`training/convert.py`), `training/predict.py` and `serving/client.py`, so
that a clip is decoded and sampled the same way everywhere. PyAV (`av`) is imported lazily.

TSN sampling (Wang et al., "Temporal Segment Networks", ECCV 2016): a clip of `N` frames is cut into `K`
equal segments `[floor(i N / K), floor((i + 1) N / K))`; training takes one random frame in each segment,
evaluation takes the segment centres `floor((2 i + 1) N / (2 K))`. Integer arithmetic keeps these indices
identical to the in-graph version in `training/pipeline.py`. Clips shorter than `K` frames repeat frames
(each empty segment takes the frame at its start), so any clip with at least one frame gives `K` indices.
"""

import os
import pathlib

import numpy as np

_MODES = ("center", "random")


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


def _rgb(frame, height, width):
    """A decoded frame as uint8 RGB `(height, width, 3)`, resized with the evaluation transform's filter.

    The frame is converted to RGB at its own size, then resized with Pillow's antialiased bilinear
    filter, the filter of `keras_ispan.io.transform` (within one grey level of TensorFlow's
    `resize(antialias=True)`, tested). FFmpeg's scaler (`to_ndarray(height=..., width=...)`) resizes
    the chroma planes on their own grid and differed from it by up to 97 grey levels at colour edges
    on a real clip, so datasets stored with it gave evaluation other frames than prediction.
    """
    image = frame.to_ndarray(format="rgb24")
    if (height, width) == image.shape[:2]:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def count_frames(path):
    """Counts the video frames of `path` by demuxing packets (no decoding).

    Works where the container's frame count is missing (WebM reports 0). Raises `VideoDecodeError`.
    """
    container, stream = _open(path)
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size:
                count += 1
    except Exception as e:
        raise VideoDecodeError(path, f"demuxing failed ({type(e).__name__}: {e})") from e
    finally:
        container.close()
    return count


def decode_video(path, *, short_side=None, max_frames=None, fps=None, thread_type="AUTO"):
    """Decodes a video to RGB frames.

    Args:
        path: the video file (any container FFmpeg reads: MP4, AVI, WebM, GIF ...).
        short_side: resize so that the shorter side has this many pixels (aspect kept); None keeps the size.
        max_frames: stop after this many output frames; None decodes the whole video.
        fps: subsample to at most this frame rate (frames are dropped, never duplicated); None keeps all.
        thread_type: PyAV decoder threading (`"AUTO"`, `"FRAME"`, `"SLICE"`, `"NONE"`).

    Returns:
        `(frames, info)`: frames uint8 `(T, H, W, 3)`, and a dict with `fps`, `num_frames`, `height`,
        `width` of the output, `source_fps`, `source_num_frames` (frames decoded before subsampling),
        `source_height`, `source_width`, `codec`, and `warning` (a decoding error after some frames, the
        frames before it are kept) or None.

    Raises:
        VideoDecodeError: missing, empty or unreadable file, no video stream, or no decodable frame.
    """
    for name, value in (("short_side", short_side), ("max_frames", max_frames)):
        if value is not None and (not isinstance(value, int | np.integer) or value < 1):
            raise ValueError(
                f"`{name}` must be a positive integer or None. Received: {name}={value}"
            )
    if fps is not None and not fps > 0:
        raise ValueError(f"`fps` must be positive or None. Received: fps={fps}")
    container, stream = _open(path)
    if thread_type:
        stream.thread_type = thread_type
    source_fps = _stream_fps(stream)
    keep_all = fps is None or source_fps <= 0 or fps >= source_fps
    frames, warning, size, decoded = [], None, None, 0
    try:
        for frame in container.decode(stream):
            index = decoded
            decoded += 1
            # Keep source frame i when it starts a new output period: floor(i fps / src) increases.
            if (
                not keep_all
                and index
                and int(index * fps / source_fps) == int((index - 1) * fps / source_fps)
            ):
                continue
            if size is None:
                size = (
                    frame.height,
                    frame.width,
                    *_resized_size(frame.height, frame.width, short_side),
                )
            if (frame.height, frame.width) != size[:2]:
                size = (frame.height, frame.width, size[2], size[3])  # mid-stream size change
            frames.append(_rgb(frame, size[2], size[3]))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except Exception as e:  # corrupt packet: keep what was decoded, report it
        warning = f"decoding stopped after {decoded} frames ({type(e).__name__}: {e})"
    finally:
        codec = stream.codec_context.name
        container.close()
    if not frames:
        raise VideoDecodeError(path, warning or "no decodable video frame")
    out_fps = source_fps if keep_all else float(fps)
    array = np.stack(frames)
    info = {
        "fps": out_fps,
        "num_frames": int(array.shape[0]),
        "height": int(array.shape[1]),
        "width": int(array.shape[2]),
        "source_fps": source_fps,
        "source_num_frames": decoded,
        "source_height": int(size[0]),
        "source_width": int(size[1]),
        "codec": codec,
        "warning": warning,
    }
    return array, info


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

    Returns `(kept: {index: frame}, decoded: frames decoded, warning or None)`. Memory holds the kept
    frames only, whatever the video's length.
    """
    container, stream = _open(path)
    if thread_type:
        stream.thread_type = thread_type
    wanted = set(int(i) for i in wanted)
    last = max(wanted) if wanted else -1
    kept, decoded, warning = {}, 0, None
    try:
        for frame in container.decode(stream):
            index = decoded
            decoded += 1
            if index in wanted:
                kept[index] = _rgb(frame, *_resized_size(frame.height, frame.width, short_side))
            if index >= last:
                break
    except Exception as e:  # corrupt packet: keep what was decoded, report it
        warning = f"decoding stopped after {decoded} frames ({type(e).__name__}: {e})"
    finally:
        container.close()
    return kept, decoded, warning


def read_clip(path, num_segments, *, num_clips=1, short_side=256):
    """Decodes only the evaluation frames of `path`: `(num_clips, num_segments, H, W, 3)` uint8.

    The frames are those of `sample_clip_indices` over the video's frame count (counted by demuxing,
    without decoding); one streaming decode keeps only them, so memory holds `num_clips * num_segments`
    frames whatever the video's length. When fewer frames decode than were counted (a damaged file),
    the indices are recomputed over the frames that decode and the file is decoded again; `info`'s
    `warning` says so. Spatial cropping is left to the model's evaluation transform
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
        `(num_clips, num_segments)`, `height`, `width` (of the returned frames), `warning`.

    Raises:
        VideoDecodeError: missing, empty or unreadable file, no video stream, or no decodable frame.
    """
    _check_counts(1, num_segments, num_clips)
    counted = count_frames(path)
    if counted < 1:
        raise VideoDecodeError(path, "no video packet in the file")
    indices = sample_clip_indices(counted, num_segments, num_clips)
    kept, decoded, warning = _decode_at(path, indices.ravel(), short_side)
    if any(int(i) not in kept for i in indices.ravel()):
        if decoded < 1:
            raise VideoDecodeError(path, warning or "no decodable video frame")
        note = f"{decoded} of {counted} counted frames decoded; sampled over the {decoded}"
        warning = f"{warning}; {note}" if warning else note
        indices = sample_clip_indices(decoded, num_segments, num_clips)
        kept, _, _ = _decode_at(path, indices.ravel(), short_side)
        if any(int(i) not in kept for i in indices.ravel()):
            raise VideoDecodeError(path, warning)
    frames = np.stack([kept[int(i)] for i in indices.ravel()])
    frames = frames.reshape(indices.shape + frames.shape[1:])
    info = {
        "num_frames": int(min(counted, decoded) if warning else counted),
        "frame_indices": indices,
        "height": int(frames.shape[-3]),
        "width": int(frames.shape[-2]),
        "warning": warning,
    }
    return frames, info
