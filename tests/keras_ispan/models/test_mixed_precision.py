"""Under `mixed_float16` the attention runs in float32 and a training step stays finite (CPU)."""

import keras
import numpy as np
import pytest

from keras_ispan.models import build_classifier, export_outputs_model


@pytest.fixture
def mixed_policy():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def test_mixed_precision_model_matches_float32_and_trains(mixed_policy):
    clip = np.random.default_rng(0).integers(0, 256, size=(2, 3, 32, 32, 3)).astype("uint8")
    mixed = build_classifier(3, image_size=32)
    keras.mixed_precision.set_global_policy("float32")
    full = build_classifier(3, image_size=32)
    full.set_weights(mixed.get_weights())
    keras.mixed_precision.set_global_policy("mixed_float16")

    attention = mixed.get_layer("pyramid_attention")
    assert attention.compute_dtype == "float16"
    outputs = export_outputs_model(mixed)(clip)
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in outputs.values())
    saliency = keras.ops.convert_to_numpy(outputs["attention"])
    np.testing.assert_allclose(saliency.sum(axis=(1, 2, 3)), [1.0, 1.0], atol=1e-3)
    # float16 backbone activations: agreement within half-precision rounding
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(mixed(clip)), keras.ops.convert_to_numpy(full(clip)), atol=5e-2
    )
    mixed(clip, training=True)
    assert all(keras.backend.standardize_dtype(loss.dtype) == "float32" for loss in mixed.losses)
    assert all(np.isfinite(keras.ops.convert_to_numpy(loss)) for loss in mixed.losses)

    mixed.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = mixed.fit(clip, np.array([0, 2]), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
