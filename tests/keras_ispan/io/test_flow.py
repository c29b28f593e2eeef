"""keras_ispan.io.flow: Farneback on known motions, TSN quantisation, the flip rule, flow stacks."""

import numpy as np
import pytest

from keras_ispan.io import flow as flow_io
from keras_ispan.io.flow import (
    FLOW_BOUND,
    clip_flow,
    compute_flow,
    dequantize_flow,
    flip_flow_x,
    flow_stack_indices,
    quantize_flow,
    stack_flow,
)


def texture(size=96, seed=0):
    """A smooth random texture (blurred noise, contrast stretched), uint8 RGB."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return np.clip((smooth - smooth.mean()) * 4 + 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dx, dy", [(3, -2), (-1, 0), (0, 4)])
def test_farneback_recovers_a_translation(dx, dy):
    base = texture()
    moved = np.roll(base, (dy, dx), axis=(0, 1))  # content moves dx right, dy down
    flow = compute_flow(base, moved)
    assert flow.shape == (96, 96, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16]  # away from the wrapped border
    assert np.median(inner[..., 0]) == pytest.approx(dx, abs=0.1)
    assert np.median(inner[..., 1]) == pytest.approx(dy, abs=0.1)
    assert np.mean(np.abs(inner - [dx, dy])) < 0.1


def test_no_motion_is_zero_and_stored_as_128():
    base = texture()
    flow = compute_flow(base, base)
    assert np.abs(flow).max() < 0.2 and np.abs(flow).mean() < 0.01  # Farneback's residual
    # 0 px is 127.5, on a rounding boundary: exact zeros store 128, tiny negatives 127
    assert set(np.unique(quantize_flow(flow)).tolist()) <= {127, 128}
    assert (quantize_flow(np.zeros((4, 4, 2))) == 128).all()


def test_quantisation_round_trip_inside_the_bound():
    values = np.linspace(-FLOW_BOUND, FLOW_BOUND, 10001, dtype=np.float32)
    q = quantize_flow(values)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    error = np.abs(dequantize_flow(q) - values)
    assert error.max() <= FLOW_BOUND / 255 + 1e-5  # half a step of 2 * bound / 255
    assert error.max() > 0.9 * FLOW_BOUND / 255  # the bound is tight (the values span every step)
    # hand-computed: TSN's linear map of [-20, 20] to [0, 255]
    assert quantize_flow(np.float32([-20, -10, 0, 10, 20])).tolist() == [0, 64, 128, 191, 255]


def test_quantisation_clips_outside_the_bound():
    q = quantize_flow(np.float32([-1000, -20.5, 20.5, 1e6]), bound=20.0)
    assert q.tolist() == [0, 0, 255, 255]
    assert dequantize_flow(q).tolist() == [-20.0, -20.0, 20.0, 20.0]
    q5 = quantize_flow(np.float32([-5.0, 0.0, 6.0]), bound=5.0)  # another bound
    assert q5.tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="Received: bound=0"):
        quantize_flow(np.zeros(2), bound=0)


def test_flip_rule_negates_the_dequantised_x_flow_exactly():
    q = np.arange(256, dtype=np.uint8)
    assert np.array_equal(dequantize_flow(flip_flow_x(q)), -dequantize_flow(q))
    # against NumPy: mirroring a field negates its x component; quantising commutes up to one step
    rng = np.random.default_rng(1)
    field = rng.uniform(-25, 25, (8, 10, 2)).astype(np.float32)
    mirrored = field[:, ::-1] * np.float32([-1, 1])
    flipped = quantize_flow(field)[:, ::-1].copy()
    flipped[..., 0] = flip_flow_x(flipped[..., 0])
    assert np.abs(flipped.astype(int) - quantize_flow(mirrored).astype(int)).max() <= 1


def test_a_mirrored_video_has_negated_x_flow():
    base = texture(seed=2)
    moved = np.roll(base, (0, 3), axis=(0, 1))
    flow = compute_flow(base, moved)
    mirrored = compute_flow(base[:, ::-1].copy(), moved[:, ::-1].copy())
    inner = (slice(16, -16), slice(16, -16))
    assert np.median(mirrored[inner][..., 0]) == pytest.approx(-3, abs=0.1)
    assert np.median(flow[inner][..., 0]) == pytest.approx(3, abs=0.1)


def test_clip_flow_steps_and_a_single_frame():
    base = texture(64)
    frames = np.stack([np.roll(base, 2 * t, axis=1) for t in range(4)])
    q = clip_flow(frames)
    assert q.shape == (3, 64, 64, 2) and q.dtype == np.uint8
    for t in range(3):
        assert np.array_equal(q[t], quantize_flow(compute_flow(frames[t], frames[t + 1])))
    assert np.median(dequantize_flow(q[:, 16:-16, 16:-16, 0])) == pytest.approx(2, abs=0.1)
    single = clip_flow(frames[:1])
    assert single.shape == (1, 64, 64, 2) and (single == 128).all()


def test_stack_indices_clamp_at_the_end():
    # 10 frames -> 9 steps (0..8); hand-computed
    assert flow_stack_indices(10, 0, 5).tolist() == [0, 1, 2, 3, 4]
    assert flow_stack_indices(10, 6, 5).tolist() == [6, 7, 8, 8, 8]
    assert flow_stack_indices(10, np.array([[9], [2]]), 3).tolist() == [[[8, 8, 8]], [[2, 3, 4]]]
    assert flow_stack_indices(1, 0, 3).tolist() == [0, 0, 0]  # one frame: one step
    with pytest.raises(ValueError, match="Received: length=0"):
        flow_stack_indices(10, 0, 0)


def test_stack_flow_interleaves_x_and_y():
    steps = np.zeros((4, 2, 3, 2), np.uint8)
    steps[..., 0] = np.arange(4)[:, None, None] * 10  # x of step s: 10 s
    steps[..., 1] = np.arange(4)[:, None, None] * 10 + 1  # y of step s: 10 s + 1
    stacked = stack_flow(steps, np.array([[1, 2, 3], [3, 3, 3]]))
    assert stacked.shape == (2, 2, 3, 6)
    assert stacked[0, 0, 0].tolist() == [10, 11, 20, 21, 30, 31]
    assert stacked[1, 1, 2].tolist() == [30, 31] * 3


def test_bad_inputs_name_the_argument():
    base = texture(32)
    with pytest.raises(ValueError, match="Received: method='lk'"):
        compute_flow(base, base, method="lk")
    with pytest.raises(ValueError, match="prev_rgb.*float32"):
        compute_flow(base.astype(np.float32), base)
    with pytest.raises(ValueError, match="same size"):
        compute_flow(base, base[:16])


def test_tvl1_without_contrib_is_a_clear_error(monkeypatch):
    import cv2

    if hasattr(cv2, "optflow"):  # the contrib wheel: hide its module for this test
        monkeypatch.delattr(cv2, "optflow")
    with pytest.raises(ValueError, match=r"--flow-method tvl1.*opencv-contrib-python-headless"):
        compute_flow(texture(32), texture(32), method="tvl1")
    with pytest.raises(ValueError, match="Received: method='tvl1'"):
        flow_io.check_method("tvl1")


def test_flow_stacks_compute_only_what_they_use_and_equal_the_whole_clip():
    base = texture(40)
    frames = np.stack([np.roll(base, (t % 3, 2 * t), axis=(0, 1)) for t in range(7)])
    starts = np.array([0, 3, 5])
    expected = stack_flow(clip_flow(frames), flow_stack_indices(7, starts, 3))
    got = flow_io.flow_stacks(frames, starts, 3)
    assert got.shape == (3, 40, 40, 6) and np.array_equal(got, expected)
    assert flow_io.flow_stacks(frames[:1], np.array([0]), 2).shape == (1, 40, 40, 4)
