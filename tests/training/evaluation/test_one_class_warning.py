"""The one-class warning and the train-split check of `run()` (inference mode vs logged accuracy)."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from training.evaluation.collapse import one_class_share, one_class_warning


def test_one_class_share_and_warning_threshold():
    balanced = np.diag([10] * 6)
    assert one_class_share(balanced)[1:] == (10 / 60, 10 / 60)
    assert one_class_warning(balanced, "test", list("abcdef")) is None
    collapsed = np.zeros((6, 6), int)
    collapsed[:, 2] = 10  # every clip predicted as class 2
    line = one_class_warning(collapsed, "train", list("abcdef"))
    assert "split 'train'" in line and "class 'c'" in line and "100% of its 60 clips" in line
    two = np.array([[10, 0], [3, 7]])  # class 0 takes 65 %: below (0.5 + 1) / 2
    assert one_class_warning(two, "val", ["x", "y"]) is None
    two = np.array([[10, 0], [6, 4]])  # 80 %
    assert "class 'x' for 80%" in one_class_warning(two, "val", ["x", "y"])


class _PredictOneClass(keras.callbacks.Callback):
    """Forces the classifier to answer class 1 for every clip (zero kernel, large bias)."""

    def on_train_batch_end(self, batch, logs=None):
        dense = self.model.get_layer("classifier")
        dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
        dense.bias.assign(np.array([0.0, 50.0, 0.0], "float32"))


@pytest.mark.slow
def test_run_warns_by_name_when_the_model_predicts_one_class(tiny_config):
    from training.engine.run import run

    config = dataclasses.replace(
        tiny_config, train=dataclasses.replace(tiny_config.train, epochs=1)
    )
    lines = []
    result = run(config, extra_callbacks=[_PredictOneClass()], log=lines.append)
    warnings = [line for line in lines if "WARNING" in line and "collapsed" in line]
    assert any("split 'train'" in w and "class 'square'" in w and "100%" in w for w in warnings)
    assert any("split 'test'" in w for w in warnings)
    check = json.loads((result.run_dir / "metrics.json").read_text())["train_split"]
    assert check["majority_share"] == 1.0 and check["num_clips"] == 12
    assert check["inference_top1"] == 1 / 3  # balanced 3 classes, all answered 'square'


def test_train_split_check_matches_the_log_and_numpy(trained_run):
    from training.data import datasets
    from training.evaluation import plots

    check = trained_run.metrics["train_split"]
    columns = plots.read_csv_log(trained_run.run_dir / "log.csv")
    best = trained_run.metrics["best_epoch"]
    assert check["logged_accuracy_at_best_epoch"] == columns["accuracy"][best - 1]
    model = keras.saving.load_model(trained_run.model_path)
    right = total = 0
    for frames, labels in datasets.training_clips(
        trained_run.config, trained_run.config.data.data_dir
    ):
        predicted = np.argmax(keras.ops.convert_to_numpy(model(frames, training=False)), axis=-1)
        right += int((predicted == labels.numpy()).sum())
        total += len(predicted)
    assert total == check["num_clips"] == 12
    assert abs(check["inference_top1"] - right / total) < 1e-9
    assert abs(check["gap"] - (check["logged_accuracy_at_best_epoch"] - right / total)) < 1e-9
