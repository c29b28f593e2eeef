"""Real codecs end to end: PyAV-encoded videos -> keras_ispan/data/convert.py -> the pipeline -> the source frames.

Tolerances (mean absolute error per pixel, levels of 255, 48x48 frames): the codec round trip alone
stays below 4 for H.264 / MPEG-4 / VP9 on smooth content and below 2 for GIF (rgb8 pure colours); adding
the JPEG (quality 95) storage, end to end through the pipeline, stays below 5 (JPEG's chroma ringing at
GIF's hard colour edges is the largest part).
"""

import json

import numpy as np
import pytest

from keras_ispan.data.convert import ConvertConfig, convert_dataset
from keras_ispan.data.pipeline import PipelineConfig, make_dataset, read_dataset_info
from keras_ispan.io.video import (
    VideoDecodeError,
    count_frames,
    decode_video,
    read_clip,
    sample_clip_indices,
)
from tests.keras_ispan.data.helpers import blocky_frames, smooth_frames, write_video

MEAN_TOLERANCE = {"mp4": 4.0, "avi": 4.0, "webm": 4.0, "gif": 2.0}
END_TO_END_TOLERANCE = 5.0
SOURCES = {
    "mp4": lambda: smooth_frames(10, seed=1),
    "avi": lambda: smooth_frames(7, seed=2),
    "webm": lambda: smooth_frames(9, seed=3),
    "gif": lambda: blocky_frames(6),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("codecs")
    sources = {}
    for ext, make in SOURCES.items():
        sources[ext] = make()
        write_video(root / "videos" / f"class_{ext}" / f"clip.{ext}", sources[ext])
    return root, sources


@pytest.mark.parametrize("ext", sorted(SOURCES))
def test_decode_video_matches_source(videos, ext):
    root, sources = videos
    path = root / "videos" / f"class_{ext}" / f"clip.{ext}"
    frames, info = decode_video(path)
    src = sources[ext]
    assert frames.shape == src.shape and frames.dtype == np.uint8
    assert info["num_frames"] == src.shape[0] == count_frames(path)
    assert info["fps"] == pytest.approx(25.0, rel=0.01)
    assert np.abs(frames.astype(int) - src).mean() < MEAN_TOLERANCE[ext]


def test_decode_options(videos):
    root, sources = videos
    path = root / "videos" / "class_mp4" / "clip.mp4"
    frames, info = decode_video(path, short_side=24, max_frames=4)
    assert frames.shape == (4, 24, 24, 3) and info["source_height"] == 48
    full, _ = decode_video(path)
    sub, info = decode_video(path, fps=12.5)  # 25 -> 12.5 fps keeps frames 0, 2, 4 ...
    np.testing.assert_array_equal(sub, full[::2])
    assert info["fps"] == 12.5
    with pytest.raises(ValueError, match="short_side=0"):
        decode_video(path, short_side=0)


def test_read_clip_gives_the_sampled_views(videos):
    root, _ = videos
    path = root / "videos" / "class_mp4" / "clip.mp4"
    full, _ = decode_video(path)
    clip, info = read_clip(path, 3, num_clips=2, short_side=None)
    assert clip.shape == (2, 3, 48, 48, 3) and info["num_frames"] == 10
    np.testing.assert_array_equal(clip, full[[[0, 4, 7], [2, 5, 9]]])
    # views at 1/4 and 3/4 of the segments [0, 3.3) [3.3, 6.7) [6.7, 10): floor of 0.8 4.2 7.5, 2.5 5.8 9.2
    np.testing.assert_array_equal(sample_clip_indices(10, 3, 2), [[0, 4, 7], [2, 5, 9]])


def test_convert_then_pipeline_gives_source_frames(videos, tmp_path):
    root, sources = videos
    config = ConvertConfig(
        videos=root / "videos", output=tmp_path / "ds", short_side=None, jpeg_quality=95,
        test_fraction=0.0, workers=1,
    )  # fmt: skip
    summary = convert_dataset(config, log=None)
    assert summary.counts == {"train": 4} and summary.failed == []
    info = read_dataset_info(tmp_path / "ds")
    assert list(info.classes) == [f"class_{e}" for e in sorted(SOURCES)]
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    assert meta["frames"]["train"]["frames_total"] == sum(len(s) for s in sources.values())
    for ext in SOURCES:
        src = sources[ext]
        # K = T gives every frame (segment centres); resize_ratio 1 and S = 48: no resize, full frame
        pipe = PipelineConfig(
            num_segments=len(src), image_size=48, batch_size=1, training=False, resize_ratio=1.0
        )
        matches = 0
        for x, y in make_dataset(tmp_path / "ds", "train", pipe).unbatch():
            if info.classes[int(y)] == f"class_{ext}" and x.shape[0] == len(src):
                err = np.abs(x.numpy().astype(int) - src).mean()
                assert err < END_TO_END_TOLERANCE, (ext, err)
                matches += 1
        assert matches == 1


def test_workers_give_identical_records(videos, tmp_path):
    root, _ = videos
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        convert_dataset(
            ConvertConfig(videos=root / "videos", output=out, workers=workers, short_side=32),
            log=None,
        )
        outputs.append({p.name: p.read_bytes() for p in sorted(out.glob("*.tfrecord"))})
    assert outputs[0] == outputs[1] and outputs[0]


def test_decode_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    for path, reason in ((empty, "empty"), (text, "not a readable media file"),
                         (tmp_path / "missing.avi", "not found")):  # fmt: skip
        with pytest.raises(VideoDecodeError, match=reason) as err:
            decode_video(path)
        assert str(path) in str(err.value) and isinstance(err.value, ValueError)


@pytest.mark.slow
def test_shared_clips_convert_with_pyav_frame_counts(shared_clips, tmp_path):
    clips = sorted(p for p in shared_clips.iterdir() if p.suffix in (".mp4", ".avi", ".gif"))
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label,split\n" + "".join(f"{p.name},{p.stem},test\n" for p in clips))
    config = ConvertConfig(
        videos=shared_clips, output=tmp_path / "ds", layout="manifest", annotations=manifest,
        short_side=64, workers=2,
    )  # fmt: skip
    summary = convert_dataset(config, log=None)
    assert summary.failed == [] and summary.counts == {"test": len(clips)}
    import tensorflow as tf

    from keras_ispan.data.clip_reader import parse_clip

    files = sorted(str(p) for p in (tmp_path / "ds").glob("test-*.tfrecord"))
    got = {}
    for record in tf.data.TFRecordDataset(files):
        clip = parse_clip(record)
        got[clip["video_id"].numpy().decode()] = int(tf.shape(clip["frames"])[0])
    for path in clips:
        assert got[path.name] == count_frames(path), path.name
