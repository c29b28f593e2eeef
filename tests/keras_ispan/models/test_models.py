"""Model builders: heads, backbones, export outputs, errors, `.keras` round trips."""

import keras
import numpy as np
import pytest

from keras_ispan.models import (
    BACKBONES,
    build_backbone,
    build_classifier,
    export_outputs_model,
    pyramid_model,
)
from tests.keras_ispan.helpers import to_numpy

CLIP = np.random.default_rng(0).integers(0, 256, size=(2, 4, 32, 32, 3)).astype("uint8")


@pytest.mark.parametrize("head", ["ispan", "single", "tsn", "gap"])
def test_heads_save_load_and_export(tmp_path, head):
    model = build_classifier(3, head=head, image_size=32, class_names=["a", "b", "c"])
    assert model.input.name == "frames" and tuple(model.input.shape) == (None, None, 32, 32, 3)
    logits = to_numpy(model(CLIP))
    np.testing.assert_allclose(to_numpy(model(CLIP.astype("float32"))), logits, atol=1e-5)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), logits, atol=1e-6)
    assert loaded.get_layer("logits").class_names == ["a", "b", "c"]
    for candidate in (model, loaded):
        out = export_outputs_model(candidate)(CLIP)
        np.testing.assert_allclose(to_numpy(out["logits"]), logits, atol=1e-6)
        e = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(
            to_numpy(out["probabilities"]), e / e.sum(-1, keepdims=True), atol=1e-6
        )
        attention = to_numpy(out["attention"])
        assert attention.shape == (2, 4, 2, 2)
        np.testing.assert_allclose(attention.sum(axis=(1, 2, 3)), [1, 1], atol=1e-5)


def test_losses_in_training_only_and_gradients_reach_every_weight():
    model = build_classifier(3, image_size=32)
    model(CLIP, training=False)
    assert model.losses == []
    model(CLIP, training=True)
    assert len(model.losses) == 2
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(CLIP, training=True) ** 2) + tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, grads, strict=True) if g is None]
    assert not missing


def test_zero_weights_disable_the_losses_and_single_head_has_none():
    model = build_classifier(3, image_size=32, interaction_weight=0.0, diversity_weight=0.0)
    model(CLIP, training=True)
    assert model.losses == []
    single = build_classifier(3, image_size=32, head="single")
    single(CLIP, training=True)
    assert single.losses == []
    assert len(single.get_layer("pyramid_attention").kernels) == 1


def test_multi_label_uses_sigmoid():
    model = build_classifier(4, image_size=32, multi_label=True)
    out = export_outputs_model(model)(CLIP)
    logits = to_numpy(out["logits"])
    np.testing.assert_allclose(to_numpy(out["probabilities"]), 1 / (1 + np.exp(-logits)), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(BACKBONES) - {"small_cnn"}))
def test_default_pyramid_layers_exist_and_shrink(name):
    size = 75 if name == "inception_v3" else 64
    levels = pyramid_model(build_backbone(name, size), BACKBONES[name].levels).outputs
    sides = [t.shape[1] for t in levels]
    assert sides == sorted(sides, reverse=True), sides
    assert all(BACKBONES[name].levels[i] in BACKBONES[name].candidates for i in range(len(levels)))


def test_weights_from_a_file(tmp_path):
    backbone = build_backbone("small_cnn", 32)
    rng = np.random.default_rng(3)
    backbone.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in backbone.get_weights()]
    )
    path = str(tmp_path / "backbone.weights.h5")
    backbone.save_weights(path)
    reloaded = build_backbone("small_cnn", 32, weights=path)
    for a, b in zip(reloaded.get_weights(), backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"backbone": "vgg"}, r"Unknown backbone.*Received: backbone='vgg'"),
        (
            {"levels": ["block2_out", "blok4_out"]},
            r"no layer 'blok4_out' \(close matches: .*block4_out",
        ),
        ({"head": "lstm"}, r"Received: head='lstm'"),
        ({"num_classes": 0}, r"Received: num_classes=0"),
        ({"dropout": 1.0}, r"Received: dropout=1.0"),
        ({"interaction_weight": -1.0}, r"Received: interaction_weight=-1.0"),
        ({"classifier_initializer": "ones"}, r"Received: classifier_initializer='ones'"),
        ({"weights": "/nope.h5"}, r"existing weights file. Received: weights='/nope.h5'"),
        ({"weights": "imagenet"}, r"no ImageNet weights"),
        ({"class_names": ["a", "b"]}, r"2 class names for 3 logits"),
        ({"image_size": 40}, r"divisible by 16. Received: input_shape=\(40, 40, 3\)"),
    ],
)
def test_builder_errors(kwargs, pattern):
    args = {"num_classes": 3, "image_size": 32, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        build_classifier(**args)


@pytest.mark.parametrize("head", ["ispan", "single", "tsn", "gap"])
def test_zero_classifier_starts_at_uniform_scores_and_survives_saving(tmp_path, head):
    model = build_classifier(3, head=head, image_size=32, classifier_initializer="zeros")
    for training in (False, True):
        np.testing.assert_array_equal(to_numpy(model(CLIP, training=training)), np.zeros((2, 3)))
    if head == "ispan":  # Keras' default: scores differ from 0
        glorot = build_classifier(3, head=head, image_size=32)
        assert np.abs(to_numpy(glorot(CLIP))).max() > 1e-3
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    config = loaded.get_layer("classifier").get_config()["kernel_initializer"]
    assert config["class_name"] == "Zeros"


def test_zero_classifier_lets_the_attention_learn_after_one_step():
    """At zero kernel the logits do not depend on the attention (zero gradient there); one step on
    the classifier alone is enough for the attention kernels to get a gradient."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("GradientTape")
    import tensorflow as tf

    model = build_classifier(
        3, image_size=32, dropout=0.0, interaction_weight=0.0, diversity_weight=0.0,
        classifier_initializer="zeros",
    )  # fmt: skip
    labels = np.array([0, 2])
    kernels = model.get_layer("pyramid_attention").kernels
    classifier = model.get_layer("classifier").kernel

    def gradients():
        with tf.GradientTape() as tape:
            logits = model(CLIP.astype("float32"), training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            loss = tf.reduce_mean(loss)
        return tape.gradient(loss, [classifier, *kernels])

    first = gradients()
    assert float(tf.norm(first[0])) > 1e-4
    assert all(float(tf.norm(g)) == 0.0 for g in first[1:])
    classifier.assign(classifier - 0.1 * first[0])
    assert all(float(tf.norm(g)) > 0.0 for g in gradients()[1:])
