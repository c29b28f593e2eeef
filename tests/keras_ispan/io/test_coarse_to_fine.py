"""The coarse-to-fine frame orders of anytime inference (`keras_ispan.io.coarse_to_fine`)."""

import itertools

import numpy as np
import pytest

from keras_ispan.io.coarse_to_fine import (
    check_points,
    coarse_to_fine_indices,
    coarse_to_fine_segments,
    coarse_to_fine_steps,
    stream_indices,
)
from keras_ispan.io.video import sample_segment_indices


@pytest.mark.parametrize("num_frames", [8, 9, 16, 37, 100, 301])
def test_step_4_covers_the_tsn_centres_of_8_segments(num_frames):
    order = coarse_to_fine_indices(num_frames, 8)
    steps = coarse_to_fine_steps(len(order))
    assert steps[:4] == [1, 2, 4, 8]  # 1 + 1 + 2 + 4 frames
    assert sorted(order[: steps[3]].tolist()) == sample_segment_indices(num_frames, 8).tolist()


@pytest.mark.parametrize("num_segments", [1, 2, 3, 5, 6, 8, 12, 16, 25, 32])
def test_the_order_is_a_permutation_without_repeats(num_segments):
    order = coarse_to_fine_segments(num_segments)
    assert sorted(order.tolist()) == list(range(num_segments))
    indices = coarse_to_fine_indices(1000, num_segments)
    assert len(set(indices.tolist())) == len(indices) == num_segments
    assert set(indices.tolist()) == set(sample_segment_indices(1000, num_segments).tolist())


def test_the_orders_are_nested_and_the_first_frame_is_the_centre():
    for k in (4, 8, 16, 32):
        order = coarse_to_fine_segments(k).tolist()
        assert order[0] == k // 2  # the centre segment (ties to the later one)
        for size in (1, 2, 4, 8, 16):
            if size > k:
                break
            prefix = sorted(order[:size])  # evenly spread: one segment every k / size
            assert np.all(np.diff(prefix) == k // size)
    # nested across budgets: a prefix is a prefix, whatever the step
    order = coarse_to_fine_indices(250, 16).tolist()
    for size in coarse_to_fine_steps(16):
        assert set(order[:size]) <= set(order)


def test_short_clips_drop_repeated_indices():
    assert coarse_to_fine_indices(3, 5).tolist() == [1, 0, 2]
    assert coarse_to_fine_indices(1, 8).tolist() == [0]
    assert coarse_to_fine_indices(5).tolist() == [2, 0, 3, 1, 4]  # every frame


def test_stream_indices_double_the_horizon():
    got = list(itertools.islice(stream_indices(horizon=4, stride=2), 12))
    assert got == [0, 2, 4, 6, 8, 12, 16, 20, 24, 32, 40, 48]
    assert all(b > a for a, b in itertools.pairwise(got))


def test_check_point_schedules():
    assert coarse_to_fine_steps(8) == [1, 2, 4, 8] == coarse_to_fine_steps(8, "doubling")
    assert coarse_to_fine_steps(1) == [1]
    assert coarse_to_fine_steps(11) == [1, 2, 4, 8, 11]
    assert coarse_to_fine_steps(5, "every_frame") == [1, 2, 3, 4, 5]
    assert coarse_to_fine_steps(8, (2, 3)) == [2, 3, 6, 8]
    assert coarse_to_fine_steps(2, (4,)) == [2]
    assert list(itertools.islice(check_points(), 6)) == [1, 2, 4, 8, 16, 32]
    assert list(itertools.islice(check_points("every_frame"), 4)) == [1, 2, 3, 4]


@pytest.mark.parametrize("schedule", ["levels", (), (2, 2), (0, 1), (1.5,), 4])
def test_bad_check_points_are_refused(schedule):
    with pytest.raises(ValueError, match="Received: check_points="):
        check_points(schedule)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: coarse_to_fine_indices(0, 8), "Received: num_frames=0"),
        (lambda: coarse_to_fine_indices(10, 0), "Received: num_segments=0"),
        (lambda: coarse_to_fine_steps(0), "Received: num_taken=0"),
        (lambda: stream_indices(horizon=0), "Received: horizon=0"),
        (lambda: stream_indices(stride=1.5), "Received: stride=1.5"),
    ],
)
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
