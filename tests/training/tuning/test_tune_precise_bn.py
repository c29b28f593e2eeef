"""`train.precise_bn` in a search: a trial's model has its moving statistics re-estimated on the training
clips before validation, as `fit.py`'s runs do (`training.engine.batch_norm.precise_bn_callback`)."""

import keras
import numpy as np
import pytest

from keras_ispan.models import load_classifier
from tests.training.tuning.tiny_tuning import tiny_overrides
from training.config.core import load_config
from training.data import datasets
from training.tuning.search import TuneConfig, run_search


@pytest.mark.slow
def test_a_trial_model_has_the_training_clips_batch_norm_statistics(tmp_path, tiny_data):
    overrides = [*tiny_overrides(tmp_path, tiny_data), "train.precise_bn=true"]
    config = load_config(overrides=overrides)
    tune_config = TuneConfig(
        max_trials=1, epochs=1, directory=str(tmp_path / "search"), tune=("learning_rate",)
    )
    result = run_search(config, tune_config, verbose=0)
    model = load_classifier(result.best_model_path)  # the best epoch's checkpoint (the only one)
    # the first BN layer's moving mean: the mean of the first convolution's outputs over every frame
    # of the training clips (centre view), measured with NumPy under the saved weights
    frames = np.concatenate(
        [keras.ops.convert_to_numpy(x) for x, _ in datasets.training_clips(config, tiny_data)]
    )
    pixels = frames.reshape(-1, *frames.shape[-3:]).astype("float32") / 255.0  # small_cnn: "unit"
    backbone = model.get_layer("backbone").layer
    features = keras.ops.convert_to_numpy(backbone.get_layer("block1_conv")(pixels))
    expected = features.reshape(-1, features.shape[-1]).astype(np.float64).mean(0)
    moving_mean = backbone.get_layer("block1_bn").moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, expected, rtol=1e-4, atol=1e-6)
    # one epoch of momentum-0.99 updates from zeros stays far from the population mean
    assert np.abs(expected).max() > 0.05
