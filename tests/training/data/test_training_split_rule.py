"""No model selection on the test split: a dataset without `val` gets a split carved from `train`
at load time (and says so), disjoint from the clips trained on."""

import dataclasses

import pytest

from tests.keras_ispan.data.helpers import tiny_synthetic
from training.config.core import TrainConfig
from training.data import datasets


@pytest.fixture(scope="module")
def train_test_only(tmp_path_factory):
    return tiny_synthetic(tmp_path_factory.mktemp("split_rule") / "syn", train=20, test=6)


def _config(data_dir):
    config = TrainConfig.from_dict(
        {"data": {"num_segments": 2, "image_size": 24, "batch_size": 4, "eval_batch_size": 1}}
    )
    return config.replace(data=dataclasses.replace(config.data, data_dir=str(data_dir)))


def _count(dataset):
    return sum(int(y.shape[0]) for _, y in dataset)


def test_a_dataset_without_val_selects_on_a_split_carved_from_train(train_test_only):
    config = _config(train_test_only)
    info = datasets.dataset_info(train_test_only)
    assert set(info.counts) == {"train", "test"}
    assert datasets.validation_split(info, config) == datasets.CARVED_SPLIT  # never "test"
    fraction, seed, carved = datasets.carved_holdout(info, config)
    assert carved == 2 and seed == datasets.HOLDOUT_SEED  # round(0.1 * 20): exactly, not by luck
    lines = []
    train, val = datasets.make_datasets(config, train_test_only, log=lines.append)
    assert len(lines) == 1 and "WARNING" in lines[0] and "no 'val' split" in lines[0]
    assert f"{carved} clips carved from 'train'" in lines[0] and "never on 'test'" in lines[0]
    assert _count(val) == carved == datasets.eval_steps(info, config, datasets.CARVED_SPLIT)
    assert _count(train) == 20 - carved  # the carved clips are not trained on
    assert datasets.steps_per_epoch(info, config) == -(-(20 - carved) // 4)
    evaluated = datasets.eval_dataset(config, train_test_only, datasets.CARVED_SPLIT)
    assert _count(evaluated) == carved


def test_a_dataset_with_val_keeps_it(tiny_data_dir, tiny_config):
    info = datasets.dataset_info(tiny_data_dir)
    assert datasets.validation_split(info, tiny_config) == "val"
    lines = []
    datasets.make_datasets(tiny_config, tiny_data_dir, log=lines.append)
    assert lines == []


def test_a_tiny_dataset_carves_exactly_one_clip(tmp_path):
    """4 training clips: 1 held out (a hash threshold alone held out 3 of 4 on a real dataset)."""
    data = tiny_synthetic(tmp_path / "syn", num_classes=2, train=4, test=2)
    config = _config(data)
    info = datasets.dataset_info(data)
    assert datasets.carved_holdout(info, config)[2] == 1
    train, val = datasets.make_datasets(config, data, log=lambda line: None)
    assert _count(val) == 1 and _count(train) == 3
    assert datasets.training_clip_count(info, config) == 3
