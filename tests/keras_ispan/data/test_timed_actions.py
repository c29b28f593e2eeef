"""Timed actions (Charades intervals): stored in the records, turned into clip targets.

A 10-frame clip at 5 fps (frame `i` at `i / 5` s) with actions `0: [0, 0.5]` (frames 0-2),
`1: [1.0, 1.2]` (frames 5-6), `2: [1.75, 3.0]` (frame 9). The expected targets below are worked out by
hand from the TSN indices of `keras_ispan/data/augment.py`'s docstring.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import records
from keras_ispan.data.clip_reader import actions_at, read_clip
from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from tests.keras_ispan.data.helpers import solid_frames

ACTIONS = [(0, 0.0, 0.5), (1, 1.0, 1.2), (2, 1.75, 3.0)]


def _write(folder, split="test"):
    folder.mkdir(parents=True)
    frames = [records.encode_jpeg(f) for f in solid_frames(10, 16, 16)]
    clips = [
        records.serialize_clip(
            "timed", [0, 1, 2], frames, fps=5.0, height=16, width=16, actions=ACTIONS
        ),  # fmt: skip
        records.serialize_clip("untimed", [1], frames, fps=5.0, height=16, width=16),
    ]
    records.write_tfrecord_atomic(folder / records.shard_name(split, 0, 1), clips)
    records.write_dataset_metadata(folder, ["a", "b", "c"], True,
                                   {split: {"count": 2, "num_shards": 1}}, created_by="test")  # fmt: skip
    return folder, clips


@pytest.mark.parametrize(
    "indices, expected",
    [([1, 3, 5, 7, 9], [0, 1, 2]), ([2, 7], [0]), ([1, 5, 8], [0, 1]), ([4, 8], []), ([6], [1])],
)
def test_actions_under_frames(tmp_path, indices, expected):
    _, clips = _write(tmp_path / "ds")
    _, info = read_clip(clips[0])
    got = actions_at(info, tf.constant(indices))
    assert sorted(got.numpy().tolist()) == expected


@pytest.mark.parametrize(
    "segments, source, timed, untimed",
    [
        (5, "frames", [1, 1, 1], [0, 1, 0]),  # centres 1, 3, 5, 7, 9
        (2, "frames", [1, 0, 0], [0, 1, 0]),  # centres 2, 7
        (3, "frames", [1, 1, 0], [0, 1, 0]),  # centres 1, 5, 8
        (2, "video", [1, 1, 1], [0, 1, 0]),
    ],
)
def test_eval_targets(tmp_path, segments, source, timed, untimed):
    folder, _ = _write(tmp_path / "ds")
    config = PipelineConfig(num_segments=segments, image_size=16, batch_size=2, training=False,
                            label_source=source)  # fmt: skip
    _, labels = next(iter(make_dataset(folder, "test", config)))
    np.testing.assert_array_equal(labels.numpy(), np.array([timed, untimed], np.float32))


def test_training_targets_with_one_frame_per_segment(tmp_path):
    """K = T: each segment is one frame, so training samples every frame and sees every action."""
    folder, _ = _write(tmp_path / "ds", split="train")
    config = PipelineConfig(num_segments=10, image_size=16, batch_size=2, seed=3,
                            label_source="frames", flip=False)  # fmt: skip
    _, labels = next(iter(make_dataset(folder, "train", config)))
    assert sorted(map(tuple, labels.numpy().tolist())) == [(0, 1, 0), (1, 1, 1)]


def test_frames_label_source_needs_multi_label(tmp_path):
    folder = tmp_path / "single"
    folder.mkdir()
    frames = [records.encode_jpeg(f) for f in solid_frames(4, 16, 16)]
    clip = records.serialize_clip("x", [0], frames, fps=5.0, height=16, width=16)
    records.write_tfrecord_atomic(folder / records.shard_name("test", 0, 1), [clip])
    records.write_dataset_metadata(folder, ["a", "b"], False, {"test": {"count": 1, "num_shards": 1}},
                                   created_by="test")  # fmt: skip
    config = PipelineConfig(training=False, label_source="frames")
    with pytest.raises(ValueError, match="single-label. Received: label_source='frames'"):
        make_dataset(folder, "test", config)
    with pytest.raises(ValueError, match="Received: label_source='clip'"):
        PipelineConfig(label_source="clip")


def test_charades_conversion_keeps_intervals(tmp_path):
    """`prepare`'s charades layout end to end: real H.264 videos at 5 fps -> records -> targets."""
    from keras_ispan.data.convert import ConvertConfig, convert_dataset
    from tests.keras_ispan.data.helpers import smooth_frames, write_video

    videos, ann = tmp_path / "videos", tmp_path / "ann"
    write_video(videos / "AAAAA.mp4", smooth_frames(10, 32, 32), fps=5)
    write_video(videos / "BBBBB.mp4", smooth_frames(10, 32, 32, seed=1), fps=5)
    ann.mkdir()
    (ann / "Charades_v1_classes.txt").write_text("c000 Sitting\nc001 Standing\nc002 Reading\n")
    header = "id,actions,length\n"
    (ann / "Charades_v1_train.csv").write_text(header + '"AAAAA","c000 0 0.5;c001 1.0 1.2",2\n')
    (ann / "Charades_v1_test.csv").write_text(header + '"BBBBB","c002 1.75 3.0;c000 0 0.5",2\n')
    config = ConvertConfig(videos=videos, output=tmp_path / "ds", layout="charades",
                           annotations=ann, workers=1, short_side=32)  # fmt: skip
    convert_dataset(config, log=None)
    record = next(
        iter(tf.data.TFRecordDataset(str(tmp_path / "ds" / records.shard_name("test", 0, 1))))
    )
    _, info = read_clip(record)
    assert info["action_labels"].numpy().tolist() == [2, 0]
    np.testing.assert_allclose(info["action_starts"].numpy(), [1.75, 0.0])
    np.testing.assert_allclose(info["action_ends"].numpy(), [3.0, 0.5])
    eval_config = dict(image_size=16, batch_size=1, training=False, label_source="frames")
    _, labels = next(iter(make_dataset(tmp_path / "ds", "test",
                                       PipelineConfig(num_segments=2, **eval_config))))  # fmt: skip
    np.testing.assert_array_equal(labels.numpy(), [[1, 0, 0]])  # centres 2, 7: action c000 only


def test_fit_config_reaches_the_pipeline():
    """`--set data.label_source=frames` becomes `PipelineConfig.label_source` for training and eval."""
    from keras_ispan.data.pipeline import DatasetInfo
    from training.config.core import load_config
    from training.data.datasets import pipeline_config

    config = load_config(overrides=["data.label_source=frames"])
    info = DatasetInfo(path=None, classes=("a", "b"), multi_label=True, counts={}, num_shards={},
                       metadata={})  # fmt: skip
    for training in (True, False):
        assert pipeline_config(config, info, training=training).label_source == "frames"
