"""`DataConfig`, the `data.` section of the experiment config: the library's dataset settings as flat keys.

Each setting is declared once, in the library: `keras_ispan.data.pipeline_config.PipelineConfig` (the
tf.data pipeline) and `keras_ispan.data.synthetic.SyntheticConfig` (the embedded dataset). `DataConfig`
is made from their fields, so a field added to either is a `data.` key with no change here:
- every `PipelineConfig` field is the key `data.<field>`, except those the engine sets from elsewhere
  (`SET_BY_ENGINE`, where each comes from);
- every `SyntheticConfig` field is the key `data.synthetic_<field>`; three keep the shorter names
  configs have always used (`SYNTHETIC_NAMES`: `data.synthetic_classes`, `_frames`, `_size`), and
  the object sizes default to the generator's, scaled to `data.synthetic_size` (`SYNTHETIC_SCALED`).

This module declares only what differs from the library: the keys of the application alone
(`APPLICATION_FIELDS`: the dataset folder, the evaluation batch, TSN scale jitter, the split names),
two library fields narrowed (`NARROWED`: `cache` in memory or not; `resize` adds `auto`), and the
application's defaults (`PIPELINE_DEFAULTS`, `SYNTHETIC_DEFAULTS`: small and cached for the synthetic
preset). A value is checked by the library's own validation, its message naming the `data.` key:
`--set data.num_segments=0` fails with "... Received: data.num_segments=0".

No TensorFlow is imported (command lines validate a config before they import it).
"""

from __future__ import annotations

import dataclasses
import re
import typing

from keras_ispan.checks import check_integer
from keras_ispan.data.pipeline_config import PipelineConfig
from keras_ispan.data.records import RESIZE_IN
from keras_ispan.data.synthetic import DIFFICULTIES, SyntheticConfig, scaled_config
from keras_ispan.options import SYNTHETIC_VARIANTS

__all__ = [
    "DataConfig", "PIPELINE_KEYS", "SET_BY_ENGINE", "SYNTHETIC_KEYS", "make_data_config",
]  # fmt: skip

# `PipelineConfig` fields that are not keys, and where the engine takes them from
# (`training/data/datasets.py`, `pipeline_config`).
SET_BY_ENGINE = {
    "training": "training or evaluation",
    "multi_label": "the dataset's metadata.json",
    "num_classes": "the dataset's labels.txt",
    "crops": "eval.num_crops",
    "num_clips": "eval.num_clips",
    "seed": "train.seed",
    "scales": "data.scale_jitter",
    "max_distort": "data.scale_jitter",
    "resize_ratio": "the model's evaluation transform (classifier_info(model).transform)",
    "drop_remainder": "never: every clip is trained on and evaluated",
    "repeat": "the engine repeats the datasets itself (steps per epoch)",
    "holdout": "the validation split carved from data.train_split",
    "modality": "model.modality (the streams the model reads)",
    "flow_length": "model.flow_length",
}
# the keys the library does not have: (name, type, default)
APPLICATION_FIELDS = (
    ("data_dir", str | None, None),
    ("eval_batch_size", int | None, None),
    ("scale_jitter", bool, False),
    ("crop_scale", float | None, None),
    ("train_split", str, "train"),
    ("val_split", str, "val"),
    ("test_split", str, "test"),
)
# `MotionConfig` takes these `data.synthetic_*` keys (its other fields keep their defaults)
MOTION_FIELDS = ("num_classes", "train", "val", "test", "num_frames", "image_size", "seed")
# library fields the application declares with its own type and default
NARROWED = {
    "cache": (bool, True),  # in memory or not (the library also takes a file prefix)
    "resize": (str, "auto"),  # `auto`: `model` when a GPU is visible, else `pipeline`
}
RESIZE_CHOICES = ("auto", *RESIZE_IN)
PIPELINE_DEFAULTS = {"image_size": 64, "shuffle_buffer": 256}
SYNTHETIC_NAMES = {
    "num_classes": "classes", "num_frames": "frames", "image_size": "size",
    "num_distractors": "distractors",
}  # fmt: skip
SYNTHETIC_DEFAULTS = {"train": 240, "test": 60, "image_size": 64}
# keys whose `None` default takes the variant's value (`synthetic_classes`: 6 appearance, 2 motion)
SYNTHETIC_BY_VARIANT = ("num_classes",)
# sizes that default (`None`) to the generator's, scaled to `image_size` (`scaled_config`)
SYNTHETIC_SCALED = SyntheticConfig.SCALED_SIZES
# fields that default (`None`) to the named `data.synthetic_difficulty`'s (`DIFFICULTIES`, the actor's
# size scaled to `image_size` by `difficulty_fields`); a key that is set overrides its field
SYNTHETIC_BY_DIFFICULTY = tuple(DIFFICULTIES["default"])


def _library_fields(cls, skip=()):
    """`(name, type, default)` of the fields of the library dataclass `cls` (each must have a default:
    a `data.` key may be left out of a config)."""
    hints = typing.get_type_hints(cls)
    fields = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        if default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{field.name} needs a default to be a `data.` key.")
        fields.append((field.name, hints[field.name], default))
    return fields


def _fields(pipeline, synthetic):
    """The fields of a `DataConfig`, in `config.json` order: the dataset folder, the pipeline's keys,
    the application's other keys, the synthetic dataset's."""
    fields = [APPLICATION_FIELDS[0]]
    for name, hint, default in _library_fields(pipeline, skip=SET_BY_ENGINE):
        hint, default = NARROWED.get(name, (hint, PIPELINE_DEFAULTS.get(name, default)))
        fields.append((name, hint, default))
    fields += APPLICATION_FIELDS[1:]
    for name, hint, default in _library_fields(synthetic):
        if (
            name in SYNTHETIC_SCALED
            or name in SYNTHETIC_BY_VARIANT
            or name in SYNTHETIC_BY_DIFFICULTY
        ):
            hint, default = hint | None, None
        fields.append((_synthetic_key(name), hint, SYNTHETIC_DEFAULTS.get(name, default)))
    fields.append(("synthetic_variant", str, "appearance"))
    fields.append(("synthetic_difficulty", str, "default"))
    return [(name, hint, dataclasses.field(default=default)) for name, hint, default in fields]


def _synthetic_key(name: str) -> str:
    return "synthetic_" + SYNTHETIC_NAMES.get(name, name)


def _keyed(error: ValueError, keys: dict) -> str:
    """The message of the library's `error` with its field names (`` `name` ``, `name=`) replaced by
    their `data.` keys."""
    text = str(error)
    for name, key in keys.items():
        text = re.sub(rf"`{name}`", f"`data.{key}`", text)
        text = re.sub(rf"(?<![\w.]){name}=", f"data.{key}=", text)
    return text


class _DataConfigMethods:
    """What `DataConfig` adds to its fields: validation, and the library settings of its keys.

    Class attributes (set by `make_data_config`): `PIPELINE` and `SYNTHETIC`, the library dataclasses;
    `PIPELINE_KEYS`, the keys named as their `PIPELINE` field; `SYNTHETIC_KEYS`, `{field: key}`."""

    def __post_init__(self):
        check_integer("data.eval_batch_size", self.eval_batch_size, optional=True)
        if self.synthetic_variant not in SYNTHETIC_VARIANTS:
            raise ValueError(
                f"data.synthetic_variant must be one of {SYNTHETIC_VARIANTS}. "
                f"Received: data.synthetic_variant={self.synthetic_variant!r}"
            )
        if self.synthetic_difficulty not in DIFFICULTIES:
            raise ValueError(
                f"data.synthetic_difficulty must be one of {sorted(DIFFICULTIES)}. "
                f"Received: data.synthetic_difficulty={self.synthetic_difficulty!r}"
            )
        if self.crop_scale is not None and not 0.0 < self.crop_scale <= 1.0:
            raise ValueError(
                "data.crop_scale must be in (0, 1] or null. "
                f"Received: data.crop_scale={self.crop_scale!r}"
            )
        if self.resize not in RESIZE_CHOICES:
            raise ValueError(
                f"data.resize must be one of {RESIZE_CHOICES}. Received: data.resize={self.resize!r}"
            )
        try:  # the library validates its own fields (resize "auto" stands in as "pipeline")
            self.pipeline_config(training=False, resize="pipeline")
        except ValueError as error:
            raise ValueError(_keyed(error, {name: name for name in self.PIPELINE_KEYS})) from None
        try:
            self.synthetic_config()
        except ValueError as error:
            keys = self.SYNTHETIC_KEYS
            defaulted = [*SYNTHETIC_SCALED, *SYNTHETIC_BY_DIFFICULTY]
            named = [
                f"data.{keys[n]}"
                for n in defaulted
                if getattr(self, keys[n]) is None and f"`{n}`" in str(error)
            ]  # named in the error, but left to their default: say where their value came from
            note = (
                f" ({', '.join(named)}: data.synthetic_difficulty={self.synthetic_difficulty!r} "
                f"scaled to data.synthetic_size={self.synthetic_size})"
            )
            raise ValueError(_keyed(error, keys) + (note if named else "")) from None

    def pipeline_config(self, **engine_values):
        """The `PipelineConfig` of the `data.` keys, with `engine_values` for the fields in
        `SET_BY_ENGINE` (and for keys the engine resolves, such as `resize="auto"`)."""
        values = {name: getattr(self, name) for name in self.PIPELINE_KEYS}
        return self.PIPELINE(**(values | engine_values))

    def synthetic_config(self):
        """The embedded dataset's config of the `data.synthetic_*` keys: a `SyntheticConfig` whose
        difficulty fields left `None` are those of `data.synthetic_difficulty` (the actor's size scaled
        to `data.synthetic_size`) and whose other sizes left `None` are the generator's scaled the same
        way; or for `data.synthetic_variant=motion` a `MotionConfig` of the `MOTION_FIELDS` keys (its
        sizes scaled from its own defaults; its other fields are the variant's)."""
        values = {name: getattr(self, key) for name, key in self.SYNTHETIC_KEYS.items()}
        if self.synthetic_variant == "motion":
            from keras_ispan.data.synthetic_motion import MotionConfig

            values = {name: values[name] for name in (*MOTION_FIELDS, *MotionConfig.SCALED_SIZES)}
            return scaled_config(MotionConfig, values)
        return scaled_config(self.SYNTHETIC, values, difficulty=self.synthetic_difficulty)


def make_data_config(pipeline=PipelineConfig, synthetic=SyntheticConfig) -> type:
    """The frozen dataclass of the `data.` keys made from the library dataclasses `pipeline` and
    `synthetic` (`DataConfig` is made from `PipelineConfig` and `SyntheticConfig`)."""
    namespace = {
        "PIPELINE": pipeline,
        "SYNTHETIC": synthetic,
        "PIPELINE_KEYS": tuple(n for n, _, _ in _library_fields(pipeline, skip=SET_BY_ENGINE)),
        "SYNTHETIC_KEYS": {n: _synthetic_key(n) for n, _, _ in _library_fields(synthetic)},
    }
    cls = dataclasses.make_dataclass(
        "DataConfig",
        _fields(pipeline, synthetic),
        bases=(_DataConfigMethods,),
        namespace=namespace,
        frozen=True,
    )
    cls.__module__ = __name__  # pickled by name (Python 3.11 has no `module=`)
    return cls


DataConfig = make_data_config()
PIPELINE_KEYS = (
    DataConfig.PIPELINE_KEYS
)  # `data.<name>`: the same name as the `PipelineConfig` field
SYNTHETIC_KEYS = DataConfig.SYNTHETIC_KEYS  # `SyntheticConfig` field -> `data.` key
DataConfig.__doc__ = """Dataset and sampling: the `data.` keys (see the module docstring for how they are made).

    The application's own keys:
        data_dir: a dataset folder made by `prepare.py`; `None` generates (once, cached) the embedded
            synthetic dataset described by the `synthetic_*` keys.
        eval_batch_size: batch size for validation and evaluation; `None` uses `batch_size`.
        scale_jitter: TSN multi-scale crops in training (else random crops at one scale, `crop_scale`).
        crop_scale: without `scale_jitter`, the side of the random training crops as a fraction of the
            frame's shorter side; `None` uses the evaluation's scale (`224 / 256`: evaluation resizes the
            shorter side to `S * 256 / 224` and takes the centre `S`), so training and evaluation see
            objects at one scale. `1.0` (the whole shorter side) was the rule before issue 17: evaluation
            saw objects 14 % larger than training did (`python benchmarks/bn_collapse.py`).
        cache: cache the encoded examples in memory before sampling.
        resize: where training crops are resized to `image_size`: `pipeline` (CPU), `model` (one
            crop size per batch, resized by the model's first layer on the accelerator), or `auto`
            (`model` when a GPU is visible). `fit.py` only; tuning resizes in the pipeline.
        train_split, val_split, test_split: split names; a missing `val` split falls back to `test`.

    The pipeline's keys (`keras_ispan.data.pipeline_config.PipelineConfig`, defaults `PIPELINE_DEFAULTS`):
        num_segments (`K` frames per clip), image_size (`S`: frames reach the model as
        `(batch, K, S, S, 3)` uint8), batch_size (global), shuffle_buffer, flip, label_source, reader,
        data_service, dct_method, and any field added to `PipelineConfig`.

    The synthetic dataset's keys (`keras_ispan.data.synthetic.SyntheticConfig`, defaults `SYNTHETIC_DEFAULTS`):
        synthetic_classes, synthetic_train, synthetic_val, synthetic_test, synthetic_frames,
        synthetic_size (frame side; object sizes scale with it), synthetic_seed, and `synthetic_<field>`
        for its other fields; `synthetic_classes` unset takes the variant's default (6, or 2 for motion).
        synthetic_variant: `appearance` (classes differ in the actor's shape) or `motion` (classes
        differ only in the direction of motion, `keras_ispan.data.synthetic_motion`: an RGB ISPAN is
        at chance, the flow stream is not); the motion variant takes only the keys of `MOTION_FIELDS`.
        synthetic_difficulty: a named difficulty (`keras_ispan.data.synthetic.DIFFICULTIES`: `default`,
            `hard`) for the fields of `SYNTHETIC_BY_DIFFICULTY` (`synthetic_target_size`,
            `synthetic_target_visible`, `synthetic_distractors`, `synthetic_same_color_distractors`,
            `synthetic_background_speed`, `synthetic_clutter`, `synthetic_noise`); each, when set,
            overrides its field.
    """
