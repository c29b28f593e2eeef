"""Clip records of format version 2 (`frame_index` of JPEG offsets) and their reader: a plain protobuf
reader still sees the frames, `read_clip` cuts exactly the stored JPEG bytes, and version 1 records
(no index, built here by hand) read the same through the full-parse fallback."""

import numpy as np
import tensorflow as tf

from keras_ispan.data import records
from keras_ispan.data.clip_reader import read_clip
from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from tests.keras_ispan.data.helpers import smooth_frames, write_dataset

QUALITIES = (30, 95, 50, 80, 10)  # one per frame: JPEGs of different sizes
PICKS = [4, 0, 2, 2]


def _jpegs(num_frames=5, seed=1):
    frames = smooth_frames(num_frames, 16, 24, seed=seed)
    return [records.encode_jpeg(f, quality=q) for f, q in zip(frames, QUALITIES, strict=True)]


def _v1_record(video_id, labels, jpegs, *, fps, height, width):
    """A format version 1 record: the context without `frame_index`, the `frames` feature list."""
    ex = tf.train.SequenceExample()
    ctx = ex.context.feature
    ctx["video_id"].bytes_list.value.append(video_id.encode())
    ctx["label"].int64_list.value.extend(labels)
    ctx["num_frames"].int64_list.value.append(len(jpegs))
    ctx["fps"].float_list.value.append(fps)
    ctx["height"].int64_list.value.append(height)
    ctx["width"].int64_list.value.append(width)
    for jpeg in jpegs:
        ex.feature_lists.feature_list["frames"].feature.add().bytes_list.value.append(jpeg)
    return ex.SerializeToString()


def _take_eager_and_graph(serialized, indices):
    """`(num_frames, take(indices))` eagerly and inside `Dataset.map`, as numpy."""

    def read(s):
        clip, _ = read_clip(s)
        return clip.num_frames, clip.take(tf.constant(indices, tf.int32))

    eager = read(tf.constant(serialized))
    graph = next(iter(tf.data.Dataset.from_tensors(serialized).map(read)))
    return [(int(n), [bytes(b) for b in frames.numpy()]) for n, frames in (eager, graph)]


def test_frame_index_locates_each_jpeg_in_the_record():
    """Decoded with NumPy, the index points at each frame's exact bytes, in increasing order; the
    `frames` feature list is intact for any protobuf reader."""
    jpegs = _jpegs()
    assert len({len(j) for j in jpegs}) == len(jpegs)  # the sizes differ: offsets are not uniform
    s = records.serialize_clip("v0", [1], jpegs, fps=10.0, height=16, width=24)
    ex = tf.train.SequenceExample.FromString(s)
    raw = ex.context.feature["frame_index"].bytes_list.value[0]
    index = np.frombuffer(raw, "<i8").reshape(-1, 2)
    assert index.shape == (5, 2)
    for (offset, length), jpeg in zip(index, jpegs, strict=True):
        assert length == len(jpeg)
        assert s[offset : offset + length] == jpeg
    assert np.all(np.diff(index[:, 0]) > 0)
    assert list(ex.context.feature["num_frames"].int64_list.value) == [5]
    stored = [f.bytes_list.value[0] for f in ex.feature_lists.feature_list["frames"].feature]
    assert stored == jpegs


def test_read_clip_takes_picked_frames_v2():
    jpegs = _jpegs()
    s = records.serialize_clip("v0", [1], jpegs, fps=10.0, height=16, width=24)
    expected = [jpegs[i] for i in PICKS]
    for num_frames, taken in _take_eager_and_graph(s, PICKS):
        assert num_frames == 5
        assert taken == expected


def test_read_clip_falls_back_for_v1_records():
    """Without `frame_index`, `take` parses the whole record: same frames, same count."""
    jpegs = _jpegs(seed=2)
    s = _v1_record("v0", [1], jpegs, fps=10.0, height=16, width=24)
    assert "frame_index" not in tf.train.SequenceExample.FromString(s).context.feature
    expected = [jpegs[i] for i in PICKS]
    for num_frames, taken in _take_eager_and_graph(s, PICKS):
        assert num_frames == 5
        assert taken == expected


def _write_v1_dataset(folder, clips, classes, split):
    """`write_dataset` (one shard, quality 95, fps 25) with format version 1 records."""
    folder.mkdir(parents=True, exist_ok=True)
    serialized = [
        _v1_record(
            f"clip{i}",
            [int(x) for x in np.atleast_1d(labels)],
            [records.encode_jpeg(f, quality=95) for f in frames],
            fps=25.0,
            height=frames.shape[1],
            width=frames.shape[2],
        )  # fmt: skip
        for i, (frames, labels) in enumerate(clips)
    ]
    records.write_tfrecord_atomic(folder / records.shard_name(split, 0, 1), serialized)
    split_info = {split: {"count": len(clips), "num_shards": 1}}
    records.write_dataset_metadata(
        folder, classes, False, split_info, created_by="test", format_version=1
    )
    return folder


def test_pipeline_same_batches_for_v1_and_v2_datasets(tmp_path):
    """Seeded training and multi-view evaluation batches do not depend on the format version."""
    clips = [(smooth_frames(n, 28, 36, seed=n), [n % 3]) for n in (6, 9, 4, 7, 5)]
    classes = ["a", "b", "c"]
    configs = {
        "train": PipelineConfig(
            num_segments=3, image_size=24, batch_size=4, seed=5, shuffle_buffer=4
        ),
        "test": PipelineConfig(
            num_segments=3, image_size=24, batch_size=4, training=False, crops=3, num_clips=2
        ),
    }
    for split, config in configs.items():
        v2 = write_dataset(tmp_path / f"v2-{split}", clips, classes, split=split)
        v1 = _write_v1_dataset(tmp_path / f"v1-{split}", clips, classes, split)
        batches_v2 = list(make_dataset(v2, split, config))
        batches_v1 = list(make_dataset(v1, split, config))
        assert len(batches_v2) == len(batches_v1) == 2  # 5 clips in batches of 4
        views = (3,) if config.training else (6, 3)
        assert batches_v2[0][0].shape == (4, *views, 24, 24, 3)
        for (x2, y2), (x1, y1) in zip(batches_v2, batches_v1, strict=True):
            np.testing.assert_array_equal(x2.numpy(), x1.numpy())
            np.testing.assert_array_equal(y2.numpy(), y1.numpy())
        labels = np.concatenate([y.numpy() for _, y in batches_v2])
        assert sorted(labels.tolist()) == sorted(n % 3 for n in (6, 9, 4, 7, 5))


def test_actions_stored_and_read():
    jpegs = _jpegs()
    actions = [(1, 0.5, 2.0), (0, 1.0, 3.5)]
    s = records.serialize_clip("v0", [0, 1], jpegs, fps=10.0, height=16, width=24, actions=actions)
    ctx = tf.train.SequenceExample.FromString(s).context.feature
    assert list(ctx["action_labels"].int64_list.value) == [1, 0]
    np.testing.assert_allclose(ctx["action_starts"].float_list.value, [0.5, 1.0], atol=1e-6)
    np.testing.assert_allclose(ctx["action_ends"].float_list.value, [2.0, 3.5], atol=1e-6)
    _, info = read_clip(tf.constant(s))
    assert info["action_labels"].numpy().tolist() == [1, 0]
    assert info["label"].numpy().tolist() == [0, 1]
    assert info["action_starts"].dtype == info["action_ends"].dtype == tf.float32
    np.testing.assert_allclose(info["action_starts"].numpy(), [0.5, 1.0], atol=1e-6)
    np.testing.assert_allclose(info["action_ends"].numpy(), [2.0, 3.5], atol=1e-6)

    plain = records.serialize_clip("v1", [0], jpegs, fps=10.0, height=16, width=24)
    assert "action_labels" not in tf.train.SequenceExample.FromString(plain).context.feature
    _, info = read_clip(tf.constant(plain))
    for key in ("action_labels", "action_starts", "action_ends"):
        assert info[key].shape == (0,)
