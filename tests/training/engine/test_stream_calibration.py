"""Per-stream temperature scaling (`training.evaluation.calibration`) against NumPy references: a known
temperature recovered, a confident stream at chance silenced, a model's fusion set from its streams."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.models import build_classifier, stream_classifier, two_stream_from_streams
from training.config.core import TrainConfig
from training.evaluation.calibration import (
    TEMPERATURE_RANGE,
    calibrate_two_stream,
    fit_temperature,
)

RNG = np.random.default_rng(7)


def _nll_numpy(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_fit_temperature_recovers_a_known_overconfidence():
    true = RNG.normal(0.0, 2.0, (4000, 3))
    p = np.exp(true) / np.exp(true).sum(1, keepdims=True)
    labels = np.array([RNG.choice(3, p=row) for row in p])
    fitted = fit_temperature(true * 3.0, labels)  # three times too confident
    grid = np.exp(np.linspace(np.log(0.5), np.log(20), 2001))
    best = grid[np.argmin([_nll_numpy(true * 3.0 / t, labels) for t in grid])]
    assert fitted == pytest.approx(best, rel=5e-3)
    assert fitted == pytest.approx(3.0, rel=0.1)


def test_a_confident_stream_at_chance_gets_a_large_temperature():
    labels = RNG.integers(0, 2, 200)
    guesses = RNG.integers(0, 2, 200)  # unrelated to the labels
    logits = np.where(guesses[:, None] == np.arange(2), 8.0, -8.0)
    assert fit_temperature(logits, labels) > 0.1 * TEMPERATURE_RANGE[1]


def test_fit_temperature_multi_label_and_errors():
    logits = RNG.normal(0.0, 1.0, (500, 4))
    labels = (RNG.random((500, 4)) < 1 / (1 + np.exp(-logits))).astype("float32")
    assert fit_temperature(logits * 0.25, labels, multi_label=True) == pytest.approx(0.25, rel=0.2)
    with pytest.raises(ValueError, match=r"Received: logits.shape=\(3,\)"):
        fit_temperature(np.zeros(3), np.zeros(3))


def test_calibrate_two_stream_sets_the_streams_fitted_temperatures():
    names = ["a", "b", "c"]
    rgb = build_classifier(3, image_size=32, class_names=names)
    flow = build_classifier(3, image_size=32, modality="flow", flow_length=2, class_names=names)
    model = two_stream_from_streams(rgb, flow)
    inputs = {
        "rgb": RNG.integers(0, 256, (6, 4, 32, 32, 3)).astype("uint8"),
        "flow": RNG.integers(0, 256, (6, 4, 32, 32, 4)).astype("uint8"),
    }
    labels = RNG.integers(0, 3, 6)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(4)
    temperatures = calibrate_two_stream(model, dataset)
    logits = {s: np.asarray(stream_classifier(model, s)(inputs[s])) for s in ("rgb", "flow")}
    for s in ("rgb", "flow"):
        assert temperatures[s] == pytest.approx(fit_temperature(logits[s], labels), rel=1e-3)
    expected = logits["rgb"] / temperatures["rgb"] + 1.5 * logits["flow"] / temperatures["flow"]
    np.testing.assert_allclose(np.asarray(model(inputs)), expected / 2.5, rtol=1e-3, atol=1e-5)


def test_config_rejects_an_unknown_calibration():
    with pytest.raises(ValueError, match="model.stream_calibration='platt'"):
        TrainConfig.from_dict({"model": {"stream_calibration": "platt"}})


@pytest.mark.parametrize("model", [{"modality": "rgb"}, {"modality": "flow"},
                                   {"modality": "two_stream", "stream_fusion": "concat"}])  # fmt: skip
def test_config_refuses_a_calibration_it_would_ignore(model):
    with pytest.raises(ValueError, match="model.stream_calibration='temperature' with"):
        TrainConfig.from_dict({"model": {**model, "stream_calibration": "temperature"}})
    for fusion in ("late", "learned"):
        config = {
            "modality": "two_stream",
            "stream_fusion": fusion,
            "stream_calibration": "temperature",
        }
        assert TrainConfig.from_dict({"model": config}).model.stream_calibration == "temperature"


def test_a_temperature_at_the_lower_bound_is_named_in_a_warning():
    """A fitted temperature at the lower bound (a stream sharpened 20x) is named with the split's size;
    the upper bound (a stream at chance flattened) is what calibration is for: no warning."""
    from training.engine.streams import sharpening_warning

    warning = sharpening_warning({"rgb": 0.05, "flow": 1.3}, "val", 8)
    assert "rgb T=0.05" in warning and "flow" not in warning.split("reached")[0]
    assert "8 'val' clips" in warning and "20x" in warning
    assert sharpening_warning({"rgb": 1000.0, "flow": 0.9}, "val", 60) is None
