"""The flow stream: `FlowPreprocessing`, the backbones on 2L channels, cross-modality initialisation."""

import keras
import numpy as np
import pytest

from keras_ispan.layers import FlowPreprocessing
from keras_ispan.models import (
    build_classifier,
    classifier_info,
    cross_modality_init,
    flow_backbone,
    load_classifier,
)
from tests.keras_ispan.helpers import assert_config_round_trip, to_numpy

FLOW = np.random.default_rng(1).integers(0, 256, size=(2, 4, 32, 32, 4)).astype("uint8")


def test_flow_preprocessing_matches_the_documented_map(tmp_path):
    q = np.arange(256, dtype="uint8").reshape(1, 128, 2)
    expected = (q.astype("float64") - 127.5) / 127.5
    layer = FlowPreprocessing(flow_length=1)
    np.testing.assert_allclose(to_numpy(layer(q)), expected, atol=1e-6)
    assert to_numpy(layer(q)).min() == -1.0 and to_numpy(layer(q)).max() == 1.0
    loaded = assert_config_round_trip(
        FlowPreprocessing(flow_length=2, bound=15.0, name="pre"),
        FLOW[0].astype("float32"),
        tmp_path,
    )
    assert loaded.get_layer("pre").bound == 15.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"flow_length": 0}, "Received: flow_length=0"),
        ({"flow_length": True}, "Received: flow_length=True"),
        ({"bound": -1.0}, "Received: bound=-1.0"),
        ({"resize_ratio": 0.5}, "Received: resize_ratio=0.5"),
    ],
)
def test_flow_preprocessing_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FlowPreprocessing(**kwargs)


def test_flow_preprocessing_checks_the_channels():
    with pytest.raises(ValueError, match="expects 10 channels"):
        FlowPreprocessing(flow_length=5)(np.zeros((1, 8, 8, 4), "uint8"))


def _conv_kernels(model):
    backbone = model.get_layer("backbone").layer
    return {layer.name: to_numpy(layer.kernel) for layer in backbone.layers if "conv" in layer.name}


def test_cross_modality_init_averages_the_first_kernel_and_copies_the_rest():
    rgb = build_classifier(3, image_size=32)
    flow = build_classifier(3, image_size=32, modality="flow", flow_length=5, weights=rgb)
    rgb_kernels, flow_kernels = _conv_kernels(rgb), _conv_kernels(flow)
    first = rgb_kernels["block1_conv"]  # (3, 3, 3, 16)
    expected = np.repeat(first.mean(axis=2, keepdims=True), 10, axis=2)
    assert flow_kernels["block1_conv"].shape == (3, 3, 10, 16)
    np.testing.assert_allclose(flow_kernels["block1_conv"], expected, rtol=1e-6)
    for c in range(10):  # each flow channel equals the channel mean, computed by hand
        hand = (first[:, :, 0, :] + first[:, :, 1, :] + first[:, :, 2, :]) / 3.0
        np.testing.assert_allclose(flow_kernels["block1_conv"][:, :, c, :], hand, rtol=1e-5)
    for name in ("block2_conv", "block3_conv", "block4_conv"):
        np.testing.assert_array_equal(flow_kernels[name], rgb_kernels[name])
    rgb_bn = rgb.get_layer("backbone").layer.get_layer("block1_bn").get_weights()
    flow_bn = flow.get_layer("backbone").layer.get_layer("block1_bn").get_weights()
    for a, b in zip(rgb_bn, flow_bn, strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_rgb_weights_the_flow_backbone_is_random():
    rgb = build_classifier(3, image_size=32)
    flow = build_classifier(3, image_size=32, modality="flow", flow_length=5)
    first = _conv_kernels(rgb)["block1_conv"]
    random_first = _conv_kernels(flow)["block1_conv"]
    assert not np.allclose(random_first, np.repeat(first.mean(axis=2, keepdims=True), 10, axis=2))
    assert np.std(random_first[:, :, 0]) > 0 and not np.allclose(
        random_first[:, :, 0], random_first[:, :, 1]
    )


def test_cross_modality_init_refuses_another_backbone():
    inputs = keras.Input((32, 32, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv_a")(inputs), name="other")
    with pytest.raises(ValueError, match="has no layer 'block1_conv'.*Received: rgb_model='other'"):
        flow_backbone("small_cnn", 32, 2, weights=other)
    with pytest.raises(ValueError, match="Received: flow_length=0"):
        flow_backbone("small_cnn", 32, 0)
    target = flow_backbone("small_cnn", 32, 2)
    with pytest.raises(ValueError, match="no Conv2D"):
        cross_modality_init(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), target)


def test_flow_classifier_round_trip_and_info(tmp_path):
    model = build_classifier(
        3, image_size=32, modality="flow", flow_length=2, class_names=list("abc")
    )
    assert model.input.name == "flow" and tuple(model.input.shape) == (None, None, 32, 32, 4)
    assert model.name == "ispan_small_cnn_flow"
    logits = to_numpy(model(FLOW))
    path = tmp_path / "flow.keras"
    model.save(path)
    loaded = load_classifier(path)
    np.testing.assert_allclose(to_numpy(loaded(FLOW)), logits, atol=1e-6)
    info = classifier_info(loaded)
    assert (info.modality, info.flow_length, info.image_size) == ("flow", 2, 32)
    assert classifier_info(build_classifier(3, image_size=32)).modality == "rgb"
    model(FLOW, training=True)
    assert len(model.losses) == 2  # the ISPAN losses, as on RGB
    with pytest.raises(ValueError, match="Received: modality='depth'"):
        build_classifier(3, image_size=32, modality="depth")
