"""Real timestamps (issue 13, kind 1, timing): `decode_video(fps=...)` picks frames by their timestamps.

The variable-frame-rate videos are written by PyAV with explicit presentation times (milliseconds);
frame i is filled with the grey level `10 + 20 i`, so that a decoded frame names its source index.
"""

import fractions

import numpy as np
import pytest

from keras_ispan.io.video import decode_video
from tests.keras_ispan.data.helpers import smooth_frames, write_video

TIMES = [0.0, 0.1, 0.15, 0.2, 0.5, 0.55, 0.6, 1.0, 1.9, 2.0, 2.6, 3.7]


def _write_vfr(path, times=TIMES):
    import av

    codec = {"mp4": "libx264", "mkv": "libx264", "webm": "libvpx-vp9"}[path.suffix[1:]]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        stream.time_base = fractions.Fraction(1, 1000)
        for i, t in enumerate(times):
            image = np.full((32, 32, 3), 10 + 20 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), fractions.Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _source_index(frames):
    return [int(round((float(f.mean()) - 10) / 20)) for f in frames]


@pytest.mark.parametrize("ext", ["mp4", "mkv", "webm"])
def test_frame_times_are_the_timestamps(tmp_path, ext):
    frames, info = decode_video(_write_vfr(tmp_path / f"vfr.{ext}"))
    assert _source_index(frames) == list(range(len(TIMES)))
    assert info["frame_times"] == pytest.approx(TIMES, abs=1e-6)
    assert info["incomplete"] is False and info["warning"] is None


@pytest.mark.parametrize("ext", ["mp4", "mkv", "webm"])
@pytest.mark.parametrize("fps", [1.0, 2.0, 4.0])
def test_fps_subsampling_picks_frames_by_time(tmp_path, ext, fps):
    frames, info = decode_video(_write_vfr(tmp_path / f"vfr.{ext}"), fps=fps)
    # independent reference: the first frame of each period [k / fps, (k + 1) / fps) holding frames
    expected, seen = [], set()
    for i, t in enumerate(TIMES):
        period = int(np.floor(round(t * 1000) * fps / 1000 + 1e-9))
        if period not in seen:
            seen.add(period)
            expected.append(i)
    picked = _source_index(frames)
    assert picked == expected
    assert info["frame_times"] == pytest.approx([TIMES[i] for i in expected], abs=1e-6)
    # the frames picked by time match their timestamps: at most one per period, none skipped
    periods = [int(np.floor(t * fps + 1e-9)) for t in info["frame_times"]]
    assert periods == sorted(set(periods))
    assert info["fps"] == fps


def test_constant_rate_subsampling_is_unchanged(tmp_path):
    """On a constant-rate video, picking by time is the old index rule `floor(i fps / rate)`."""
    path = write_video(tmp_path / "cfr.mp4", smooth_frames(50, 32, 32), fps=25)
    all_frames, _ = decode_video(path)
    for fps in (1, 6, 7.5, 12.5, 24, 25, 30):
        frames, info = decode_video(path, fps=fps)
        expected = [i for i in range(50) if i == 0 or int(i * fps / 25) != int((i - 1) * fps / 25)]
        assert np.array_equal(frames, all_frames[expected]), fps
        assert info["frame_times"] == pytest.approx([i / 25 for i in expected])
        assert info["fps"] == (fps if fps < 25 else 25)
