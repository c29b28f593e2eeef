"""The regularisers as pure functions: hand-computed values, scale hazards, serialisation."""

import keras
import numpy as np
import pytest

from keras_ispan.regularizers import (
    AttentionDiversityRegularizer,
    PCARegularizer,
    diversity_loss,
    interaction_loss,
)
from tests.keras_ispan import reference


def test_interaction_loss_hand_computed():
    # Two rows over 3 positions: a_1 = (1, 0, 0), a_2 = (0.6, 0.8, 0); features 2-d.
    attention = np.array([[[1.0, 0.6], [0.0, 0.8], [0.0, 0.0]]], "float32")  # (1, P=3, d=2)
    features = np.array([[[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]]], "float32")
    # A X = [[2, 0], [1.2, 0.8]]: energy 4 + 1.44 + 0.64 = 6.08; (a_1 . a_2)^2 = 0.36, twice.
    got = float(keras.ops.convert_to_numpy(interaction_loss(attention, features, False)))
    np.testing.assert_allclose(got, -6.08 + 0.72, rtol=1e-6)
    # Normalised features: rows (1, 0), (0, 1): A X = [[1, 0], [0.6, 0.8]], energy 2.
    got = float(keras.ops.convert_to_numpy(interaction_loss(attention, features, True)))
    np.testing.assert_allclose(got, -2.0 + 0.72, rtol=1e-6)


def test_diversity_loss_hand_computed():
    fused = np.array([[[0.5], [0.5]]], "float32")  # (1, P=2, d=1)
    level = np.array([[[1.0], [0.0]]], "float32")
    # delta = 0.5 at both positions: sqrt(2 * (1 - 0.25)) = sqrt(1.5)
    got = float(keras.ops.convert_to_numpy(diversity_loss(fused, [level])))
    np.testing.assert_allclose(got, np.sqrt(1.5), rtol=1e-6)


def test_batch_averaged():
    rng = np.random.default_rng(0)
    a = rng.random((4, 6, 3)).astype("float32")
    x = rng.normal(size=(4, 6, 5)).astype("float32")
    whole = float(keras.ops.convert_to_numpy(interaction_loss(a, x)))
    parts = [
        float(keras.ops.convert_to_numpy(interaction_loss(a[i : i + 1], x[i : i + 1])))
        for i in range(4)
    ]
    np.testing.assert_allclose(whole, np.mean(parts), rtol=1e-5)
    ref = reference.interaction_loss(np.swapaxes(a, 1, 2), x, True)
    np.testing.assert_allclose(whole, ref, rtol=1e-5)


def test_normalised_energy_is_bounded_in_the_feature_scale():
    """The hazard of ISPAN.md: literally, scaling the features by s scales the energy by s^2."""
    rng = np.random.default_rng(1)
    a = rng.random((2, 6, 3)).astype("float32")
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    x = rng.normal(size=(2, 6, 5)).astype("float32")

    def loss(scale, normalize):
        return float(keras.ops.convert_to_numpy(interaction_loss(a, x * scale, normalize)))

    assert loss(100.0, False) < 1000 * loss(1.0, False) < 0  # unbounded below
    np.testing.assert_allclose(loss(100.0, True), loss(1.0, True), rtol=1e-5)
    assert loss(1.0, True) >= -3 * 6  # >= -d * positions


@pytest.mark.parametrize(
    "regularizer",
    [PCARegularizer(0.3, normalize_features=False), AttentionDiversityRegularizer(0.7)],
)
def test_serialisation(regularizer):
    config = keras.saving.serialize_keras_object(regularizer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(regularizer) and clone.get_config() == regularizer.get_config()
    assert config["registered_name"].startswith("keras_ispan>")


def test_defaults_are_the_documented_ones():
    assert PCARegularizer().get_config() == {"weight": 1e-4, "normalize_features": True}
    assert AttentionDiversityRegularizer().get_config() == {"weight": 1e-3}
