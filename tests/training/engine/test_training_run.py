"""`run(config)`: artefacts, metrics against an independent computation, determinism, bad input."""

import json
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from keras_ispan.models import load_classifier
from training.config.core import TrainConfig, apply_overrides
from training.data import datasets
from training.engine.run import run
from training.evaluation import multiview


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_run_writes_every_artefact_and_metrics_match_numpy(trained_run):
    result = trained_run
    run_dir = result.run_dir
    for name in (
        "best.keras",
        "config.json",
        "metrics.json",
        "curves.png",
        "confusion.png",
        "attention.png",
        "log.csv",
    ):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").rglob("*tfevents*"))
    assert not (run_dir / "backup").exists()  # removed once training finished
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temp file left
    saved = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert saved == result.config and saved.output.name == "shared"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 2 and metrics["initial_epoch"] == 0
    assert result.history["epoch"] == [0.0, 1.0]
    assert set(result.history) >= {"epoch", "loss", "accuracy", "val_accuracy", "lr"}
    # 3 classes: top-5 is 1 by definition, so neither logged nor reported
    assert not {"top5", "val_top5"} & set(result.history) and "top5" not in metrics["test"]
    assert os.path.getsize(run_dir / "curves.png") > 1000

    # Independent check: Keras predict on the test split, NumPy top-1 and confusion matrix.
    model = load_classifier(run_dir / "best.keras")
    config = result.config
    dataset = datasets.eval_dataset(config, config.data.data_dir, "test")
    labels = np.concatenate([y.numpy() for _, y in dataset])
    logits = model.predict(dataset, verbose=0)
    predicted = logits.argmax(axis=1)
    assert metrics["test"]["num_clips"] == len(labels) == 6
    assert metrics["test"]["top1"] == pytest.approx(np.mean(predicted == labels))
    expected = np.zeros((3, 3), int)
    for t, p in zip(labels, predicted):
        expected[t, p] += 1
    assert metrics["test"]["confusion_matrix"] == expected.tolist()
    with Image.open(run_dir / "attention.png") as image:
        assert image.format == "PNG" and image.width == 4 * 224  # one 224-pixel panel per frame
        assert "true: " in image.text["Title"] and "predicted: " in image.text["Title"]


def test_evaluation_is_deterministic(trained_run):
    result = trained_run
    model = load_classifier(result.model_path)
    config = result.config

    def scores():
        dataset = datasets.eval_dataset(config, config.data.data_dir, "test", crops=3, num_clips=2)
        return multiview.predict_scores(model, dataset, multi_label=False, chunk_views=5)

    first, second = scores(), scores()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # Multi-view scores are the mean of the per-view probabilities, checked on one view set by hand.
    dataset = datasets.eval_dataset(config, config.data.data_dir, "test", crops=3, num_clips=2)
    frames, _ = next(iter(dataset))
    per_view = model.predict(frames.numpy().reshape(-1, *frames.shape[2:]), verbose=0)
    probs = np.exp(per_view - per_view.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(
        probs.reshape(frames.shape[0], 6, -1).mean(1),
        first[0][: frames.shape[0]],
        rtol=1e-4,
        atol=1e-6,
    )


def test_missing_dataset_folder_writes_nothing(tiny_config, tmp_path):
    config = apply_overrides(tiny_config, {"data.data_dir": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="Dataset folder not found: .*nope"):
        run(config, log=lambda line: None)
    assert _files(tmp_path / "runs") == []


@pytest.mark.parametrize(
    "overrides, error, pattern",
    [
        ({"model.levels": ["block2_out", "no_such_layer"]}, ValueError, "no_such_layer"),
        ({"model.weights": "/does/not/exist.h5"}, FileNotFoundError, "exist.h5"),
        ({"model.multi_label": True}, ValueError, "single-label but model.multi_label=true"),
        ({"train.mixed_precision": "on"}, ValueError, "needs a GPU"),
        ({"train.monitor": "val_auc"}, ValueError, r"train.monitor must be one of \['loss'"),
        ({"train.monitor": "val_top5"}, ValueError, r"single-label, no top5 with 3 classes"),
    ],
)
def test_bad_config_writes_nothing(tiny_config, tmp_path, overrides, error, pattern):
    config = apply_overrides(tiny_config, overrides)
    with pytest.raises(error, match=pattern):
        run(config, log=lambda line: None)
    assert _files(tmp_path / "runs") == []


def test_unknown_backbone_is_rejected_by_the_config():
    with pytest.raises(ValueError, match="model.backbone must be one of"):
        TrainConfig.from_dict({"model": {"backbone": "vgg99"}})


def test_finished_run_is_not_overwritten(trained_run):
    result = trained_run
    before = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="finished run"):
        run(result.config, log=lambda line: None)
    after = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*") if p.is_file()}
    assert before == after


def test_dataset_classes_must_match_the_model(tiny_config, tmp_path):
    from keras_ispan.models import build_classifier

    info = datasets.dataset_info(tiny_config.data.data_dir)
    model = build_classifier(3, image_size=32, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"disagree.*only in the model: \['a', 'b', 'c'\]"):
        multiview.check_classes(model, info, "m.keras")
    model = build_classifier(3, image_size=32, class_names=list(info.classes)[::-1])
    with pytest.raises(ValueError, match="different order"):
        multiview.check_classes(model, info)
    multiview.check_classes(
        build_classifier(3, image_size=32, class_names=list(info.classes)), info
    )


def test_export_writes_a_servable_model(trained_run):
    from training.engine.final_evaluation import export_run

    lines = []
    export_dir = export_run(trained_run.config, trained_run.run_dir, lines.append)
    assert any("exported SavedModel version 1" in line for line in lines)
    versions = sorted(p.name for p in (export_dir / "ispan").iterdir())
    assert versions == ["1"]
    assert (export_dir / "ispan" / "1" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_fit_script_runs_from_the_repo_root(tiny_config, tmp_path):
    import subprocess
    import sys

    from tests.training.conftest import REPO_ROOT

    config_file = tmp_path / "tiny.json"
    from training.config.core import save_config

    save_config(tiny_config, config_file)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(
        [sys.executable, "training/fit.py", "--config", str(config_file), "--name", "cli",
         "--epochs", "1", "--set", "train.verbose=2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "[run] finished" in completed.stdout
    metrics = json.loads((tmp_path / "runs" / "cli" / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 1
    again = subprocess.run(
        [sys.executable, "training/fit.py", "--config", str(config_file), "--name", "cli"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert again.returncode == 2 and "finished run" in again.stderr


def test_training_scope_restores_process_state(tiny_config):
    import random

    import keras
    import tensorflow as tf

    from training.engine.run import training_scope

    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    tf.random.set_seed(77)
    before = (random.random(), np.random.random())  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    previous = keras.mixed_precision.global_policy().name
    with training_scope(tiny_config):
        inside = (random.random(), np.random.random())  # noqa: NPY002
        assert tf.compat.v1.get_seed(None)[0] == tiny_config.train.seed
    assert inside != before  # the run's seed was in force
    assert (random.random(), np.random.random()) == before  # noqa: NPY002
    assert tf.compat.v1.get_seed(None)[0] == 77
    assert keras.mixed_precision.global_policy().name == previous


def test_training_scope_leaves_unset_seeds_unset(tiny_config):
    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state

    from training.engine.scope import training_scope

    tf.random.set_seed(None)
    for name in ("global_random_seed", "global_seed_generator"):
        global_state.set_global_attribute(name, None)
    with training_scope(tiny_config):
        assert tf.compat.v1.get_seed(None)[0] == tiny_config.train.seed
        assert global_state.get_global_attribute("global_random_seed") == tiny_config.train.seed
        keras.random.normal((1,))  # creates the global seed generator from the run's seed
    assert tf.compat.v1.get_seed(None) == (None, None)
    assert global_state.get_global_attribute("global_random_seed") is None
    assert global_state.get_global_attribute("global_seed_generator") is None


def test_dataset_without_an_evaluation_split_is_refused_before_training(tiny_config, tmp_path):
    import dataclasses

    from tests.keras_ispan.data.helpers import solid_frames, write_dataset

    # one training clip: no test, no val, and too few to carve a validation split from
    data = write_dataset(
        tmp_path / "only_train", [(solid_frames(4), [0])], ["a", "b"], split="train"
    )
    config = tiny_config.replace(data=dataclasses.replace(tiny_config.data, data_dir=str(data)))
    with pytest.raises(ValueError, match=r"only_train has no clips in split 'test' \(eval.split\)"):
        run(config, log=lambda line: None)
    assert not (pathlib.Path(config.output.runs_dir) / config.output.name).exists()
