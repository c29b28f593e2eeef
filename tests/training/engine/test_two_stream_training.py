"""Training wiring of the flow and two-stream models: config -> model, multi-view scores of dict inputs,
each stream's report, and a short `fit` of a two-stream model on batches of the pipeline's shapes."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.models import build_classifier, classifier_info, stream_classifier
from tests.training.conftest import TINY
from training.config.core import TrainConfig
from training.engine.run import build_model, compile_model
from training.evaluation import multiview

NAMES = ("a", "b", "c")
INFO = types.SimpleNamespace(num_classes=3, classes=NAMES, multi_label=False)


def _config(**model):
    return TrainConfig.from_dict({**TINY, "model": {**TINY["model"], **model}})


def _batches(views=None, batch=2, length=2, seed=0):
    """Batches of the interface's shapes: `({"rgb": uint8, "flow": uint8}, labels)`."""
    rng = np.random.default_rng(seed)
    lead = (batch, views) if views else (batch,)
    inputs = {
        "rgb": rng.integers(0, 256, (*lead, 4, 32, 32, 3)).astype("uint8"),
        "flow": rng.integers(0, 256, (*lead, 4, 32, 32, 2 * length)).astype("uint8"),
    }
    return inputs, rng.integers(0, 3, batch).astype("int64")


@pytest.mark.parametrize("modality", ["flow", "two_stream"])
def test_config_builds_the_modality(modality):
    fusion = {"stream_fusion": "concat"} if modality == "two_stream" else {}  # flow: no fusion key
    model = build_model(_config(modality=modality, flow_length=2, **fusion), INFO)
    info = classifier_info(model)
    assert (info.modality, info.flow_length, info.class_names) == (modality, 2, NAMES)
    if modality == "flow":
        assert tuple(model.input_shape) == (None, None, 32, 32, 4)
    else:
        assert model.get_layer("fusion_classifier") is not None
        assert tuple(stream_classifier(model, "flow").input_shape) == (None, None, 32, 32, 4)


def test_two_stream_config_freezes_both_backbones():
    model = build_model(_config(modality="two_stream", freeze_backbone=True), INFO)
    for stream in ("rgb", "flow"):
        assert not stream_classifier(model, stream).get_layer("backbone").trainable


def test_config_rejects_bad_stream_keys():
    for key, value, message in (
        ("modality", "depth", "model.modality='depth'"),
        ("stream_fusion", "early", "model.stream_fusion='early'"),
        ("flow_length", 0, "model.flow_length=0"),
        ("stream_weights", [1.0], r"model.stream_weights=\[1.0\]"),
    ):
        with pytest.raises(ValueError, match=message):
            _config(**{key: value})


def test_multiview_scores_of_dict_inputs_average_the_views():
    model = build_model(_config(modality="two_stream", flow_length=2), INFO)
    inputs, labels = _batches(views=3)
    dataset = tf.data.Dataset.from_tensors((inputs, labels))
    scores, got_labels = multiview.predict_scores(model, dataset, multi_label=False, chunk_views=4)
    flat = {k: v.reshape(6, *v.shape[2:]) for k, v in inputs.items()}
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(flat))).reshape(2, 3, 3)
    np.testing.assert_allclose(scores, expected.mean(axis=1), atol=1e-5)
    np.testing.assert_array_equal(got_labels, labels)
    streams = multiview.evaluate_streams(model, dataset, multi_label=False, top_k=2)
    rgb_scores, _ = multiview.predict_scores(
        stream_classifier(model, "rgb"),
        dataset.map(lambda x, y: (x["rgb"], y)),
        multi_label=False,
    )
    top1 = float((rgb_scores.argmax(-1) == labels).mean())
    assert set(streams) == {"rgb", "flow"} and streams["rgb"]["top1"] == pytest.approx(top1)
    assert multiview.evaluate_streams(build_classifier(3, image_size=32), dataset) == {}


@pytest.mark.slow
def test_two_stream_fits_on_pipeline_shaped_batches():
    config = _config(modality="two_stream", flow_length=2, stream_fusion="learned")
    model = compile_model(build_model(config, INFO), config, INFO, steps_per_epoch=2)
    batches = [_batches(seed=s) for s in range(2)]
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            {k: np.concatenate([b[0][k] for b in batches]) for k in ("rgb", "flow")},
            np.concatenate([b[1] for b in batches]),
        )
    ).batch(2)
    before = keras.ops.convert_to_numpy(model.get_layer("fusion").log_weights)
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    after = keras.ops.convert_to_numpy(model.get_layer("fusion").log_weights)
    assert not np.allclose(before, after)  # the learned fusion weights train


def test_scaled_classifier_start_counts_the_training_frames():
    """`model.classifier_initializer=glorot_over_sqrt_p` divides Glorot's bound by
    `sqrt(data.num_segments * h * w)` (2 x 2 anchor positions at 32 px)."""
    config = _config(classifier_initializer="glorot_over_sqrt_p")
    classifier = build_model(config, INFO).get_layer("classifier")
    kernel, initializer = classifier.kernel, classifier.kernel_initializer
    positions = config.data.num_segments * 4
    limit = np.sqrt(6.0 / sum(kernel.shape) / positions)
    assert initializer.get_config()["scale"] == pytest.approx(1.0 / positions)
    assert float(np.abs(keras.ops.convert_to_numpy(kernel)).max()) <= limit * (1 + 1e-6)
