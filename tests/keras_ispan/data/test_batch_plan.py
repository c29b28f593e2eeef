"""`keras_ispan/data/batch_plan.py` and the group forms of `augment`'s TSN functions: TSN indices against hand-computed segments, crop windows against the TSN
size set worked out by hand, group targets against `clip_reader.clip_target` clip by clip, the frames'
bytes against the JPEGs the test encoded (both readers, records with and without a frame index), and
`plan_group` eagerly and inside `Dataset.map`."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import records, shard_index
from keras_ispan.data.augment import crop_windows, tsn_random_indices
from keras_ispan.data.batch_plan import group_frames, group_targets, parse_group, plan_group
from keras_ispan.data.clip_reader import clip_target, read_clip
from tests.keras_ispan.data.test_shard_index import _shard_of_clips

SCALES = (1.0, 0.875, 0.75, 0.66)


def test_tsn_indices_fall_in_hand_computed_segments():
    """N=10, K=4: segments [0,2) [2,5) [5,7) [7,10); N=3, K=5 (shorter than K): every segment is
    empty or one frame long, so the indices are the starts 0,0,1,1,2; N=8, K=8: every frame."""
    segments = [(0, 2), (2, 5), (5, 7), (7, 10)]
    seen = [set() for _ in segments]
    for step in range(60):
        indices = tsn_random_indices(tf.constant([10, 3, 8, 10]), 4, tf.constant([step, 7])).numpy()
        assert indices.shape == (4, 4) and indices.dtype == np.int32
        for k, (lo, hi) in enumerate(segments):
            assert lo <= indices[0, k] < hi and lo <= indices[3, k] < hi
            seen[k].add(int(indices[0, k]))
    assert [len(s) for s in seen] == [2, 3, 2, 3]  # every frame of every segment gets drawn
    short = tsn_random_indices(tf.constant([3]), 5, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(short, [[0, 0, 1, 1, 2]])
    full = tsn_random_indices(tf.constant([8]), 8, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(full, [np.arange(8)])


# TSN crop sides of a 40-pixel short side: int(40 * s) for s in SCALES, worked out by hand
SIDES_40 = [40, 35, 30, 26]
ALLOWED_40 = {(SIDES_40[i], SIDES_40[j]) for i in range(4) for j in range(4) if abs(i - j) <= 1}


def test_windows_are_tsn_corner_and_centre_crops():
    heights, widths = tf.constant([40, 40, 56, 40]), tf.constant([56, 40, 40, 64])
    positions, sizes = set(), set()
    for step in range(80):
        seeds = tf.constant([[step, 1], [step, 2]])
        windows, _ = crop_windows(heights, widths, SCALES, 1, seeds, size_per_group=False)
        for (y, x, h, w), height, width in zip(windows.numpy(), [40, 40, 56, 40], [56, 40, 40, 64]):
            assert (h, w) in ALLOWED_40
            dy, dx = height - h, width - w
            assert (y, x) in {(0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2)}
            positions.add((y == 0, x == 0, y == dy, x == dx))
            sizes.add((h, w))
    assert sizes == ALLOWED_40 and len(positions) >= 5
    group, _ = crop_windows(heights, widths, SCALES, 1, tf.constant([[5, 1], [5, 2]]), True)
    assert len({(h, w) for _, _, h, w in group.numpy()}) == 1  # one size for the whole group


def _context_records(rng, count):
    """Serialized records with random labels and timed actions (some clips without any)."""
    out = []
    for i in range(count):
        ex = tf.train.SequenceExample()
        ctx = ex.context.feature
        ctx["label"].int64_list.value.extend(rng.choice(5, size=rng.integers(1, 3), replace=False))
        ctx["fps"].float_list.value.append(float(rng.choice([4.0, 10.0])))
        ctx["num_frames"].int64_list.value.append(20)
        for _ in range(rng.integers(0, 4) if i % 3 else 0):
            start = float(rng.uniform(0, 3))
            ctx["action_labels"].int64_list.value.append(int(rng.integers(0, 5)))
            ctx["action_starts"].float_list.value.append(start)
            ctx["action_ends"].float_list.value.append(start + float(rng.uniform(0, 2)))
        out.append(ex.SerializeToString())
    return tf.constant(out)


@pytest.mark.parametrize(
    "multi_label, source", [(False, "video"), (True, "video"), (True, "frames")]
)
def test_group_targets_equal_clip_by_clip_targets(multi_label, source):
    rng = np.random.default_rng(0)
    serialized = _context_records(rng, 9)
    indices = tf.constant(rng.integers(0, 20, size=(9, 4)), tf.int32)
    got = group_targets(parse_group(serialized), indices, 5, multi_label, source).numpy()
    for r in range(9):
        _, info = read_clip(serialized[r])
        want = clip_target(info, indices[r], 5, multi_label, source).numpy()
        np.testing.assert_array_equal(got[r], want)


@pytest.mark.parametrize("version", [2, 1])
def test_group_frames_are_the_encoded_jpegs(tmp_path, version):
    """Both readers give the exact JPEG bytes of the sampled frames; records without a frame index
    (version 1) are parsed whole; the index of a version 1 shard locates them as well."""
    shard = tmp_path / records.shard_name("train", 0, 1)
    clips = _shard_of_clips(shard, version)
    shard_index.write_index(shard)
    serialized = tf.constant(list(tf.data.TFRecordDataset(str(shard)).as_numpy_iterator()))
    indexed = tf.constant(
        list(tf.data.TFRecordDataset(str(shard_index.index_path(shard))).as_numpy_iterator())
    )
    indices = tf.constant([[0, 2, 1], [3, 0, 3], [4, 4, 0], [5, 1, 2]], tf.int32)
    from_records = group_frames(serialized, parse_group(serialized), indices).numpy()
    shards = tf.fill([4], str(shard))
    from_index = group_frames(indexed, parse_group(indexed, indexed=True), indices, shards).numpy()
    for r, (_, jpegs) in enumerate(clips.values()):
        want = [jpegs[i] for i in indices[r].numpy()]
        assert [bytes(b) for b in from_records[r]] == want
        assert [bytes(b) for b in from_index[r]] == want


def test_plan_group_eager_equals_dataset_map(tmp_path):
    shard = tmp_path / records.shard_name("train", 0, 1)
    _shard_of_clips(shard)
    serialized = tf.constant(list(tf.data.TFRecordDataset(str(shard)).as_numpy_iterator()))
    kw = dict(num_segments=3, image_size=16, scales=SCALES, max_distort=1, flip=True,
              crop_base=None, num_classes=3, multi_label=True, label_source="video")  # fmt: skip
    seed = tf.constant([4, 2], tf.int64)
    eager = plan_group(serialized, seed, **kw)
    graph = next(iter(tf.data.Dataset.from_tensors((serialized, seed)).map(
        lambda s, e: plan_group(s, e, **kw))))  # fmt: skip
    for key in ("frames", "window", "out_size", "flip", "target"):
        np.testing.assert_array_equal(eager[key].numpy(), graph[key].numpy())
    np.testing.assert_array_equal(eager["out_size"].numpy(), np.full((4, 2), 16))
    np.testing.assert_array_equal(
        eager["target"].numpy()[:, 2], np.ones(4)
    )  # every clip has class 2
