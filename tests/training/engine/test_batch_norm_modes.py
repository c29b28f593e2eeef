"""Partial and frozen batch norm leave the right layers untouched by a training step; the
`train.precise_bn` callback re-estimates statistics before validation."""

import keras
import numpy as np
import pytest

from keras_ispan.models import batch_norm_layers, build_classifier
from training.config.core import apply_overrides, preset
from training.engine.optim import SparseCrossEntropy, freeze_layers


def _state(layer):
    return [
        w.numpy().copy()
        for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
    ]


def _train_step(override):
    keras.utils.set_random_seed(0)
    model = build_classifier(3, image_size=32, dropout=0.0)
    freeze_layers(model, apply_overrides(preset("synthetic"), [override]).model)
    _, norms = batch_norm_layers(model)
    convs = [model.get_layer("backbone").layer.get_layer(f"block{i}_conv") for i in (1, 2, 3, 4)]
    before = [_state(layer) for layer in norms], [c.kernel.numpy().copy() for c in convs]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=SparseCrossEntropy())
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 32, 3)).astype("uint8")
    model.train_on_batch(clips, np.array([0, 2]))
    after = [_state(layer) for layer in norms], [c.kernel.numpy() for c in convs]
    changed = [
        [not np.array_equal(a, b) for a, b in zip(x, y)] for x, y in zip(before[0], after[0])
    ]
    kernels = [not np.array_equal(a, b) for a, b in zip(before[1], after[1])]
    return changed, kernels


def test_partial_bn_updates_only_the_first_layer():
    changed, kernels = _train_step("model.partial_bn=true")
    assert changed[0] == [True, True, True, True]  # gamma, beta, moving mean, moving variance
    assert all(c == [False] * 4 for c in changed[1:])
    assert all(kernels)  # the convolutions still train


def test_frozen_bn_updates_no_layer_and_the_default_updates_all():
    changed, kernels = _train_step("model.frozen_bn=true")
    assert all(c == [False] * 4 for c in changed) and all(kernels)
    changed, kernels = _train_step("model.partial_bn=false")
    assert all(c == [True] * 4 for c in changed) and all(kernels)


def test_partial_and_frozen_bn_exclude_each_other():
    with pytest.raises(ValueError, match="model.partial_bn=True, model.frozen_bn=True"):
        apply_overrides(preset("synthetic"), ["model.partial_bn=true", "model.frozen_bn=true"])


def test_precise_bn_callback_runs_before_validation_and_checkpoint():
    """Before validation (and at the end of an epoch without one), the statistics are re-estimated."""
    from training.engine.batch_norm import PreciseBatchNorm

    keras.utils.set_random_seed(0)
    model = build_classifier(3, image_size=32, dropout=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=SparseCrossEntropy())
    clips = np.random.default_rng(0).integers(0, 256, (4, 4, 32, 32, 3)).astype("uint8")
    labels = np.array([0, 1, 2, 0])
    seen = []

    class Probe(keras.callbacks.Callback):  # what the validation pass sees
        def on_test_begin(self, logs=None):
            seen.append(batch_norm_layers(model)[1][0].moving_mean.numpy().copy())

    bn = batch_norm_layers(model)[1][0]
    callback = PreciseBatchNorm(model, lambda: [(clips, labels)], num_batches=1)
    model.fit(clips, labels, batch_size=2, epochs=1, validation_data=(clips, labels),
              callbacks=[callback, Probe()], verbose=0)  # fmt: skip
    conv = model.get_layer("backbone").layer.get_layer("block1_conv")
    features = keras.ops.convert_to_numpy(conv(clips.reshape(-1, 32, 32, 3) / 255.0))
    # the weights did not change after validation: what it saw is the population mean under them
    np.testing.assert_allclose(seen[0], features.reshape(-1, 16).mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.numpy(), seen[0])
