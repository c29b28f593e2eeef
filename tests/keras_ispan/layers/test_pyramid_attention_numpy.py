"""PyramidAttention and its losses against the independent NumPy reference (atol 1e-5)."""

import keras
import numpy as np
import pytest

from keras_ispan import AttentionDiversityRegularizer, PCARegularizer, PyramidAttention
from tests.keras_ispan import reference

ATOL = 1e-5  # float32 layer against a float64 reference on values of order 1


def _levels(rng, shapes):
    return [rng.normal(size=s).astype("float32") for s in shapes]


def _randomize(layer, rng):
    """Non-zero biases and level weights so that every term of the forward pass matters."""
    for bias in layer.biases:
        bias.assign(rng.normal(size=bias.shape).astype("float32"))
    if layer.fusion == "weighted":
        layer.level_weights.assign(rng.normal(size=layer.level_weights.shape).astype("float32"))


def _weights(layer):
    kernels = [keras.ops.convert_to_numpy(k) for k in layer.kernels]
    biases = [keras.ops.convert_to_numpy(b) for b in layer.biases]
    level_weights = (
        keras.ops.convert_to_numpy(layer.level_weights) if layer.fusion == "weighted" else None
    )
    return kernels, biases, level_weights


# Level 0 divides the anchor (8 -> 4), level 1 does not (6 -> 4): both pooling paths.
SHAPES = [(2, 3, 8, 8, 5), (2, 3, 6, 6, 4), (2, 3, 4, 4, 6)]


@pytest.mark.parametrize("fusion", ["sum", "mean", "max", "weighted"])
@pytest.mark.parametrize("downsample", ["avg", "max", "bilinear"])
def test_forward_matches_numpy(fusion, downsample):
    rng = np.random.default_rng(1)
    levels = _levels(rng, SHAPES)
    layer = PyramidAttention(downsample=downsample, fusion=fusion, return_attention=True)
    layer.build([x.shape for x in levels])
    _randomize(layer, rng)
    out, saliency = layer(levels)
    kernels, biases, level_weights = _weights(layer)
    ref = reference.forward(
        levels,
        kernels,
        biases,
        downsample_mode=downsample,
        fusion=fusion,
        level_weights=level_weights,
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), ref["output"], atol=ATOL)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(saliency), ref["saliency"], atol=ATOL)


def test_softmax_pooling_matches_numpy():
    rng = np.random.default_rng(6)
    levels = _levels(rng, SHAPES)
    layer = PyramidAttention(pooling="softmax")
    layer.build([x.shape for x in levels])
    _randomize(layer, rng)
    kernels, biases, _ = _weights(layer)
    ref = reference.forward(levels, kernels, biases, pooling="softmax")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(levels)), ref["output"], atol=ATOL)


@pytest.mark.parametrize("bias", ["position", "row", "none"])
def test_bias_readings_match_numpy(bias):
    rng = np.random.default_rng(2)
    levels = _levels(rng, SHAPES[1:])
    layer = PyramidAttention(bias=bias, fusion="max")  # max fusion: the row bias acts too
    layer.build([x.shape for x in levels])
    _randomize(layer, rng)
    kernels, biases, _ = _weights(layer)
    ref = reference.forward(levels, kernels, biases, fusion="max", bias=bias)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(levels)), ref["output"], atol=ATOL)


def test_row_bias_cancels_under_sum_fusion():
    """ISPAN.md step 3: a per-row bias is constant along the softmax axis, so it cancels."""
    rng = np.random.default_rng(3)
    levels = _levels(rng, SHAPES[1:])
    layer = PyramidAttention(bias="row")
    layer.build([x.shape for x in levels])
    before = keras.ops.convert_to_numpy(layer(levels))
    _randomize(layer, rng)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(levels)), before, atol=ATOL)


@pytest.mark.parametrize("normalize_features", [True, False])
def test_losses_match_numpy(normalize_features):
    rng = np.random.default_rng(4)
    levels = _levels(rng, SHAPES)
    layer = PyramidAttention(
        interaction_regularizer=PCARegularizer(0.5, normalize_features=normalize_features),
        diversity_regularizer=AttentionDiversityRegularizer(0.25),
    )
    layer.build([x.shape for x in levels])
    _randomize(layer, rng)
    layer(levels, training=True)
    kernels, biases, _ = _weights(layer)
    ref = reference.forward(levels, kernels, biases)
    expected_pca = 0.5 * reference.interaction_loss(ref["A"], ref["X"], normalize_features)
    expected_div = 0.25 * reference.diversity_loss(ref["a"], ref["level_softmax"])
    losses = [float(keras.ops.convert_to_numpy(v)) for v in layer.losses]
    np.testing.assert_allclose(losses, [expected_pca, expected_div], rtol=1e-4, atol=ATOL)


def test_spatial_rank4_matches_single_frame_reference():
    rng = np.random.default_rng(5)
    levels = _levels(rng, [(2, 8, 8, 3), (2, 4, 4, 5)])
    layer = PyramidAttention(return_attention=True)
    out, saliency = layer(levels)
    kernels, biases, _ = _weights(layer)
    ref = reference.forward([x[:, None] for x in levels], kernels, biases)
    assert tuple(saliency.shape) == (2, 4, 4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), ref["output"], atol=ATOL)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(saliency), ref["saliency"][:, 0], atol=ATOL
    )
