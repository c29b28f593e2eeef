"""`precise_batch_norm`: moving statistics become the training data's measured statistics (NumPy)."""

import keras
import numpy as np
import pytest

from keras_ispan.models import build_classifier, precise_batch_norm

EPS = 1e-3  # BatchNormalization's default epsilon


def _two_layer_model():
    """`x -> BN1 -> Dense(3) -> BN2`, with non-trivial BN1 scale and offset."""
    inputs = keras.Input((4,), name="x")
    h = keras.layers.BatchNormalization(name="bn1")(inputs)
    h = keras.layers.Dense(3, name="dense")(h)
    outputs = keras.layers.BatchNormalization(name="bn2")(h)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    model.get_layer("bn1").gamma.assign(rng.uniform(0.5, 2.0, 4).astype("float32"))
    model.get_layer("bn1").beta.assign(rng.normal(size=4).astype("float32"))
    return model


def _batches():
    rng = np.random.default_rng(0)
    # batches with different means: pooled variance != mean of the batch variances
    return [(rng.normal(3.0 * b, 1.0 + b, (5, 4)).astype("float32"), None) for b in range(3)]


def test_moving_statistics_equal_the_numpy_population_statistics():
    model = _two_layer_model()
    batches = _batches()
    assert precise_batch_norm(model, batches) == 2
    x = np.concatenate([b for b, _ in batches]).astype(np.float64)
    bn1, bn2 = model.get_layer("bn1"), model.get_layer("bn2")
    np.testing.assert_allclose(bn1.moving_mean.numpy(), x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance.numpy(), x.var(0), rtol=1e-5)
    # BN2's input in training mode: each batch normalised by its own statistics, then the dense layer
    kernel, bias = (w.numpy().astype(np.float64) for w in model.get_layer("dense").weights)
    gamma, beta = bn1.gamma.numpy(), bn1.beta.numpy()
    z = np.concatenate(
        [
            (gamma * (b - b.mean(0)) / np.sqrt(b.var(0) + EPS) + beta) @ kernel + bias
            for b, _ in batches
        ]
    )
    np.testing.assert_allclose(bn2.moving_mean.numpy(), z.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), z.var(0), rtol=1e-4)
    # the pooled variance, not the mean of the batch variances
    assert not np.allclose(bn1.moving_variance.numpy(), np.mean([b.var(0) for b, _ in batches], 0))


def test_num_batches_and_frozen_layers():
    model = _two_layer_model()
    model.get_layer("bn2").trainable = False  # frozen (partial / frozen BN): left as it is
    batches = _batches()
    assert precise_batch_norm(model, batches, num_batches=1) == 1
    first = batches[0][0].astype(np.float64)
    np.testing.assert_allclose(
        model.get_layer("bn1").moving_variance.numpy(), first.var(0), rtol=1e-5
    )
    np.testing.assert_array_equal(model.get_layer("bn2").moving_mean.numpy(), np.zeros(3))
    with pytest.raises(ValueError, match="num_batches=0"):
        precise_batch_norm(model, batches, num_batches=0)
    with pytest.raises(ValueError, match="empty dataset"):
        precise_batch_norm(model, [])


def test_classifier_first_layer_statistics_over_folded_frames():
    """On a classifier, the first BN layer sees every frame of every clip (frames folded into the
    batch) after the model's preprocessing: its statistics are those of the first convolution's
    outputs over all frames, measured with NumPy."""
    model = build_classifier(3, image_size=32)
    clips = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32, 3)).astype("uint8")
    precise_batch_norm(model, [(clips[:2], None), (clips[2:], None)])
    pixels = clips.reshape(-1, 32, 32, 3).astype("float32") / 255.0  # small_cnn's "unit" mode
    conv = model.get_layer("backbone").layer.get_layer("block1_conv")
    features = keras.ops.convert_to_numpy(conv(pixels)).astype(np.float64).reshape(-1, 16)
    bn = model.get_layer("backbone").layer.get_layer("block1_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), features.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), features.var(0), rtol=1e-4, atol=1e-7)
