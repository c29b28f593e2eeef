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
    [
        PCARegularizer(0.3, normalize_features=False),
        AttentionDiversityRegularizer(0.7),
        AttentionDiversityRegularizer(0.2, form="cosine"),
    ],
)
def test_serialisation(regularizer):
    config = keras.saving.serialize_keras_object(regularizer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(regularizer) and clone.get_config() == regularizer.get_config()
    assert config["registered_name"].startswith("keras_ispan>")


def test_defaults_are_the_documented_ones():
    assert PCARegularizer().get_config() == {"weight": 1e-4, "normalize_features": True}
    assert AttentionDiversityRegularizer().get_config() == {"weight": 1e-3, "form": "paper"}


def _numpy_cosine_diversity(fused, levels):
    """Mean over batch, rows and levels of the cosine between the maps over the positions."""
    values = []
    for level in levels:
        for b in range(fused.shape[0]):
            for m in range(fused.shape[2]):
                a, s = fused[b, :, m].astype(np.float64), level[b, :, m].astype(np.float64)
                values.append(a @ s / (np.linalg.norm(a) * np.linalg.norm(s)))
    return np.mean(values)


def test_cosine_diversity_hand_computed_and_numpy():
    fused = np.array([[[0.5], [0.5]]], "float32")  # (1, P=2, d=1)
    level = np.array([[[1.0], [0.0]]], "float32")
    got = float(keras.ops.convert_to_numpy(diversity_loss(fused, [level], "cosine")))
    np.testing.assert_allclose(got, 1 / np.sqrt(2), rtol=1e-6)  # (0.5, 0.5) . (1, 0) / sqrt(0.5)
    rng = np.random.default_rng(3)
    fused = rng.random((2, 7, 3)).astype("float32")
    levels = [rng.random((2, 7, 3)).astype("float32") for _ in range(3)]
    reg = AttentionDiversityRegularizer(0.5, form="cosine")
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(reg(fused, levels))),
        0.5 * _numpy_cosine_diversity(fused, levels),
        rtol=1e-5,
    )


@pytest.mark.tf_only  # tf.GradientTape
def test_cosine_diversity_is_scale_free_and_the_paper_form_is_not():
    """Uniform-ish maps over P positions: the cosine form stays near 1 and its gradient keeps its
    size as P grows; the paper's form grows like sqrt(P) and its gradient shrinks."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def grad_norm(positions, form):
        logits = tf.Variable(rng.normal(0, 0.1, (1, positions, 2)).astype("float32"))
        other = tf.nn.softmax(
            tf.constant(rng.normal(0, 0.1, (1, positions, 2)), tf.float32), axis=1
        )
        with tf.GradientTape() as tape:
            loss = diversity_loss(tf.nn.softmax(logits, axis=1), [other], form)
        return float(loss), float(tf.norm(tape.gradient(loss, logits)))

    (cos_small, g_small), (cos_big, g_big) = grad_norm(16, "cosine"), grad_norm(1024, "cosine")
    assert 0.95 < cos_small <= 1.0 and 0.95 < cos_big <= 1.0
    (paper_small, p_small), (paper_big, p_big) = grad_norm(16, "paper"), grad_norm(1024, "paper")
    np.testing.assert_allclose(paper_big / paper_small, 8.0, rtol=1e-2)  # sqrt(1024 / 16)
    assert p_big / p_small < 0.1 * (g_big / g_small)


def test_unknown_diversity_form_is_refused():
    with pytest.raises(ValueError, match="form='l1'"):
        AttentionDiversityRegularizer(form="l1")


def test_classifier_with_cosine_diversity_round_trips(tmp_path):
    from keras_ispan.models import build_classifier

    model = build_classifier(3, image_size=32, diversity_form="cosine", diversity_weight=0.1)
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 32, 3)).astype("uint8")
    path = tmp_path / "cosine.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    reg = loaded.get_layer("pyramid_attention").diversity_regularizer
    assert reg.get_config() == {"weight": 0.1, "form": "cosine"}
    np.testing.assert_allclose(
        loaded.predict(clips, verbose=0), model.predict(clips, verbose=0), rtol=1e-5
    )
    model(clips, training=True)
    loaded(clips, training=True)
    np.testing.assert_allclose(
        [float(x) for x in loaded.losses], [float(x) for x in model.losses], rtol=1e-5
    )
