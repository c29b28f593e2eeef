"""FrameWise: folding frames into the batch, nested outputs, errors, serialisation."""

import keras
import numpy as np
import pytest

from keras_ispan import FrameWise
from tests.keras_ispan.helpers import assert_config_round_trip, to_numpy


def test_matches_a_loop_over_frames():
    conv = keras.layers.Conv2D(2, 3, padding="same")
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6, 3)).astype("float32")
    got = to_numpy(FrameWise(conv)(x))
    expected = np.stack([to_numpy(conv(x[:, t])) for t in range(3)], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_nested_outputs_of_a_multi_output_model():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    b = keras.layers.MaxPooling2D(2)(a)
    wrapped = FrameWise(keras.Model(inputs, [a, b]))
    out = wrapped(np.zeros((2, 5, 8, 8, 3), "float32"))
    assert [tuple(o.shape) for o in out] == [(2, 5, 8, 8, 2), (2, 5, 4, 4, 2)]
    assert wrapped.compute_output_shape((None, None, 8, 8, 3)) == [
        (None, None, 8, 8, 2),
        (None, None, 4, 4, 2),
    ]


def test_errors():
    with pytest.raises(ValueError, match=r"Received: layer=3"):
        FrameWise(3)
    with pytest.raises(ValueError, match=r"`\(batch, frames, \.\.\.\)`.*Received: input_shape"):
        FrameWise(keras.layers.Dense(2)).build((4, 3))


def test_serialisation(tmp_path):
    layer = FrameWise(keras.layers.Conv2D(2, 3, padding="same"), name="fw")
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6, 3)).astype("float32")
    assert_config_round_trip(layer, x, tmp_path)
