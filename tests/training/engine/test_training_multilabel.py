"""Multi-label (Charades-style) training: sigmoid cross-entropy, PR-AUC during training, mAP at the end checked
against scikit-learn on the saved model's predictions."""

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from keras_ispan.data.records import (
    encode_jpeg,
    serialize_clip,
    shard_name,
    write_dataset_metadata,
    write_tfrecord_atomic,
)
from keras_ispan.models import classifier_info, load_classifier
from training.config.core import apply_overrides
from training.data import datasets
from training.engine.run import run

CLASSES = ("walk", "sit", "drink")


def _make_multilabel_dataset(path, seed=0):
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in (("train", 12), ("val", 6), ("test", 6)):
        records = []
        for index in range(count):
            labels = sorted(rng.choice(3, size=rng.integers(1, 3), replace=False).tolist())
            frames = np.zeros((6, 40, 40, 3), np.uint8)
            for label in labels:  # a coloured square per present class
                frames[:, 5 + 10 * label : 15 + 10 * label, 5:35, label] = 220
            frames += rng.integers(0, 30, frames.shape, dtype=np.uint8)
            jpegs = [encode_jpeg(frame) for frame in frames]
            records.append(
                serialize_clip(f"{split}{index}", labels, jpegs, fps=8.0, height=40, width=40)
            )
        write_tfrecord_atomic(path / shard_name(split, 0, 1), records)
        splits[split] = {"count": count, "num_shards": 1}
    write_dataset_metadata(path, CLASSES, True, splits, created_by="tests")


@pytest.fixture(scope="module")
def multilabel_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("multilabel")
    _make_multilabel_dataset(path)
    return path


@pytest.mark.slow
def test_multilabel_run_reports_map_matching_sklearn(tiny_config, multilabel_dir):
    config = apply_overrides(
        tiny_config,
        {
            "data.data_dir": str(multilabel_dir),
            "model.multi_label": True,
            "train.monitor": "val_auc",
            "optim.label_smoothing": 0.1,
            "output.attention_format": "gif",
        },
    )
    result = run(config, log=lambda line: None)
    assert "val_auc" in result.history
    assert (result.run_dir / "attention.gif").is_file()
    assert not (result.run_dir / "confusion.png").exists()
    model = load_classifier(result.model_path)
    info = classifier_info(model)
    assert (list(info.class_names), info.multi_label) == (list(CLASSES), True)
    dataset = datasets.eval_dataset(result.config, str(multilabel_dir), "test")
    targets = np.concatenate([y.numpy() for _, y in dataset])
    logits = model.predict(dataset, verbose=0)
    expected = np.mean([average_precision_score(targets[:, c], logits[:, c]) for c in range(3)])
    assert result.metrics["test"]["mAP"] == pytest.approx(expected, rel=1e-5)


def test_single_label_config_on_a_multilabel_dataset_is_refused(
    tiny_config, multilabel_dir, tmp_path
):
    config = dataclasses.replace(
        tiny_config, data=dataclasses.replace(tiny_config.data, data_dir=str(multilabel_dir))
    )
    with pytest.raises(ValueError, match="multi-label but model.multi_label=false"):
        run(config, log=lambda line: None)
    assert not (tmp_path / "runs").exists()
