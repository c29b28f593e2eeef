"""The search file (training sections + a `tuning` section) and its command-line overrides."""

import pytest

from training.tune import configs_from_args, parse_args
from training.tuning.search import TuneConfig, load_tuning, objective_of

SEARCH_TOML = """
[model]
backbone = "small_cnn"
dropout = 0.3

[optim]
learning_rate = 0.01

[tuning]
tuner = "bayesian"
max_trials = 7
objective = "val_loss"
tune = ["fusion", "learning_rate", "levels"]

[tuning.space]
fusion = ["sum", "mean"]
learning_rate = { min = 1e-4, max = 1e-2, log = true }
levels = [["block3_out", "block4_out"], ["block4_out"]]
"""


def test_search_file_and_overrides(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text(SEARCH_TOML)
    train, tune = load_tuning(path, ["train.epochs=2"], {"max_trials": 3, "epochs": None})
    assert (
        train.model.dropout == 0.3 and train.optim.learning_rate == 0.01 and train.train.epochs == 2
    )
    assert tune.tuner == "bayesian" and tune.max_trials == 3  # the flag wins, None is ignored
    assert tune.tune == ("fusion", "learning_rate", "levels")
    assert tune.space["learning_rate"] == {"min": 1e-4, "max": 1e-2, "log": True}
    objective = objective_of(train, tune)
    assert (objective.name, objective.direction) == ("val_loss", "min")


def test_a_plain_training_config_is_a_search_file(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('{"train": {"monitor": "val_top5"}, "data": {"num_segments": 3}}')
    train, tune = load_tuning(path)
    assert train.data.num_segments == 3
    assert tune == TuneConfig()
    objective = objective_of(train, tune)
    assert (objective.name, objective.direction) == ("val_top5", "max")


def test_command_line(tmp_path):
    args = parse_args(
        ["--data", str(tmp_path), "--tuner", "hyperband", "--epochs", "4", "--tune", "fusion, dropout",
         "--objective", "val_accuracy", "--direction", "min", "--set", "data.batch_size=2", "--overwrite"]
    )  # fmt: skip
    train, tune = configs_from_args(args)
    assert train.data.data_dir == str(tmp_path) and train.data.batch_size == 2
    assert (tune.tuner, tune.epochs, tune.tune, tune.overwrite) == (
        "hyperband",
        4,
        ("fusion", "dropout"),
        True,
    )
    assert objective_of(train, tune).direction == "min"


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"tuning": {"max_trails": 3}}', "Unknown tuning key 'max_trails'"),
        ('{"tuning": {"tuner": "grid"}}', "tuning.tuner must be one of"),
        ('{"tuning": {"direction": "up"}}', "tuning.direction"),
        ('{"tuning": {"max_trials": 0}}', "tuning.max_trials must be >= 1"),
        ('{"tuning": 3}', "must be a table"),
        ('{"modle": {"dropout": 0.1}}', "Unknown config section 'modle'"),
        ("{not json", "Could not parse"),
    ],
)
def test_bad_search_files(tmp_path, text, message):
    path = tmp_path / "search.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_tuning(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_tuning(tmp_path / "missing.json")
