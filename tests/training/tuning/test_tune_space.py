"""The search space: defaults equal the training defaults, restrictions from the config, bad input."""

import keras_tuner as kt
import pytest

from training.config.core import TrainConfig
from training.tuning.hypermodel import (
    TUNABLE,
    config_values,
    default_space,
    pyramid_subsets,
    resolve_space,
)

CANDIDATES = ("b1", "b2", "b3")
DEFAULT_LEVELS = ("b2", "b3")


def _base():
    return TrainConfig().to_dict()


def test_pyramid_subsets_keep_the_anchor():
    # Hand-enumerated: every subset of the shallow levels, plus the deepest one.
    assert pyramid_subsets(["a", "b", "c"]) == ["c", "a,c", "b,c", "a,b,c"]


def test_defaults_are_the_training_defaults():
    base = _base()
    specs = default_space(base, CANDIDATES, DEFAULT_LEVELS)
    assert set(specs) == set(TUNABLE)
    defaults = TrainConfig()
    expected = {
        "levels": "b2,b3",  # the config's `None` means the backbone's default pyramid
        "downsample": defaults.model.downsample,
        "fusion": defaults.model.fusion,
        "attention_pooling": defaults.model.attention_pooling,
        "interaction_weight": defaults.model.interaction_weight,
        "diversity_weight": defaults.model.diversity_weight,
        "dropout": defaults.model.dropout,
        "learning_rate": defaults.optim.learning_rate,
        "weight_decay": defaults.optim.weight_decay,
        "num_segments": defaults.data.num_segments,
    }
    assert {name: spec.default for name, spec in specs.items()} == expected
    # An empty HyperParameters takes every default, and the config it gives is the base config.
    hp = kt.HyperParameters()
    values = {name: spec.declare(hp) for name, spec in specs.items()}
    overrides = config_values(specs, values)
    assert overrides["model.levels"] == ["b2", "b3"]
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        if key != "levels":
            assert base[section][key] == value


def test_loss_weights_include_zero_on_a_log_grid():
    specs = default_space(_base(), CANDIDATES, DEFAULT_LEVELS)
    for name in ("interaction_weight", "diversity_weight", "weight_decay"):
        values = specs[name].values
        assert values[0] == 0.0
        positive = values[1:]
        assert all(b / a >= 2 for a, b in zip(positive, positive[1:], strict=False))
    assert specs["learning_rate"].log


def test_space_restrictions():
    space = {
        "fusion": "mean",
        "downsample": ["avg", "max"],
        "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
        "levels": [["b1", "b3"], "b3"],
        "num_segments": [3, 5],
        "dropout": {"values": [0.2, 0.4], "default": 0.4},
    }
    specs = resolve_space(_base(), CANDIDATES, DEFAULT_LEVELS, space)
    assert specs["fusion"].kind == "fixed" and specs["fusion"].default == "mean"
    assert specs["downsample"].values == ("avg", "max")
    assert specs["downsample"].default == "avg"  # the training default, which is allowed
    assert (specs["learning_rate"].min_value, specs["learning_rate"].max_value) == (1e-4, 1e-2)
    assert specs["levels"].values == ("b1,b3", "b3")
    assert (
        specs["levels"].default == "b1,b3"
    )  # the training default is not allowed: the first choice
    assert specs["num_segments"].values == (3, 5)
    assert specs["dropout"].default == 0.4
    # A flat list of layer names is one fixed pyramid.
    fixed = resolve_space(_base(), CANDIDATES, DEFAULT_LEVELS, {"levels": ["b1", "b3"]})
    assert fixed["levels"].kind == "fixed" and fixed["levels"].default == "b1,b3"


def test_baseline_heads_search_no_ispan_options_unless_asked():
    base = _base()
    base["model"]["head"] = "tsn"
    specs = resolve_space(base, CANDIDATES, DEFAULT_LEVELS, {"fusion": ["sum", "max"]})
    tunable = [name for name, spec in specs.items() if spec.tunable]
    assert tunable == ["fusion", "dropout", "learning_rate", "weight_decay", "num_segments"]


def test_tune_fixes_the_other_names():
    specs = resolve_space(_base(), CANDIDATES, DEFAULT_LEVELS, tune=["fusion"])
    assert [name for name, spec in specs.items() if spec.tunable] == ["fusion"]
    assert specs["learning_rate"].default == TrainConfig().optim.learning_rate


@pytest.mark.parametrize(
    "space, tune, message",
    [
        ({"fusoin": ["sum"]}, None, "Unknown hyperparameter 'fusoin'"),
        ({"fusion": []}, None, "has no choices"),
        ({"fusion": ["sum", "bogus"]}, None, "must be one of"),
        ({"attention_pooling": ["l2", "mean"]}, None, "Received: attention_pooling='mean'"),
        ({"learning_rate": {"min": 0.1, "max": 0.01}}, None, "need min < max"),
        ({"dropout": [0.5, 1.5]}, None, "must be in"),
        ({"levels": ["b1,b3", "nope"]}, None, "not candidates"),
        ({}, [], "search space is empty"),
        (
            {"fusion": "sum", "downsample": ["avg"]},
            ["fusion", "downsample"],
            "search space is empty",
        ),
    ],
)
def test_bad_spaces(space, tune, message):
    with pytest.raises(ValueError, match=message):
        resolve_space(_base(), CANDIDATES, DEFAULT_LEVELS, space, tune)


def test_every_sampled_point_is_a_valid_training_config():
    specs = default_space(_base(), CANDIDATES, DEFAULT_LEVELS)
    hp = kt.HyperParameters()
    for spec in specs.values():
        spec.declare(hp)
    base = _base()
    for seed in range(25):
        sample = hp.copy()
        for value in sample.space:
            sample.values[value.name] = value.random_sample(seed)
        overrides = config_values(specs, sample.values)
        merged = {section: dict(values) for section, values in base.items()}
        for dotted, value in overrides.items():
            section, key = dotted.split(".")
            merged[section][key] = value
        config = TrainConfig.from_dict(merged)  # validates every value
        assert config.data.num_segments == sample.values["num_segments"]
        assert list(config.model.levels) == sample.values["levels"].split(",")


def test_attention_pooling_trial_builds_that_layer():
    """A trial that picks `softmax` pooling gets a model whose PyramidAttention pools that way."""
    from types import SimpleNamespace

    from keras_ispan import PyramidAttention
    from keras_ispan.models import get_backbone_spec
    from training.engine.run import build_model
    from training.tuning.hypermodel import ISPANHyperModel

    base = TrainConfig.from_dict(
        TrainConfig().to_dict() | {"data": TrainConfig().to_dict()["data"] | {"image_size": 32}}
    )
    backbone = get_backbone_spec(base.model.backbone)
    specs = resolve_space(
        base.to_dict(), backbone.candidates, backbone.levels, tune=["attention_pooling"]
    )
    assert specs["attention_pooling"].values == ("l2", "softmax")
    info = SimpleNamespace(num_classes=3, multi_label=False, classes=("a", "b", "c"))
    hypermodel = ISPANHyperModel(
        base, specs, lambda c: build_model(c, info), lambda c: (None, None)
    )
    for pooling in ("l2", "softmax"):
        hp = kt.HyperParameters()
        hp.Fixed("attention_pooling", pooling)
        model = hypermodel.build(hp)
        layers = [layer for layer in model._flatten_layers() if isinstance(layer, PyramidAttention)]
        assert len(layers) == 1 and layers[0].pooling == pooling
