"""`RandomClipFlip`: whole clips flipped (checked with NumPy), about half of them, none at inference, in
graph mode with dynamic shapes, reproducible from its seed, serialisable, and clear argument errors."""

import keras
import numpy as np
import pytest

from keras_ispan.layers import RandomClipFlip
from tests.keras_ispan.helpers import assert_config_round_trip, to_numpy

CLIPS = np.random.default_rng(0).integers(0, 256, size=(40, 2, 3, 5, 3)).astype("float32")


def _flipped(out, clips):
    """Per clip: True if mirrored along the width, False if unchanged (fails on anything else)."""
    flags = []
    for got, clip in zip(out, clips, strict=True):
        same, mirrored = np.array_equal(got, clip), np.array_equal(got, clip[:, :, ::-1])
        assert same != mirrored, "a clip is neither itself nor its mirror image"
        flags.append(mirrored)
    return np.array(flags)


def test_flips_whole_clips_about_half_in_training_only():
    layer = RandomClipFlip(seed=1)
    flags = _flipped(to_numpy(layer(CLIPS, training=True)), CLIPS)
    assert 8 <= flags.sum() <= 32  # 40 fair draws
    np.testing.assert_array_equal(to_numpy(layer(CLIPS)), CLIPS)
    np.testing.assert_array_equal(to_numpy(layer(CLIPS, training=False)), CLIPS)
    again = RandomClipFlip(seed=1)(CLIPS, training=True)
    np.testing.assert_array_equal(_flipped(to_numpy(again), CLIPS), flags)  # same seed, same flips


@pytest.mark.tf_only
def test_graph_mode_with_dynamic_shapes():
    import tensorflow as tf

    layer = RandomClipFlip(seed=2)
    fn = tf.function(
        lambda x: layer(x, training=True),
        input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)],
    )
    for frames in (1, 4):
        clips = CLIPS[:6, :1].repeat(frames, axis=1)
        _flipped(fn(clips).numpy(), clips)


def test_serialisation_and_shape(tmp_path):
    layer = RandomClipFlip(seed=3)
    assert keras.saving.get_registered_name(RandomClipFlip) == "keras_ispan>RandomClipFlip"
    assert_config_round_trip(
        layer, CLIPS[:2], tmp_path
    )  # inference: the identity, before and after
    assert layer.compute_output_shape((None, 4, 8, 8, 3)) == (None, 4, 8, 8, 3)


@pytest.mark.parametrize("seed", ["a", 1.5, True])
def test_argument_errors(seed):
    with pytest.raises(ValueError, match="Received: seed="):
        RandomClipFlip(seed=seed)
    with pytest.raises(ValueError, match="Received: input_shape="):
        RandomClipFlip()(np.zeros((2, 4, 4, 3), "float32"))
