"""`data.resize=model`: training on crops of one size per batch through `with_frame_resize`; the run folder
holds the plain classifier, whose test metrics match an independent NumPy computation."""

import dataclasses
import json

import numpy as np
import pytest

from keras_ispan.models import load_classifier
from training.config.core import TrainConfig
from training.data import datasets
from training.engine.run import run


def test_run_with_the_resize_in_the_model(tiny_config):
    config = dataclasses.replace(
        tiny_config,
        data=dataclasses.replace(tiny_config.data, resize="model", scale_jitter=True),
        train=dataclasses.replace(tiny_config.train, epochs=1),
    )
    lines = []
    result = run(config, log=lines.append)
    assert any("crops resized in the model" in line for line in lines)
    model = load_classifier(result.model_path)
    assert tuple(model.input_shape) == (None, None, 32, 32, 3)  # the classifier, not the wrapper
    assert "frame_resize" not in [layer.name for layer in model.layers]
    for saved, trained in zip(model.get_weights(), result.model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, trained)  # one epoch: best.keras is the trained model
    dataset = datasets.eval_dataset(config, config.data.data_dir, "test")
    labels = np.concatenate([y.numpy() for _, y in dataset])
    predicted = model.predict(dataset, verbose=0).argmax(axis=1)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["test"]["top1"] == pytest.approx(np.mean(predicted == labels))


def test_training_resize_setting(monkeypatch):
    import tensorflow as tf

    config = TrainConfig()
    for value in ("pipeline", "model"):
        data = dataclasses.replace(config.data, resize=value)
        assert datasets.training_resize(dataclasses.replace(config, data=data)) == value
    assert datasets.training_resize(config) == "pipeline"  # auto, and no GPU here
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    assert datasets.training_resize(config) == "model"  # auto with a GPU visible
    with pytest.raises(ValueError, match=r"Received: data.resize='gpu'"):
        dataclasses.replace(config.data, resize="gpu")
    with pytest.raises(ValueError, match=r"Received: data.reader='mmap'"):
        dataclasses.replace(config.data, reader="mmap")


def test_tuning_refuses_the_resize_in_the_model(tiny_config, tmp_path):
    from training.tuning.config import TuneConfig
    from training.tuning.search import training_functions

    config = dataclasses.replace(
        tiny_config, data=dataclasses.replace(tiny_config.data, resize="model")
    )
    with pytest.raises(ValueError, match=r"Received: data.resize='model'"):
        training_functions(config, TuneConfig(directory=str(tmp_path / "tune")))
    resolved, _, _ = training_functions(tiny_config, TuneConfig(directory=str(tmp_path / "tune")))
    assert resolved.data.resize == "pipeline"


def test_flow_models_resize_in_the_pipeline_and_refuse_model_resize():
    config = TrainConfig()
    for modality in ("flow", "two_stream"):
        model = dataclasses.replace(config.model, modality=modality)
        for value in ("auto", "pipeline"):
            data = dataclasses.replace(config.data, resize=value)
            assert datasets.training_resize(TrainConfig(data=data, model=model)) == "pipeline"
        data = dataclasses.replace(config.data, resize="model")
        with pytest.raises(ValueError, match=rf"data.resize='model', model.modality='{modality}'"):
            datasets.training_resize(TrainConfig(data=data, model=model))
