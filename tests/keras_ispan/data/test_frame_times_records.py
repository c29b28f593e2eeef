"""Frame times in datasets (issue 13, kind 1, timing; format version 3).

`prepare` stores each clip's real frame timestamps (`frame_times`), and `label_source="frames"` places
the sampled frames at those times (clip by clip and in the training group plan); records without
them (format versions 1 and 2) still place frame `i` at `i / fps`.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import records
from keras_ispan.data.batch_plan import group_targets
from keras_ispan.data.clip_reader import CONTEXT_FEATURES, actions_at, read_clip
from tests.keras_ispan.data.helpers import solid_frames
from tests.keras_ispan.io.test_video_timestamps import TIMES, _write_vfr

ACTIONS = [(0, 0.0, 0.5), (1, 1.0, 1.2), (2, 1.75, 3.0)]
FPS = 5.0  # the average rate: frame i at i / 5 s without timestamps
STORED = TIMES[:10]  # frame 4 at 0.5 s, 7 at 1.0 s, 8 at 1.9 s (0.8, 1.4, 1.6 s by index)


def _clips():
    frames = [records.encode_jpeg(f) for f in solid_frames(10, 16, 16)]
    common = dict(fps=FPS, height=16, width=16, actions=ACTIONS)
    return [
        records.serialize_clip("timed", [0, 1, 2], frames, frame_times=STORED, **common),
        records.serialize_clip("by_index", [0, 1, 2], frames, **common),  # a version 2 record
    ]


@pytest.mark.parametrize("index, with_times, by_index", [(4, [0], []), (7, [1], []), (8, [2], [])])
def test_actions_at_use_the_stored_times(index, with_times, by_index):
    timed, old = _clips()
    _, info = read_clip(timed)
    np.testing.assert_allclose(info["frame_times"].numpy(), STORED, atol=1e-6)
    assert actions_at(info, tf.constant([index])).numpy().tolist() == with_times
    _, info = read_clip(old)
    assert info["frame_times"].numpy().size == 0
    assert actions_at(info, tf.constant([index])).numpy().tolist() == by_index


def test_group_targets_use_the_stored_times():
    context, _, _ = tf.io.parse_sequence_example(
        tf.constant(_clips()), context_features=CONTEXT_FEATURES
    )
    for index, expected in ((4, [1, 0, 0]), (7, [0, 1, 0]), (8, [0, 0, 1])):
        indices = tf.constant([[index], [index]], tf.int32)
        target = group_targets(context, indices, 3, True, "frames").numpy()
        np.testing.assert_array_equal(target, [expected, [0, 0, 0]])  # by index: no action


def test_serialize_clip_checks_the_times():
    frames = [records.encode_jpeg(f) for f in solid_frames(3, 8, 8)]
    with pytest.raises(ValueError, match="Received: frame_times of length 2"):
        records.serialize_clip("x", [0], frames, fps=5.0, height=8, width=8, frame_times=[0, 1])
    record = records.serialize_clip(
        "x", [0], frames, fps=5.0, height=8, width=8, frame_times=[0.0, None, 0.4]
    )  # a frame without a timestamp: none stored
    assert read_clip(record)[1]["frame_times"].numpy().size == 0


def test_prepare_stores_the_frame_timestamps(tmp_path):
    from keras_ispan.data.convert import ConvertConfig, convert_dataset

    (tmp_path / "videos" / "a").mkdir(parents=True)
    _write_vfr(tmp_path / "videos" / "a" / "vfr.mp4")
    config = ConvertConfig(videos=tmp_path / "videos", output=tmp_path / "ds", short_side=None,
                           test_fraction=0.0, workers=1)  # fmt: skip
    convert_dataset(config, log=None)
    (shard,) = (tmp_path / "ds").glob("train-*.tfrecord")
    record = next(iter(tf.data.TFRecordDataset(str(shard))))
    _, info = read_clip(record)
    np.testing.assert_allclose(info["frame_times"].numpy(), TIMES, atol=1e-6)
