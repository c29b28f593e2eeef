"""Eager equals graph with a dynamic frames axis (STACK.md: TimeDistributed fails exactly here)."""

import keras
import numpy as np
import pytest

from keras_ispan import FrameWise, PyramidAttention
from keras_ispan.models import build_classifier

pytestmark = pytest.mark.tf_only
BATCH = 3


@pytest.fixture(scope="module")
def tf():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function with input_signature is TensorFlow's")
    import tensorflow

    return tensorflow


@pytest.mark.parametrize("frames", [2, BATCH, 5])  # T < batch, T = batch, T > batch
def test_frame_wise_in_graph(tf, frames):
    inner = keras.Sequential([keras.layers.Conv2D(4, 3, strides=2), keras.layers.ReLU()])
    wrapped = FrameWise(inner)
    x = np.random.default_rng(0).normal(size=(BATCH, frames, 9, 9, 3)).astype("float32")
    eager = wrapped(x).numpy()
    graph = tf.function(
        wrapped.call, input_signature=[tf.TensorSpec((None, None, 9, 9, 3), tf.float32)]
    )
    got = graph(x).numpy()
    assert got.shape == (BATCH, frames, 4, 4, 4)
    np.testing.assert_allclose(got, eager, atol=1e-6)
    expected = np.stack([inner(x[:, t]).numpy() for t in range(frames)], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("frames", [2, BATCH, 5])
def test_pyramid_attention_in_graph(tf, frames):
    layer = PyramidAttention(return_attention=True)
    rng = np.random.default_rng(1)
    levels = [
        rng.normal(size=(BATCH, frames, 8, 8, 3)).astype("float32"),
        rng.normal(size=(BATCH, frames, 4, 4, 5)).astype("float32"),
    ]
    eager = [t.numpy() for t in layer(levels)]
    signature = [[tf.TensorSpec((None, None, 8, 8, 3)), tf.TensorSpec((None, None, 4, 4, 5))]]
    graph = tf.function(lambda lv: layer(lv), input_signature=signature)
    for got, want in zip(graph(levels), eager, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)


@pytest.mark.parametrize("frames", [1, BATCH, 6])
def test_whole_classifier_in_graph(tf, frames):
    model = build_classifier(4, image_size=32)
    x = np.random.default_rng(2).integers(0, 255, size=(BATCH, frames, 32, 32, 3)).astype("uint8")
    eager = model(x).numpy()
    graph = tf.function(
        lambda v: model(v, training=False),
        input_signature=[tf.TensorSpec((None, None, 32, 32, 3), tf.uint8)],
    )
    np.testing.assert_allclose(graph(x).numpy(), eager, atol=1e-5)
