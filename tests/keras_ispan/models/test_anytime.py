"""Anytime inference (`keras_ispan.models.anytime`): coarse-to-fine frames, early stop, budgets."""

import re

import keras
import numpy as np
import pytest

from keras_ispan.io.coarse_to_fine import coarse_to_fine_indices
from keras_ispan.models import AnytimeClassifier, build_classifier, export_outputs_model


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return build_classifier(3, backbone="small_cnn", image_size=32, dropout=0.0)


@pytest.fixture(scope="module")
def clip():
    return np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)


def test_a_threshold_above_1_equals_the_fixed_t_prediction(model, clip):
    anytime = AnytimeClassifier(model)
    result = anytime.predict(clip, threshold=1.5)
    order = coarse_to_fine_indices(8)
    fixed = export_outputs_model(model)(clip[order][None], training=False)
    assert result.frames_used == 8 and result.stopped == "exhausted"
    np.testing.assert_array_equal(result.frame_indices, order)
    np.testing.assert_allclose(
        result.probabilities, keras.ops.convert_to_numpy(fixed["probabilities"])[0], atol=1e-5
    )
    np.testing.assert_allclose(
        result.attention, keras.ops.convert_to_numpy(fixed["attention"])[0], atol=1e-5
    )
    assert result.step_probabilities.shape == (4, 3)  # checked after 1, 2, 4 and 8 frames
    assert result.step_frames.tolist() == [1, 2, 4, 8]
    np.testing.assert_allclose(result.step_probabilities[-1], result.probabilities)


def test_check_points_are_levels_or_every_frame(model, clip):
    """Each check point's probabilities equal the classifier on that prefix of the order."""
    anytime = AnytimeClassifier(model)
    order = coarse_to_fine_indices(8)
    every = anytime.predict(clip, threshold=1.5, check_points="every_frame")
    assert every.step_frames.tolist() == list(range(1, 9))
    outputs = export_outputs_model(model)
    for size in range(1, 9):
        fixed = outputs(clip[order[:size]][None], training=False)["probabilities"]
        expected = keras.ops.convert_to_numpy(fixed)[0]
        np.testing.assert_allclose(every.step_probabilities[size - 1], expected, atol=1e-5)
    levels = anytime.predict(clip, threshold=1.5)
    np.testing.assert_allclose(
        levels.step_probabilities, every.step_probabilities[[0, 1, 3, 7]], atol=1e-5
    )
    # a threshold first reached after 3 frames: every_frame stops there, the levels after 4
    top = every.step_probabilities.max(axis=-1)
    stop = int(np.argmax(top >= top[2])) + 1
    expected_levels = next(n for n in (1, 2, 4, 8) if n >= stop)
    assert anytime.predict(clip, top[2], check_points="every_frame").frames_used == stop
    assert anytime.predict(clip, top[2]).frames_used == expected_levels
    explicit = anytime.predict(clip, threshold=1.5, check_points=(3, 5))
    assert explicit.step_frames.tolist() == [3, 5, 8]


def test_threshold_0_stops_after_one_frame(model, clip):
    result = AnytimeClassifier(model).predict(clip[None], threshold=0.0)
    assert (result.frames_used, result.stopped) == (1, "confident")
    assert result.frame_indices.tolist() == [coarse_to_fine_indices(8)[0]]
    assert result.attention.shape[0] == 1
    np.testing.assert_allclose(result.attention.sum(), 1.0, atol=1e-5)


def test_frame_and_time_budgets_are_respected(model, clip):
    anytime = AnytimeClassifier(model, criterion="margin")
    result = anytime.predict(clip, threshold=2.0, max_frames=4)
    assert (result.frames_used, result.stopped) == (4, "max_frames")
    assert sorted(result.frame_indices.tolist()) == [1, 3, 5, 7]  # the centres of 4 segments
    result = anytime.predict(clip, threshold=2.0, budget_ms=1e-6)
    assert (result.frames_used, result.stopped) == (1, "budget")


def test_a_stream_of_unknown_length(model, clip):
    def frames():  # a generator: no length, read once
        for i in range(20):
            yield clip[i % 8]

    anytime = AnytimeClassifier(model)
    result = anytime.predict_stream(frames(), threshold=2.0, horizon=2, stride=1)
    assert result.frame_indices.tolist() == [0, 1, 2, 4, 6, 10, 14]  # phases of 2, strides 1, 2, 4
    assert result.stopped == "exhausted"
    fixed = export_outputs_model(model)(clip[[0, 1, 2, 4, 6, 2, 6]][None], training=False)
    np.testing.assert_allclose(
        result.probabilities, keras.ops.convert_to_numpy(fixed["probabilities"])[0], atol=1e-5
    )
    capped = anytime.predict_stream(frames(), threshold=2.0, max_frames=3, horizon=2)
    assert capped.frame_indices.tolist() == [0, 1, 2]


def test_bad_arguments_are_refused(model, clip):
    anytime = AnytimeClassifier(model)
    with pytest.raises(ValueError, match="Received: threshold=-1"):
        anytime.predict(clip, threshold=-1)
    with pytest.raises(ValueError, match="Received: max_frames=0"):
        anytime.predict(clip, max_frames=0)
    with pytest.raises(ValueError, match="Received: frame.shape"):
        anytime.predict(np.zeros((2, 16, 16, 3), "uint8"))
    with pytest.raises(ValueError, match="Received: frames=\\[\\]"):
        anytime.predict_stream(iter([]))
    with pytest.raises(ValueError, match="Received: check_points='levels'"):
        anytime.predict(clip, check_points="levels")
    with pytest.raises(ValueError, match="Received: criterion='best'"):
        AnytimeClassifier(model, criterion="best")
    with pytest.raises(ValueError, match="'backbone'"):
        AnytimeClassifier(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_flow_and_two_stream_models_are_refused_at_construction():
    from keras_ispan.models import build_two_stream

    flow = build_classifier(2, image_size=32, modality="flow", flow_length=2)
    two = build_two_stream(2, flow_length=2, image_size=32)
    for model, inputs in ((flow, r"\[\(None, None, 32, 32, 4\)\]"), (two, r"\), \(None")):
        with pytest.raises(ValueError, match=r"takes an RGB classifier.*Received: model=") as e:
            AnytimeClassifier(model)
        assert re.search(inputs, str(e.value)), str(e.value)
