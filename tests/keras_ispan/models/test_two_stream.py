"""Two-stream classifiers: late (fixed, learned) and feature-level fusion against hand and NumPy
computations from the separately run streams, per-stream outputs, losses, `.keras` round trips."""

import keras
import numpy as np
import pytest

from keras_ispan.layers import LateFusion
from keras_ispan.models import (
    build_classifier,
    build_two_stream,
    classifier_info,
    export_outputs_model,
    load_classifier,
    set_stream_temperatures,
    stream_classifier,
    two_stream_from_streams,
)
from tests.keras_ispan.helpers import assert_config_round_trip, to_numpy

RNG = np.random.default_rng(2)
INPUTS = {
    "rgb": RNG.integers(0, 256, size=(2, 4, 32, 32, 3)).astype("uint8"),
    "flow": RNG.integers(0, 256, size=(2, 4, 32, 32, 4)).astype("uint8"),
}
NAMES = ["a", "b", "c"]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _streams(head="ispan"):
    rgb = build_classifier(3, image_size=32, head=head, class_names=NAMES)
    flow = build_classifier(
        3, image_size=32, head=head, modality="flow", flow_length=2, class_names=NAMES
    )
    return rgb, flow


def test_late_fusion_by_hand(tmp_path):
    rgb = np.array([[2.0, 0.0, -1.0]], "float32")
    flow = np.array([[0.0, 5.0, 1.0]], "float32")
    # TSN 1:1.5, normalised: (1 * rgb + 1.5 * flow) / 2.5, done by hand
    expected = [[0.8, 3.0, 0.2]]
    np.testing.assert_allclose(to_numpy(LateFusion()([rgb, flow])), expected, atol=1e-6)
    learned = LateFusion((1.0, 1.5), learned=True)
    np.testing.assert_allclose(to_numpy(learned([rgb, flow])), expected, atol=1e-6)
    fixed = LateFusion()
    fixed([rgb, flow])
    assert fixed.trainable_weights == [] and len(learned.trainable_weights) == 1
    np.testing.assert_allclose(to_numpy(learned.fusion_weights()), [0.4, 0.6], atol=1e-6)
    assert_config_round_trip(LateFusion((2.0, 1.0), name="late"), [rgb, flow], tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": (1.0,)}, r"Received: weights=\(1.0,\)"),
        ({"weights": (1.0, 0.0)}, r"Received: weights=\(1.0, 0.0\)"),
        ({"learned": "yes"}, "Received: learned='yes'"),
        ({"temperatures": (1.0,)}, r"Received: temperatures=\(1.0,\)"),
        ({"temperatures": (1.0, -2.0)}, r"Received: temperatures=\(1.0, -2.0\)"),
    ],
)
def test_late_fusion_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LateFusion(**kwargs)


def test_late_fusion_temperatures_by_hand(tmp_path):
    rgb = np.array([[8.0, -8.0]], "float32")  # a confident stream
    flow = np.array([[-0.5, 0.5]], "float32")  # a hesitant one
    fusion = LateFusion((1.0, 1.5), temperatures=(100.0, 0.5))
    # (1 * rgb / 100 + 1.5 * flow / 0.5) / 2.5, by hand: [0.032 - 0.6, -0.032 + 0.6]
    np.testing.assert_allclose(to_numpy(fusion([rgb, flow])), [[-0.568, 0.568]], atol=1e-6)
    fusion.set_temperatures((1.0, 1.0))  # TSN's fusion: the confident stream wins
    np.testing.assert_allclose(to_numpy(fusion([rgb, flow])), [[2.9, -2.9]], atol=1e-6)
    assert fusion.trainable_weights == []
    with pytest.raises(ValueError, match=r"Received: temperatures=\(0.0, 1.0\)"):
        fusion.set_temperatures((0.0, 1.0))
    fusion.set_temperatures((3.0, 2.0))
    assert fusion.get_config()["temperatures"] == [3.0, 2.0]
    assert_config_round_trip(fusion, [rgb, flow], tmp_path)  # outputs with T = (3, 2) kept


def test_late_fusion_loads_weights_saved_without_temperatures():
    fusion = LateFusion((1.0, 3.0))
    fusion([np.zeros((1, 2), "float32")] * 2)
    fusion.load_own_variables({"0": np.log([0.5, 0.5]).astype("float32")})  # the old format
    np.testing.assert_allclose(to_numpy(fusion.fusion_weights()), [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(to_numpy(fusion.temperatures), [1.0, 1.0])


def test_stream_temperatures_in_a_two_stream_model(tmp_path):
    rgb, flow = _streams()
    rgb_logits, flow_logits = to_numpy(rgb(INPUTS["rgb"])), to_numpy(flow(INPUTS["flow"]))
    model = two_stream_from_streams(rgb, flow, temperatures=(2.0, 1.0))
    expected = (rgb_logits / 2.0 + 1.5 * flow_logits) / 2.5
    np.testing.assert_allclose(to_numpy(model(INPUTS)), expected, atol=1e-5)
    set_stream_temperatures(model, (4.0, 0.5))
    expected = (rgb_logits / 4.0 + 1.5 * flow_logits / 0.5) / 2.5
    np.testing.assert_allclose(to_numpy(model(INPUTS)), expected, atol=1e-5)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        to_numpy(load_classifier(tmp_path / "m.keras")(INPUTS)), expected, atol=1e-5
    )
    concat = two_stream_from_streams(rgb, flow, fusion="concat")
    with pytest.raises(ValueError, match="late fusion"):
        set_stream_temperatures(concat, (1.0, 1.0))
    with pytest.raises(ValueError, match=r"Received: temperatures=\(1.0, 1.0\)"):
        two_stream_from_streams(rgb, flow, fusion="concat", temperatures=(1.0, 1.0))


def test_late_fusion_of_two_trained_streams_equals_the_weighted_logits(tmp_path):
    rgb, flow = _streams()
    rgb_logits, flow_logits = to_numpy(rgb(INPUTS["rgb"])), to_numpy(flow(INPUTS["flow"]))
    model = two_stream_from_streams(rgb, flow, fusion="late")
    fused = to_numpy(model(INPUTS))
    np.testing.assert_allclose(fused, (rgb_logits + 1.5 * flow_logits) / 2.5, atol=1e-5)
    outputs = export_outputs_model(model)(INPUTS)
    np.testing.assert_allclose(to_numpy(outputs["logits"]), fused, atol=1e-6)
    np.testing.assert_allclose(to_numpy(outputs["probabilities"]), _softmax(fused), atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(outputs["rgb_probabilities"]), _softmax(rgb_logits), atol=1e-6
    )
    np.testing.assert_allclose(
        to_numpy(outputs["flow_probabilities"]), _softmax(flow_logits), atol=1e-6
    )
    assert to_numpy(outputs["attention"]).shape == (2, 4, 2, 2)
    np.testing.assert_allclose(
        to_numpy(stream_classifier(model, "rgb")(INPUTS["rgb"])), rgb_logits, atol=1e-6
    )
    info = classifier_info(model)
    assert (info.modality, info.flow_length, info.class_names) == ("two_stream", 2, tuple(NAMES))


def test_feature_fusion_is_a_classifier_on_the_concatenated_ispan_features():
    rgb, flow = _streams()
    model = two_stream_from_streams(rgb, flow, fusion="concat")
    features = [
        to_numpy(keras.Model(s.input, s.get_layer("spatial_pool").output)(x))
        for s, x in ((rgb, INPUTS["rgb"]), (flow, INPUTS["flow"]))
    ]
    kernel, bias = model.get_layer("fusion_classifier").get_weights()
    assert kernel.shape == (features[0].shape[-1] + features[1].shape[-1], 3)
    expected = np.concatenate(features, axis=-1) @ kernel + bias
    np.testing.assert_allclose(to_numpy(model(INPUTS)), expected, atol=1e-4)


@pytest.mark.parametrize("fusion", ["late", "learned", "concat"])
def test_joint_model_round_trip_and_losses(tmp_path, fusion):
    model = build_two_stream(3, fusion=fusion, flow_length=2, image_size=32, class_names=NAMES)
    model(INPUTS, training=True)  # (updates the batch-norm statistics: before `expected`)
    assert len(model.losses) == 4  # both streams' interaction and diversity losses
    expected = to_numpy(model(INPUTS))
    path = tmp_path / f"{fusion}.keras"
    model.save(path)
    loaded = load_classifier(path)
    np.testing.assert_allclose(to_numpy(loaded(INPUTS)), expected, atol=1e-6)
    outputs = export_outputs_model(loaded)(INPUTS)
    np.testing.assert_allclose(to_numpy(outputs["logits"]), expected, atol=1e-6)
    trainable = {w.path for w in model.trainable_weights}
    assert any("log_weights" in p for p in trainable) == (fusion == "learned")


def test_two_stream_errors():
    rgb, flow = _streams(head="tsn")
    with pytest.raises(ValueError, match="has none.*Received: fusion='concat'"):
        two_stream_from_streams(rgb, flow, fusion="concat")
    with pytest.raises(ValueError, match="Received: fusion='early'"):
        two_stream_from_streams(rgb, flow, fusion="early")
    with pytest.raises(ValueError, match="must take flow stacks"):
        two_stream_from_streams(rgb, rgb)
    other = build_classifier(
        4, image_size=32, head="tsn", modality="flow", flow_length=2, class_names=list("wxyz")
    )
    with pytest.raises(ValueError, match="same classes"):
        two_stream_from_streams(rgb, other)
    with pytest.raises(ValueError, match="Received: modality='flow'"):
        build_two_stream(3, image_size=32, modality="flow")
