"""`keras_ispan.io.flow_clip`: a video's RGB frames and flow stacks for inference, against the whole
clip's `clip_flow` stacked by hand."""

import numpy as np
import pytest

from keras_ispan.io.flow import clip_flow
from keras_ispan.io.flow_clip import two_stream_inputs


def _moving_square(count=9, size=32):
    frames = np.zeros((count, size, size, 3), np.uint8)
    for t in range(count):
        frames[t, 8:16, 4 + t : 12 + t] = 255  # one pixel to the right per frame
    return frames


def test_segments_and_stacks_match_the_whole_clip_flow():
    frames = _moving_square()
    rgb, flow, indices = two_stream_inputs(frames, num_segments=3, flow_length=2)
    assert indices.tolist() == [1, 4, 7]  # segment centres of 9 frames: (2i + 1) * 9 // 6
    np.testing.assert_array_equal(rgb, frames[[1, 4, 7]])
    whole = clip_flow(frames)  # (8, H, W, 2): step s is frame s -> s + 1
    assert flow.shape == (3, 32, 32, 4)
    for k, start in enumerate([1, 4, 7]):
        steps = [min(start, 7), min(start + 1, 7)]  # clamped at the last step (7)
        expected = np.concatenate([whole[steps[0]], whole[steps[1]]], axis=-1)  # x1 y1 x2 y2
        np.testing.assert_array_equal(flow[k], expected)
    assert flow[..., 0::2].mean() > 128  # moving right: positive x-flow above the 128 of no motion


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="Received: shape=\\(4, 8, 8\\)"):
        two_stream_inputs(np.zeros((4, 8, 8), np.uint8), 2, 2)


@pytest.mark.parametrize("short_side", [None, 24])
def test_streaming_decode_equals_the_whole_video_decode(tmp_path, monkeypatch, short_side):
    from keras_ispan.io import video as video_lib
    from keras_ispan.io.flow_clip import read_two_stream_clip
    from keras_ispan.io.transform import FlowSettings
    from tests.keras_ispan.data.helpers import smooth_frames, write_video

    path = tmp_path / "clip.mp4"
    write_video(path, smooth_frames(30, 32, 40))
    frames, _ = video_lib.decode_video(path, short_side=short_side)
    expected = two_stream_inputs(frames, num_segments=3, flow_length=2)
    kept, decode_at = [], video_lib._decode_at

    def spy(*args, **kwargs):  # the frames the streaming pass keeps
        result = decode_at(*args, **kwargs)
        kept.append(len(result[0]))
        return result

    monkeypatch.setattr(video_lib, "_decode_at", spy)
    settings = FlowSettings(short_side=short_side)
    rgb, flow, indices, info = read_two_stream_clip(path, 3, 2, settings=settings)
    np.testing.assert_array_equal(indices, expected[2])
    np.testing.assert_array_equal(rgb, expected[0])
    np.testing.assert_array_equal(flow, expected[1])
    assert info["num_frames"] == 30 and kept == [9]  # 3 segments x (2 + 1) frames, not 30
