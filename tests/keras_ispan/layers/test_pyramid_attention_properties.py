"""Properties ISPAN.md states, argument errors, shapes, losses only in training, serialisation."""

import keras
import numpy as np
import pytest

from keras_ispan import AttentionDiversityRegularizer, PCARegularizer, PyramidAttention
from tests.keras_ispan.helpers import assert_config_round_trip, to_numpy


def _pyramid(rng, batch=2, frames=4):
    return [
        rng.normal(size=(batch, frames, 8, 8, 3)).astype("float32"),
        rng.normal(size=(batch, frames, 4, 4, 5)).astype("float32"),
    ]


def _layer(**kwargs):
    return PyramidAttention(
        interaction_regularizer=PCARegularizer(1e-2),
        diversity_regularizer=AttentionDiversityRegularizer(1e-2),
        return_attention=True,
        **kwargs,
    )


def test_output_is_invariant_to_frame_order():
    rng = np.random.default_rng(0)
    levels = _pyramid(rng, frames=5)
    layer = _layer()
    out, saliency = layer(levels)
    order = rng.permutation(5)
    out_shuffled, saliency_shuffled = layer([x[:, order] for x in levels])
    np.testing.assert_allclose(to_numpy(out_shuffled), to_numpy(out), atol=1e-5)
    np.testing.assert_allclose(to_numpy(saliency_shuffled), to_numpy(saliency)[:, order], atol=1e-6)


def test_saliency_sums_to_one_over_frames_and_positions():
    layer = _layer()
    _, saliency = layer(_pyramid(np.random.default_rng(1), frames=3))
    sums = to_numpy(saliency).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums, np.ones(2), atol=1e-5)


def test_same_weights_serve_any_number_of_frames():
    rng = np.random.default_rng(2)
    layer = _layer()
    layer(_pyramid(rng, frames=1))
    count = layer.count_params()
    for frames in (1, 3, 8, 25):
        out, saliency = layer(_pyramid(rng, frames=frames))
        assert tuple(out.shape) == (2, 4, 4, 5)
        assert tuple(saliency.shape) == (2, frames, 4, 4)
    assert layer.count_params() == count == 3 * 16 + 5 * 16 + 2 * 16


def test_one_frame_repeated_equals_the_spatial_layer():
    """T copies of one frame attend like one frame: softmax mass is split evenly over copies."""
    rng = np.random.default_rng(3)
    levels = _pyramid(rng, frames=1)
    layer = _layer()
    single = to_numpy(layer(levels)[0])
    repeated = to_numpy(layer([np.repeat(x, 4, axis=1) for x in levels])[0])
    np.testing.assert_allclose(repeated, single * 2.0, rtol=1e-5)  # ||a||_2 shrinks by sqrt(4)


def test_softmax_pooling_is_invariant_to_repeated_frames_and_starts_as_the_mean():
    rng = np.random.default_rng(7)
    levels = _pyramid(rng, frames=1)
    layer = _layer(pooling="softmax", kernel_initializer="zeros")  # uniform attention
    single = to_numpy(layer(levels)[0])
    repeated = to_numpy(layer([np.repeat(x, 4, axis=1) for x in levels])[0])
    np.testing.assert_allclose(repeated, single, rtol=1e-5)
    mean = levels[-1].mean(axis=(1, 2, 3))  # every row pools the mean feature of the clip
    np.testing.assert_allclose(
        single, np.broadcast_to(mean[:, None, None], single.shape), rtol=1e-5
    )


def test_losses_added_once_and_only_in_training():
    layer = _layer()
    levels = _pyramid(np.random.default_rng(4))
    layer(levels, training=False)
    assert layer.losses == []
    layer(levels, training=True)
    assert len(layer.losses) == 2
    layer(levels, training=True)
    assert len(layer.losses) == 2  # replaced on each call, never accumulated
    layer(levels)
    assert layer.losses == []


def test_compute_output_shape_with_dynamic_batch_and_frames():
    layer = _layer()
    shapes = [(None, None, 8, 8, 3), (None, None, 4, 4, 5)]
    assert layer.compute_output_shape(shapes) == ((None, 4, 4, 5), (None, None, 4, 4))
    inputs = [keras.Input(s[1:]) for s in shapes]
    out, saliency = layer(inputs)
    assert tuple(out.shape) == (None, 4, 4, 5) and tuple(saliency.shape) == (None, None, 4, 4)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"downsample": "area"}, r"`downsample` must be one of .*Received: downsample='area'"),
        ({"fusion": "concat"}, r"`fusion` must be one of .*Received: fusion='concat'"),
        ({"bias": "frame"}, r"`bias` must be one of .*Received: bias='frame'"),
        ({"pooling": "mean"}, r"`pooling` must be one of .*Received: pooling='mean'"),
        ({"return_attention": 1}, r"Received: return_attention=1"),
        ({"interaction_regularizer": 0.1}, r"Received: identifier=0.1"),
    ],
)
def test_argument_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        PyramidAttention(**kwargs)


@pytest.mark.parametrize(
    ("shapes", "pattern"),
    [
        ([], r"at least one feature map"),
        ([(2, 8, 8, 3), (2, 1, 4, 4, 5)], r"same rank"),
        ([(2, 8, 8, 8, 3, 1)], r"same rank"),
        ([(2, 3, 8, 8, 3), (2, 4, 4, 4, 5)], r"same number of frames.*Received: frames=\[3, 4\]"),
        ([(2, 2, 2, 3), (2, 4, 4, 5)], r"Level 0 is smaller than the anchor"),
        ([(2, None, 4, 5)], r"static height, width and channels"),
    ],
)
def test_shape_errors(shapes, pattern):
    with pytest.raises(ValueError, match=pattern):
        PyramidAttention().build(shapes)


def test_regularizer_argument_errors():
    with pytest.raises(ValueError, match=r"non-negative number. Received: weight=-1"):
        PCARegularizer(-1)
    with pytest.raises(ValueError, match=r"Received: normalize_features='yes'"):
        PCARegularizer(normalize_features="yes")
    with pytest.raises(ValueError, match=r"Received: weight=True"):
        AttentionDiversityRegularizer(True)


@pytest.mark.parametrize("fusion", ["sum", "weighted"])
def test_config_round_trip_and_keras_file(tmp_path, fusion):
    levels = _pyramid(np.random.default_rng(5))
    layer = _layer(fusion=fusion, bias="row", downsample="max", pooling="softmax")
    assert_config_round_trip(layer, levels, tmp_path)


def test_gradients_reach_every_weight():
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient tape is TensorFlow's; the JAX run covers the forward pass")
    layer = _layer(fusion="weighted")
    levels = _pyramid(np.random.default_rng(6))
    layer(levels)
    with tf.GradientTape() as tape:
        out, _ = layer(levels, training=True)
        loss = tf.reduce_sum(out**2) + tf.add_n(layer.losses)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(grads) == len(layer.trainable_weights) == 5
    for weight, grad in zip(layer.trainable_weights, grads, strict=True):
        assert grad is not None and np.abs(grad.numpy()).max() > 0, weight.path
