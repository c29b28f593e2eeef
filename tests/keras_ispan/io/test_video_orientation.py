"""Orientation (issue 13, kind 1): a video with a display matrix decodes to display orientation.

The videos are written by PyAV with `VideoStream.set_display_rotation(degrees)` (counter-clockwise, as
players apply it and as `VideoFrame.rotation` reads it back). Every check compares the decoded frames
with an independent reference: `np.rot90` of the same content decoded from a copy without the matrix,
and the position of a bright top-left block, so that 90 and 270 degrees are told apart.
"""

import gc
import io

import numpy as np
import pytest

from keras_ispan.data.convert import ConvertConfig, convert_dataset
from keras_ispan.io.video import decode_video, read_clip
from tests.keras_ispan.data.helpers import write_video

HEIGHT, WIDTH, NUM_FRAMES = 240, 320, 4
BLOCK = 48  # the bright block's side, in the stored top-left corner


def _pattern(num_frames=NUM_FRAMES):
    """Dark frames, a bright block at the stored top-left, a grey bar along the stored top edge."""
    frames = np.full((num_frames, HEIGHT, WIDTH, 3), 20, np.uint8)
    frames[:, :BLOCK, :BLOCK] = 235
    frames[:, :16, BLOCK + 16 :] = 128
    return frames


def _write(path, frames, rotation=None, hflip=False):
    """H.264 at 25 fps (`helpers.CODECS["mp4"]`), with a display matrix of `rotation` degrees."""
    return write_video(path, frames, 25, "mp4", rotation=rotation, hflip=hflip)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("orientation")
    paths = {None: _write(root / "plain.mp4", _pattern())}
    for degrees in (0, 90, 180, 270):
        paths[degrees] = _write(root / f"rot{degrees}.mp4", _pattern(), degrees)
    paths["mirror"] = _write(root / "rot90_mirror.mp4", _pattern(), 90, hflip=True)
    reference, _ = decode_video(paths[None])  # the stored frames, no display matrix
    return paths, reference


def _bright_corner(image):
    """Which corner holds the bright block: "tl", "tr", "bl" or "br"."""
    h, w = image.shape[:2]
    b = max(4, min(h, w) // 8)
    corners = {
        "tl": image[:b, :b],
        "tr": image[:b, -b:],
        "bl": image[-b:, :b],
        "br": image[-b:, -b:],
    }
    return max(corners, key=lambda k: corners[k].mean())


# counter-clockwise display rotation -> where the stored top-left corner is shown
CORNER = {0: "tl", 90: "bl", 180: "br", 270: "tr"}


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_decode_video_applies_the_display_matrix(videos, degrees):
    paths, reference = videos
    frames, info = decode_video(paths[degrees])
    expected = np.rot90(reference, degrees // 90, axes=(1, 2))
    assert frames.shape == expected.shape
    assert (info["height"], info["width"]) == frames.shape[1:3]
    if degrees in (90, 270):
        assert frames.shape[1:3] == (WIDTH, HEIGHT)  # 240 wide, 320 tall
    assert np.array_equal(frames, expected)  # same bitstream: exact
    assert info["rotation"] == degrees and info["mirrored"] is False
    assert info["warning"] is None
    assert all(_bright_corner(f) == CORNER[degrees] for f in frames)


def test_90_and_270_differ(videos):
    paths, _ = videos
    a, _ = decode_video(paths[90])
    b, _ = decode_video(paths[270])
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b).mean() > 20
    assert np.array_equal(a, b[:, ::-1, ::-1])  # 180 degrees apart


def test_mirrored_display_matrix(videos):
    paths, reference = videos
    frames, info = decode_video(paths["mirror"])
    # rotate 90 degrees counter-clockwise, then mirror left-right (PyAV's `hflip` after the rotation)
    expected = np.rot90(reference, 1, axes=(1, 2))[:, :, ::-1]
    assert info["rotation"] == 90 and info["mirrored"] is True
    assert np.array_equal(frames, expected)


@pytest.mark.parametrize("degrees", [90, 270])
def test_resize_applies_to_the_displayed_frame(videos, degrees):
    from PIL import Image

    paths, reference = videos
    frames, info = decode_video(paths[degrees], short_side=60, fps=None)
    upright = np.rot90(reference, degrees // 90, axes=(1, 2))
    expected = np.stack(
        [np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize((60, 80), 2)) for f in upright]
    )
    assert frames.shape == (NUM_FRAMES, 80, 60, 3)
    assert (info["source_height"], info["source_width"]) == (WIDTH, HEIGHT)
    assert np.array_equal(frames, expected)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_read_clip_applies_the_display_matrix(videos, degrees):
    """`read_clip` is what `training/predict.py` and the serving client sample with."""
    paths, reference = videos
    clip, info = read_clip(paths[degrees], 2, short_side=None)
    indices = info["frame_indices"][0]
    expected = np.rot90(reference[indices], degrees // 90, axes=(1, 2))
    assert np.array_equal(clip[0], expected)
    assert info["rotation"] == degrees and info["incomplete"] is False


def _dataset_frames(folder):
    import tensorflow as tf
    from PIL import Image

    from keras_ispan.data.clip_reader import parse_clip

    clips = {}
    for shard in sorted(folder.glob("*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(shard)):
            parsed = parse_clip(record)
            images = [np.asarray(Image.open(io.BytesIO(j))) for j in parsed["frames"].numpy()]
            clips[parsed["video_id"].numpy().decode()] = np.stack(images)
    return clips


def test_dataset_stores_display_orientation(videos, tmp_path):
    paths, reference = videos
    root = tmp_path / "videos"
    for degrees in (90, 270):
        target = root / f"rot{degrees}" / "clip.mp4"
        target.parent.mkdir(parents=True)
        target.write_bytes(paths[degrees].read_bytes())
    config = ConvertConfig(
        videos=root, output=tmp_path / "ds", short_side=None, jpeg_quality=95,
        test_fraction=0.0, workers=2,  # forked after decoding here: see the test below
    )  # fmt: skip
    summary = convert_dataset(config, log=None)
    assert summary.counts == {"train": 2} and summary.failed == []
    stored = _dataset_frames(tmp_path / "ds")
    for degrees in (90, 270):
        frames = stored[f"rot{degrees}/clip.mp4"]
        expected = np.rot90(reference, degrees // 90, axes=(1, 2))
        assert frames.shape == expected.shape == (NUM_FRAMES, WIDTH, HEIGHT, 3)
        assert np.abs(frames.astype(int) - expected).mean() < 3  # JPEG, quality 95
        assert all(_bright_corner(f) == CORNER[degrees] for f in frames)


def test_no_decoded_frame_is_left_to_the_garbage_collector(videos):
    """Reading side data makes a frame <-> side-data cycle in PyAV. Only the orientation probe's frame
    (no pixels converted) may be in one: a converted frame freed by the collector in a forked
    `prepare` worker deadlocks there (its swscale threads are not in the child), and one cycle per
    frame would hold every decoded frame until a collection."""
    import av

    paths, _ = videos
    gc.collect()
    gc.disable()
    try:
        decode_video(paths[90])
        read_clip(paths[270], 3, short_side=None)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        frames = [o for o in gc.garbage if isinstance(o, av.VideoFrame)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(frames) <= 2  # one probe per decode_video, one per read_clip pass
