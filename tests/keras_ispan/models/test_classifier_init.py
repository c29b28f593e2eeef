"""`build_classifier(classifier_initializer="glorot_over_sqrt_p")`: the 1/sqrt(P) classifier start."""

import keras
import numpy as np
import pytest

from keras_ispan.models import build_classifier
from tests.keras_ispan.helpers import to_numpy

CLIP = np.random.default_rng(0).integers(0, 256, size=(2, 4, 32, 32, 3)).astype("uint8")
FRAMES = 4
CLASSES = 1024  # many logits: their standard deviation is measured to about 3 %


def _pair(head, num_frames=FRAMES):
    """A Glorot model and a `glorot_over_sqrt_p` one sharing every weight but the classifier's."""
    glorot = build_classifier(CLASSES, head=head, image_size=32, dropout=0.0)
    scaled = build_classifier(
        CLASSES, head=head, image_size=32, dropout=0.0,
        classifier_initializer="glorot_over_sqrt_p", num_frames=num_frames,
    )  # fmt: skip
    for layer in glorot.layers:
        if layer.name != "classifier":
            scaled.get_layer(layer.name).set_weights(layer.get_weights())
    return glorot, scaled


def _positions(model, num_frames):
    """`P = T * h * w` of the anchor level, from the saliency map's shape (NumPy)."""
    attention = keras.Model(model.input, model.get_layer("pyramid_attention").output[1])
    _, _, h, w = to_numpy(attention(CLIP)).shape
    return (num_frames or 1) * h * w


@pytest.mark.parametrize("num_frames", [FRAMES, None])
def test_initial_logits_are_glorots_over_sqrt_p(num_frames):
    glorot, scaled = _pair("ispan", num_frames)
    positions = _positions(scaled, num_frames)
    assert positions == (16 if num_frames else 4)  # 2 x 2 anchor positions per frame at 32 px
    kernel = to_numpy(scaled.get_layer("classifier").kernel)
    fan_in, fan_out = kernel.shape
    limit = np.sqrt(6.0 / (fan_in + fan_out) / positions)  # Glorot-uniform's bound / sqrt(P)
    assert np.abs(kernel).max() <= limit * (1 + 1e-6)
    np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3.0), rtol=0.05)
    ratio = to_numpy(scaled(CLIP)).std() / to_numpy(glorot(CLIP)).std()
    np.testing.assert_allclose(ratio, 1.0 / np.sqrt(positions), rtol=0.1)


@pytest.mark.parametrize("head", ["tsn", "gap"])
def test_heads_without_the_l2_pooling_keep_glorot(head):
    glorot, scaled = _pair(head)
    expected = np.sqrt(6.0 / sum(glorot.get_layer("classifier").kernel.shape)) / np.sqrt(3.0)
    for model in (glorot, scaled):
        kernel = to_numpy(model.get_layer("classifier").kernel)
        np.testing.assert_allclose(kernel.std(), expected, rtol=0.05)


def test_round_trip_keeps_the_scaled_kernel(tmp_path):
    model = build_classifier(
        3, image_size=32, classifier_initializer="glorot_over_sqrt_p", num_frames=FRAMES
    )
    logits = to_numpy(model(CLIP))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), logits, atol=1e-6)
    config = loaded.get_layer("classifier").get_config()["kernel_initializer"]["config"]
    assert config["scale"] == pytest.approx(1.0 / 16) and config["mode"] == "fan_avg"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"num_frames": 0}, r"Received: num_frames=0"),
        ({"num_frames": 2.5}, r"Received: num_frames=2.5"),
        ({"classifier_initializer": "glorot_sqrt_p"}, r"Received: classifier_initializer="),
    ],
)
def test_bad_values_are_refused(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_classifier(3, image_size=32, **kwargs)
