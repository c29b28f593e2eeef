"""`iter_windows` (issue 13, kind 3): successive windows of a long video in one streaming pass.

The videos' frames name themselves: the left half's grey level says the frame's window (content that
changes per window), the right half's says the frame's index (or, for the variable-frame-rate video,
`10 + 20 i` over the whole frame), so each window's frames are checked against an independent
reference: the frame shown at each sample time, from the times the test wrote.
"""

import numpy as np
import pytest

from keras_ispan.io.video import iter_windows, window_sample_times
from tests.keras_ispan.io.test_video_timestamps import TIMES, _source_index, _write_vfr

FPS, NUM_FRAMES, WINDOW = 10, 95, 2.0  # 9.5 s: windows [0, 2), [2, 4), [4, 6), [6, 8), [8, 9.5)


def _level(window):
    return 30 + 40 * window


def _write_cfr(path):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for i in range(NUM_FRAMES):
            image = np.empty((48, 64, 3), np.uint8)
            image[:, :32] = _level(int(i / FPS // WINDOW))
            image[:, 32:] = 10 + 5 * (i % 48)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def cfr(tmp_path_factory):
    return _write_cfr(tmp_path_factory.mktemp("windows") / "cfr.mp4")


def test_windows_cover_the_video_and_hold_their_own_frames(cfr):
    info = {}
    windows = list(iter_windows(cfr, WINDOW, 4, info=info))
    bounds = [b for w in windows for b in (w.start_s, w.end_s)]
    assert bounds == pytest.approx([0, 2, 2, 4, 4, 6, 6, 8, 8, 9.5])
    assert info["num_windows"] == 5 and info["duration_s"] == pytest.approx(9.5)
    assert info["warnings"] == [] and info["incomplete"] is False and info["rotation"] == 0
    for w, window in enumerate(windows):
        assert window.frames.shape == (4, 48, 64, 3) and window.frames.dtype == np.uint8
        samples = window_sample_times(window.start_s, window.end_s, 4)
        # the frame shown at sample time s is frame floor(s * fps), whose timestamp is its index / fps
        expected = [int(np.floor(s * FPS + 1e-9)) for s in samples]
        assert window.frame_times == pytest.approx([i / FPS for i in expected], abs=1e-6)
        assert all(window.start_s <= t < window.end_s for t in window.frame_times)
        for frame, index in zip(window.frames, expected, strict=True):
            assert abs(float(frame[:, :32].mean()) - _level(w)) < 2  # from inside the window
            assert abs(float(frame[:, 32:].mean()) - (10 + 5 * (index % 48))) < 2


def test_window_frames_follow_timestamps_of_a_variable_rate_video(tmp_path):
    info = {}
    windows = list(iter_windows(_write_vfr(tmp_path / "vfr.mp4"), 1.0, 5, info=info))
    assert [w.start_s for w in windows] == pytest.approx([0, 1, 2, 3])
    assert windows[-1].end_s == pytest.approx(info["duration_s"]) and info["duration_s"] >= 3.7
    for window in windows:
        for s, t, index in zip(
            window_sample_times(window.start_s, window.end_s, 5),
            window.frame_times,
            _source_index(window.frames),
            strict=True,
        ):
            shown = max(i for i, time in enumerate(TIMES) if time <= s + 1e-9)  # independent
            assert index == shown and t == pytest.approx(TIMES[shown], abs=1e-6)


def test_short_side_window_longer_than_the_video_and_errors(cfr):
    (window,) = iter_windows(cfr, 60.0, 3, short_side=24)
    assert (window.start_s, window.end_s) == pytest.approx((0.0, 9.5))
    assert window.frames.shape == (3, 24, 32, 3)
    with pytest.raises(ValueError, match=r"Received: window_s=0"):
        next(iter_windows(cfr, 0, 3))
    with pytest.raises(ValueError, match=r"Received: num_segments=0"):
        next(iter_windows(cfr, 1.0, 0))
    with pytest.raises(ValueError, match="file not found"):
        next(iter_windows(cfr.with_name("missing.mp4"), 1.0, 3))


def test_a_consumer_may_stop_early(cfr):
    windows = iter_windows(cfr, 1.0, 2)
    first = next(windows)
    assert first.start_s == 0.0
    windows.close()  # closes the container; nothing else is decoded
