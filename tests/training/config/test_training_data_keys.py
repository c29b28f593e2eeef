"""The `data.` keys are made from the library's dataclasses (`training/config/data.py`): every
`PipelineConfig` field is a key or set by the engine, every `SyntheticConfig` field is a key, a field
added to either becomes a key, the library's validation names the key, and a `config.json` written
before still loads to the same values."""

import dataclasses
import json
import types

import pytest

from keras_ispan.data.pipeline_config import PipelineConfig
from keras_ispan.data.synthetic import SyntheticConfig
from training.config import data as data_keys
from training.config.core import TrainConfig, _build, apply_overrides, load_config, preset
from training.data import datasets

# The `data` section of a `config.json` written before the keys were made from the library
# (the 22 keys and defaults of the earlier hand-written `DataConfig`).
EARLIER_DATA = {
    "data_dir": None, "num_segments": 8, "image_size": 64, "batch_size": 8, "eval_batch_size": None,
    "shuffle_buffer": 256, "cache": True, "flip": True, "scale_jitter": False, "label_source": "video",
    "reader": "auto", "resize": "auto", "train_split": "train", "val_split": "val", "test_split": "test",
    "synthetic_classes": 6, "synthetic_train": 240, "synthetic_val": 60, "synthetic_test": 60,
    "synthetic_frames": 16, "synthetic_size": 64, "synthetic_seed": 0,
}  # fmt: skip


def _keys():
    return {field.name for field in dataclasses.fields(TrainConfig().data)}


def test_every_pipeline_field_is_a_key_or_set_by_the_engine():
    fields = {field.name for field in dataclasses.fields(PipelineConfig)}
    keys = set(data_keys.PIPELINE_KEYS)
    assert keys | set(data_keys.SET_BY_ENGINE) == fields
    assert not keys & set(data_keys.SET_BY_ENGINE)
    assert keys <= _keys()
    assert {"num_segments", "image_size", "batch_size", "cache", "reader", "resize"} <= keys


def test_every_synthetic_field_is_a_key():
    keys = data_keys.SYNTHETIC_KEYS
    assert set(keys) == {field.name for field in dataclasses.fields(SyntheticConfig)}
    assert set(keys.values()) <= _keys()
    assert (keys["num_classes"], keys["num_frames"], keys["image_size"]) == (
        "synthetic_classes", "synthetic_frames", "synthetic_size",
    )  # fmt: skip
    assert keys["noise"] == "synthetic_noise"


def test_keys_reach_the_library_settings():
    config = apply_overrides(
        preset("synthetic"),
        ["data.dct_method=INTEGER_FAST", "data.num_segments=3", "data.synthetic_classes=3",
         "data.synthetic_frames=5", "data.synthetic_size=40", "data.synthetic_noise=2.5",
         "data.synthetic_target_visible=0.2,0.4"],
    )  # fmt: skip
    settings = config.data.pipeline_config(training=False, resize="pipeline")
    assert (settings.dct_method, settings.num_segments, settings.image_size) == (
        "INTEGER_FAST",
        3,
        64,
    )
    synthetic = config.data.synthetic_config()
    assert (synthetic.num_classes, synthetic.num_frames, synthetic.image_size) == (3, 5, 40)
    assert (synthetic.noise, synthetic.target_visible) == (2.5, (0.2, 0.4))
    # object sizes scaled to 40 pixels from the generator's 22 and 15 at 112: round(7.86), round(5.36)
    assert (synthetic.target_size, synthetic.distractor_size) == (8, 5)
    chosen = apply_overrides(config, ["data.synthetic_target_size=12"]).data.synthetic_config()
    assert (chosen.target_size, chosen.distractor_size) == (12, 5)


def test_the_engine_builds_the_same_pipeline_settings_as_before():
    config = apply_overrides(preset("synthetic"), ["data.resize=pipeline", "train.seed=7"])
    info = types.SimpleNamespace(multi_label=False, num_classes=6)
    train = datasets.pipeline_config(config, info, training=True, holdout=(0.1, 0, "drop"))
    assert train == PipelineConfig(
        num_segments=8,
        image_size=64,
        batch_size=8,
        training=True,
        multi_label=False,
        num_classes=6,
        cache=True,
        shuffle_buffer=256,
        seed=7,
        scales=(224 / 256,),
        max_distort=0,
        flip=True,
        label_source="video",
        reader="auto",
        resize="pipeline",
        holdout=(0.1, 0, "drop"),
    )  # fmt: skip  (issue 17: one training crop scale, the evaluation crop's 224/256)
    one = apply_overrides(config, ["data.crop_scale=1.0"])
    assert datasets.pipeline_config(one, info, training=True).scales == (1.0,)
    evaluation = datasets.pipeline_config(config, info, training=False, crops=3, num_clips=2)
    assert evaluation == PipelineConfig(
        num_segments=8, image_size=64, batch_size=8, training=False, multi_label=False,
        num_classes=6, crops=3, num_clips=2, cache=True, shuffle_buffer=256, seed=7, flip=True,
        label_source="video", reader="auto", resize="pipeline",
    )  # fmt: skip


def test_a_field_added_to_the_library_becomes_a_key():
    pipeline = dataclasses.make_dataclass(
        "Pipeline", [("colour_space", str, dataclasses.field(default="rgb"))],
        bases=(PipelineConfig,), frozen=True,
    )  # fmt: skip
    synthetic = dataclasses.make_dataclass(
        "Synthetic", [("blur", float, dataclasses.field(default=0.5))],
        bases=(SyntheticConfig,), frozen=True,
    )  # fmt: skip
    cls = data_keys.make_data_config(pipeline, synthetic)
    config = _build(cls, {"colour_space": "yuv", "synthetic_blur": 0.9}, "data.")
    assert config.pipeline_config(training=False, resize="pipeline").colour_space == "yuv"
    assert config.synthetic_config().blur == 0.9
    assert cls().colour_space == "rgb" and cls().synthetic_blur == 0.5


@pytest.mark.parametrize(
    "override, received",
    [
        ("data.num_segments=0", "data.num_segments=0"),
        ("data.batch_size=-2", "data.batch_size=-2"),
        ("data.shuffle_buffer=0", "data.shuffle_buffer=0"),
        ("data.eval_batch_size=0", "data.eval_batch_size=0"),
        ("data.label_source=clip", "data.label_source='clip'"),
        ("data.reader=mmap", "data.reader='mmap'"),
        ("data.resize=gpu", "data.resize='gpu'"),
        ("data.synthetic_classes=1", "data.synthetic_classes=1"),
        ("data.synthetic_train=0", "data.synthetic_train=0"),
        ("data.synthetic_val=-1", "data.synthetic_val=-1"),
        ("data.synthetic_frames=0", "data.synthetic_frames=0"),
        ("data.synthetic_clutter=2", "data.synthetic_clutter=2.0"),
        ("data.synthetic_size=6", "data.synthetic_target_size=4"),
    ],
)
def test_validation_errors_name_the_key(override, received):
    with pytest.raises(ValueError, match=rf"Received: .*{received}") as error:
        apply_overrides(preset("synthetic"), [override])
    key = override.split("=")[0]
    assert key in str(error.value)


def test_a_config_json_written_before_loads_to_the_same_values(tmp_path):
    earlier = preset("synthetic").to_dict() | {"data": dict(EARLIER_DATA, data_dir="/data/x")}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(earlier))
    loaded = load_config(path)
    assert {key: getattr(loaded.data, key) for key in EARLIER_DATA} == dict(
        EARLIER_DATA, data_dir="/data/x"
    )
    # `synthetic_classes` was always written as 6; unset now takes the variant's default, also 6
    assert loaded.data == dataclasses.replace(
        preset("synthetic").data, data_dir="/data/x", synthetic_classes=6
    )
    assert loaded.data.synthetic_config() == preset("synthetic").data.synthetic_config()
    assert TrainConfig.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded
