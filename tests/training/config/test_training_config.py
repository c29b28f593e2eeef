"""Config: presets, JSON/TOML files, overrides, round trips, validation errors."""

import json

import pytest

from training.config.core import (
    PRESETS,
    TrainConfig,
    apply_overrides,
    load_config,
    parse_override,
    preset,
    save_config,
)


def test_defaults_are_the_synthetic_preset():
    config = load_config()
    assert config == preset("synthetic")
    assert config.model.backbone == "small_cnn"
    assert config.data.data_dir is None


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_dict_and_json(name, tmp_path):
    config = preset(name)
    assert TrainConfig.from_dict(config.to_dict()) == config
    path = save_config(config, tmp_path / "config.json")
    assert json.loads(path.read_text())["output"]["preset"] == name
    assert load_config(path) == config


def test_presets_hold_their_documented_values():
    ucf = preset("ucf101")
    assert (ucf.model.backbone, ucf.data.num_segments, ucf.data.image_size) == ("resnet50", 3, 224)
    assert (ucf.eval.num_segments, ucf.eval.num_crops) == (25, 10)
    assert preset("hmdb51").model.weights == "imagenet"
    assert preset("charades").model.multi_label is True
    assert preset("synthetic").model.multi_label is False


def test_overrides_parse_json_values_and_strings():
    assert parse_override("optim.learning_rate=0.01") == ("optim.learning_rate", 0.01)
    assert parse_override("data.data_dir=/a/b") == ("data.data_dir", "/a/b")
    assert parse_override("model.levels=null") == ("model.levels", None)
    assert parse_override("model.freeze_backbone=True") == ("model.freeze_backbone", True)
    config = apply_overrides(
        preset("synthetic"),
        ['model.levels=["b1", "b2"]', "optim.step_epochs=3,6", "optim.schedule=step"],
    )
    assert config.model.levels == ("b1", "b2")
    assert config.optim.step_epochs == (3, 6)
    config = apply_overrides(config, {"train.epochs": 2, "optim.clipnorm": None})
    assert (config.train.epochs, config.optim.clipnorm) == (2, None)


def test_file_then_overrides_precedence(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps({"preset": "ucf101", "train": {"epochs": 7}, "optim": {"momentum": 0.5}})
    )
    config = load_config(path, overrides=["train.epochs=3"])
    assert config.model.backbone == "resnet50"  # from the file's preset
    assert config.optim.momentum == 0.5  # from the file
    assert config.train.epochs == 3  # from the overrides
    toml = tmp_path / "c.toml"
    toml.write_text('[train]\nepochs = 4\n[model]\nhead = "tsn"\n')
    config = load_config(toml)
    assert (config.train.epochs, config.model.head) == (4, "tsn")


@pytest.mark.parametrize(
    "override, pattern",
    [
        (
            "optim.lerning_rate=0.1",
            r"'lerning_rate'.*did you mean 'optim.learning_rate'.*Received: key=",
        ),
        ("optm.learning_rate=0.1", r"'optm'.*did you mean 'optim'"),
        ("learning_rate=0.1", r"section.key"),
        (
            "model.backbone=resnet5",
            r"model.backbone must be one of.*Received: model.backbone='resnet5'",
        ),
        ("model.head=attn", r"model.head must be one of"),
        ("train.epochs=0", r"train.epochs must be > 0. Received: train.epochs=0"),
        ("train.epochs=abc", r"train.epochs must be an integer"),
        ("train.strategy=tpu", r"train.strategy must be one of"),
        ("optim.schedule=step", r"optim.step_epochs"),
        ("model.dropout=1.5", r"model.dropout must be in"),
        ("output.name=a/b", r"output.name"),
        ("data.cache=maybe", r"data.cache must be true or false"),
        ("data.label_source=clip", r"Received: data.label_source='clip'"),
        (
            "model.classifier_initializer=ones",
            r"model.classifier_initializer must be one of.*Received: model.classifier_initializer='ones'",
        ),
    ],
)
def test_bad_overrides_name_the_key(override, pattern):
    with pytest.raises(ValueError, match=pattern):
        apply_overrides(preset("synthetic"), [override])


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_config(bad)
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"trian": {"epochs": 1}}))
    with pytest.raises(ValueError, match=r"'trian'.*did you mean 'train'"):
        load_config(typo)
    with pytest.raises(ValueError, match="Unknown preset 'ucf'"):
        load_config(preset="ucf")


def test_config_is_frozen():
    config = preset("synthetic")
    with pytest.raises(AttributeError):
        config.train.epochs = 3  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------
# Values are read as the key's declared type, never guessed from the text (issue 12)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["2024", "true", "1e3", "007", "null", "none", "0.5"])
def test_typed_name_flag_is_always_a_string(name):
    from training.fit import config_from_args, parse_args

    config = config_from_args(parse_args(["--name", name]))
    assert config.output.name == name
    assert isinstance(config.output.name, str)


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("output.name=2024", "name", "2024"),
        ("output.name=true", "name", "true"),
        ("output.name=1e3", "name", "1e3"),
        ("output.name=007", "name", "007"),
        ('output.name="none"', "name", "none"),  # a JSON string literal is unquoted
        ("output.name=none", "name", None),  # a key that may be None takes null/none as None
        ("output.runs_dir=2024", "runs_dir", "2024"),
    ],
)
def test_set_on_a_string_key_keeps_the_text(override, key, expected):
    assert parse_override(override) == (f"output.{key}", expected)
    assert getattr(apply_overrides(preset("synthetic"), [override]).output, key) == expected


def test_set_on_typed_keys_keeps_converting():
    config = apply_overrides(
        preset("synthetic"),
        [
            "train.epochs=3",
            "optim.learning_rate=1e-3",
            "optim.clipnorm=none",
            "data.cache=false",
            "model.weights=none",  # a str key: the word, not None
            "model.levels=1,2",  # items of a tuple[str, ...] stay text
            "eval.frames_sweep=1,4",
            "data.data_dir=123",
        ],
    )
    assert config.train.epochs == 3
    assert config.optim.learning_rate == 1e-3
    assert config.optim.clipnorm is None
    assert config.data.cache is False
    assert config.model.weights == "none"
    assert config.model.levels == ("1", "2")
    assert config.eval.frames_sweep == (1, 4)
    assert config.data.data_dir == "123"


def test_set_with_a_bad_value_names_the_key_and_the_value():
    from training.fit import config_from_args, parse_args

    with pytest.raises(ValueError, match=r"train\.epochs must be an integer.*train\.epochs='abc'"):
        config_from_args(parse_args(["--set", "train.epochs=abc"]))


def test_typed_flags_of_fit_and_tune_keep_their_types():
    from training import tune
    from training.fit import config_from_args, parse_args

    config = config_from_args(
        parse_args(["--data", "2024", "--runs-dir", "1e3", "--weights", "none", "--epochs", "2"])
    )
    assert (config.data.data_dir, config.output.runs_dir) == ("2024", "1e3")
    assert (config.model.weights, config.train.epochs) == ("none", 2)
    train, tuning = tune.configs_from_args(
        tune.parse_args(["--data", "true", "--project-name", "2024", "--objective", "1e3"])
    )
    assert train.data.data_dir == "true"
    assert (tuning.project_name, tuning.objective) == ("2024", "1e3")


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"model.stream_fusion": "concat"}, "model.stream_fusion"),
        ({"model.flow_length": 3}, "model.flow_length"),
        ({"model.stream_weights": [1.0, 2.0]}, "model.stream_weights"),
        ({"model.modality": "flow", "model.stream_weights": [1.0, 2.0]}, "model.stream_weights"),
    ],
)
def test_stream_keys_a_model_would_ignore_are_refused(overrides, key):
    """A stream key changed on a model without that stream (or without fusion) is refused, naming
    the key; at their defaults (as every saved config carries them) they load."""
    with pytest.raises(ValueError, match=rf"would ignore it.*Received: {key}="):
        load_config(None, list(overrides.items()), preset="synthetic")
    load_config(None, [("model.stream_weights", [1.0, 1.5]), ("model.flow_length", 5)],
                preset="synthetic")  # fmt: skip
    load_config(None, [("model.modality", "flow"), ("model.flow_length", 3)], preset="synthetic")


def test_stream_keys_are_checked_on_the_merged_request(tmp_path):
    """A file may set the stream keys and the command line the modality (`fit.py --config f.json
    --modality two_stream`): checked after the merge, in `load_config` and `load_tuning`; the file
    alone is refused naming it. A run's saved record is read without the check (evaluate.py)."""
    from training.config.core import config_from_values, read_config_file
    from training.tuning.config import load_tuning

    path = tmp_path / "streams.json"
    path.write_text(json.dumps({"model": {"stream_fusion": "concat", "flow_length": 3}}))
    config = load_config(path, [("model.modality", "two_stream")])
    assert (config.model.stream_fusion, config.model.flow_length) == ("concat", 3)
    assert load_tuning(path, ["model.modality=two_stream"])[0].model == config.model
    with pytest.raises(ValueError, match=rf"config file {path}.*Received: model.flow_length=3"):
        load_config(path)
    with pytest.raises(ValueError, match="Received: model.flow_length=3"):
        load_tuning(path)
    record = config_from_values(read_config_file(path), source=path)
    assert record.model.modality == "rgb" and record.model.flow_length == 3


def test_a_file_key_made_valid_by_the_command_line_is_accepted(tmp_path):
    """`model.stream_calibration` is checked in the config itself (refused unless two-stream, late or
    learned fusion); a file setting it with `fit.py --modality two_stream` is a valid request, validated
    once, after the merge (it was refused at the file, before the command line was applied)."""
    from training.tuning.config import load_tuning

    path = tmp_path / "calibrated.json"
    path.write_text(json.dumps({"model": {"stream_calibration": "temperature"}}))
    config = load_config(path, [("model.modality", "two_stream")])
    assert (config.model.modality, config.model.stream_calibration) == ("two_stream", "temperature")
    assert load_tuning(path, ["model.modality=two_stream"])[0].model == config.model
    for merged in (lambda: load_config(path), lambda: load_tuning(path)):
        with pytest.raises(
            ValueError, match=rf"stream_calibration='temperature'.*config file {path}"
        ):
            merged()
    with pytest.raises(ValueError, match=rf"modality='rgb'.*config file {path} and the overrides"):
        load_config(path, ["train.epochs=2"])
