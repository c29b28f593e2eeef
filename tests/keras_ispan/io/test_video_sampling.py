"""TSN frame sampling: NumPy (keras_ispan.io.video) against hand-computed values and the in-graph copy."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import augment
from keras_ispan.io.video import sample_clip_indices, sample_segment_indices


@pytest.mark.parametrize(
    "num_frames, k, expected",
    [
        (10, 4, [1, 3, 6, 8]),  # segments [0,2) [2,5) [5,7) [7,10): centres floor((2i+1)*10/8)
        (16, 8, [1, 3, 5, 7, 9, 11, 13, 15]),
        (8, 8, [0, 1, 2, 3, 4, 5, 6, 7]),
        (3, 5, [0, 0, 1, 2, 2]),  # shorter than K: frames repeat
        (1, 3, [0, 0, 0]),
    ],
)
def test_center_indices_hand_computed(num_frames, k, expected):
    assert sample_segment_indices(num_frames, k, mode="center").tolist() == expected


def test_random_indices_stay_in_their_segment():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        idx = sample_segment_indices(10, 4, mode="random", rng=rng)
        # segments of 10 frames in 4: [0,2) [2,5) [5,7) [7,10)
        assert 0 <= idx[0] < 2 and 2 <= idx[1] < 5 and 5 <= idx[2] < 7 and 7 <= idx[3] < 10
        seen.add(tuple(idx.tolist()))
    assert len(seen) > 20  # really random
    # shorter than K: each empty segment takes its start
    assert sample_segment_indices(3, 6, mode="random", rng=0).tolist() == [0, 0, 1, 1, 2, 2]


def test_clip_indices_hand_computed():
    assert sample_clip_indices(16, 2, 2).tolist() == [[2, 10], [6, 14]]
    assert sample_clip_indices(12, 3, 1).tolist() == [sample_segment_indices(12, 3).tolist()]


@pytest.mark.parametrize("bad", [dict(num_frames=0), dict(num_segments=0), dict(mode="middle")])
def test_sampling_argument_errors(bad):
    args = dict(num_frames=5, num_segments=2, mode="center") | bad
    with pytest.raises(ValueError, match="Received: " + next(iter(bad))):
        sample_segment_indices(args["num_frames"], args["num_segments"], mode=args["mode"])


@pytest.mark.parametrize("num_frames", [1, 3, 7, 16, 100])
@pytest.mark.parametrize("num_clips", [1, 2, 5])
def test_in_graph_eval_indices_match_numpy(num_frames, num_clips):
    expected = sample_clip_indices(num_frames, 4, num_clips)
    eager = augment.tsn_clip_indices(num_frames, 4, num_clips).numpy()
    graph = tf.function(lambda n: augment.tsn_clip_indices(n, 4, num_clips))(
        tf.constant(num_frames)
    )
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(graph.numpy(), expected)


def test_in_graph_random_indices_in_segments_and_seeded():
    fn = tf.function(lambda n, s: augment.tsn_random_indices(n, 4, s))
    values = []
    for i in range(50):
        idx = fn(tf.constant(10), tf.constant([i, 1], tf.int64)).numpy()
        assert 0 <= idx[0] < 2 and 2 <= idx[1] < 5 and 5 <= idx[2] < 7 and 7 <= idx[3] < 10
        values.append(tuple(idx))
    assert len(set(values)) > 10
    again = augment.tsn_random_indices(10, 4, tf.constant([3, 1], tf.int64)).numpy()
    np.testing.assert_array_equal(again, values[3])  # stateless: same seed, same indices
    short = augment.tsn_random_indices(3, 6, tf.constant([0, 0], tf.int64)).numpy()
    assert short.tolist() == [0, 0, 1, 1, 2, 2]
