"""Typed, validated, frozen training configuration with presets, a JSON file and `key=value` overrides.

The top-level `TrainConfig` holds one section per concern (`data`, `model`, `optim`, `train`, `eval`,
`output`). Every section is a frozen dataclass validated in `__post_init__`, so an invalid value fails when the
config is built, before anything is written. Unknown or misspelt keys are errors naming the key and the closest
valid keys.

Example:
    >>> from training.config.core import load_config
    >>> config = load_config(preset="synthetic", overrides=["optim.learning_rate=0.01", "train.epochs=3"])
    >>> config.optim.learning_rate, config.train.epochs
    (0.01, 3)
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import os
import pathlib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from training.config.sections import (
    BACKBONE_NAMES,
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    OutputConfig,
    TrainLoopConfig,
)

__all__ = [
    "BACKBONE_NAMES",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "OutputConfig",
    "PRESETS",
    "TrainConfig",
    "TrainLoopConfig",
    "apply_overrides",
    "config_from_values",
    "refuse_ignored_stream_keys",
    "load_config",
    "parse_override",
    "preset",
    "read_config_file",
    "save_config",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The whole configuration of one training run.

    Args:
        data: dataset folder (or the embedded synthetic dataset), sampling, batch size.
        model: backbone, head, pyramid levels, loss weights, frozen parts.
        optim: optimiser, schedule, weight decay, clipping, label smoothing.
        train: epochs, strategy, seed, mixed precision, early stopping.
        eval: multi-view test protocol and the frames sweep.
        output: where the run folder goes and what is written into it.
    """

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainLoopConfig = dataclasses.field(default_factory=TrainLoopConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable nested dict (tuples become lists)."""
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Builds a config from a (possibly partial) nested dict; missing keys keep their defaults."""
        return _build(cls, values, prefix="")

    def replace(self, **sections: Any) -> TrainConfig:
        """A copy with whole sections replaced (`config.replace(train=...)`)."""
        return dataclasses.replace(self, **sections)


# ---------------------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------------------

# What the real-dataset presets share. Real datasets do not fit in memory: no cache; small evaluation batches
# (25 frames x 10 crops per clip).
_REAL_DATA = {"image_size": 224, "eval_batch_size": 4, "scale_jitter": True, "cache": False}
_IMAGENET_RESNET50 = {"backbone": "resnet50", "weights": "imagenet", "partial_bn": True}

_TSN_RESNET50 = {
    "data": {**_REAL_DATA, "num_segments": 3, "batch_size": 32},
    "model": {**_IMAGENET_RESNET50, "dropout": 0.8},
    "optim": {
        "optimizer": "sgd",
        "learning_rate": 0.001,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "step",
        "step_epochs": [30, 60],
        "step_gamma": 0.1,
        "warmup_epochs": 0,
        "clipnorm": 20.0,
    },
    "train": {"epochs": 80, "early_stopping_patience": 0},
    "eval": {"num_segments": 25, "num_crops": 10, "frames_sweep": [1, 2, 4, 8, 16, 25]},
}

PRESETS: dict[str, dict[str, Any]] = {
    # The default: a tiny ISPAN on `small_cnn` trained on the embedded synthetic dataset; a few minutes on 2 CPUs.
    "synthetic": {"model": {"bn_momentum": 0.9}, "train": {"epochs": 15}},
    "ucf101": _TSN_RESNET50,
    "hmdb51": _TSN_RESNET50,  # TSN trains HMDB51 with UCF101's recipe
    "charades": {
        "data": {**_REAL_DATA, "num_segments": 8, "batch_size": 16},
        "model": {**_IMAGENET_RESNET50, "dropout": 0.5, "multi_label": True},
        "optim": {
            "optimizer": "sgd",
            "learning_rate": 0.01,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "schedule": "cosine",
            "warmup_epochs": 1,
            "clipnorm": 20.0,
        },
        "train": {"epochs": 40, "monitor": "val_auc"},
        "eval": {"num_segments": 25, "num_crops": 1, "frames_sweep": [1, 2, 4, 8, 16, 25]},
    },
}


def preset(name: str) -> TrainConfig:
    """The named preset (`synthetic`, `ucf101`, `hmdb51`, `charades`) as a `TrainConfig`."""
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset{_suggest(name, PRESETS)}. Valid presets: {sorted(PRESETS)}. "
            f"Received: preset={name!r}"
        )
    config = TrainConfig.from_dict(PRESETS[name])
    return dataclasses.replace(config, output=dataclasses.replace(config.output, preset=name))


# ---------------------------------------------------------------------------------------------------------
# Files and overrides
# ---------------------------------------------------------------------------------------------------------


def add_override_argument(parser, example: str, what: str = "any config key") -> None:
    """Adds the repeatable `--set SECTION.KEY=VALUE` option (parsed by `parse_override`) to `parser`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override {what} (repeatable), e.g. --set {example}",
    )


def parse_override(text: str) -> tuple[str, Any]:
    """Parses `section.key=value`, reading the value as the key's declared type.

    A `str` key takes the text as it is (`output.name=2024` -> `"2024"`, `model.weights=none` ->
    `"none"`; a JSON string literal such as `"007"` is unquoted). A key that may be `None` takes `null` or
    `none` as `None`. Other keys read the text as JSON (`true`/`false`/`none` in any case too), else keep it
    as a string for the type check to reject: `optim.learning_rate=0.01` -> `("optim.learning_rate", 0.01)`,
    `model.levels=["a","b"]` -> a list, `model.levels=a,b` -> `"a,b"` (split when converted),
    `model.levels=null` -> `None`. Unknown keys are read as JSON (and rejected by `apply_overrides`).
    """
    if "=" not in text:
        raise ValueError(
            f"An override must look like section.key=value. Received: override={text!r}"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    hint = _declared_type(key)
    return key, _parse_scalar(raw) if hint is None else _parse_text(hint, raw)


def _declared_type(key: str) -> Any:
    """The type annotation of `section.key` in `TrainConfig`, or None for an unknown key."""
    section, _, name = key.partition(".")
    section_hints = typing.get_type_hints(TrainConfig)
    if section not in section_hints or not dataclasses.is_dataclass(section_hints[section]):
        return None
    return typing.get_type_hints(section_hints[section]).get(name)


def _parse_scalar(raw: str) -> Any:
    raw = raw.strip()
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {"true": True, "false": False, "none": None}.get(raw.lower(), raw)


def _parse_text(hint: Any, raw: str) -> Any:
    """Command-line text as a value of type `hint`: strings stay text, never guessed as numbers."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if type(None) in args and raw.strip().lower() in ("null", "none"):
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:
            return _parse_text(options[0], raw)
        return _parse_scalar(raw)
    if hint is str:
        text = raw.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                pass
        return text
    return _parse_scalar(raw)


def apply_overrides(
    config: TrainConfig, overrides: Mapping[str, Any] | Iterable[str] | None
) -> TrainConfig:
    """Returns `config` with dotted-key overrides applied and validated.

    Args:
        config: the base config.
        overrides: a mapping `{"optim.learning_rate": 0.01}`, or a list of strings
            `["optim.learning_rate=0.01"]` (read by `parse_override`) and/or `(key, value)` pairs whose values
            are taken as they are (what the typed command-line flags pass).
    """
    if not overrides:
        return config
    return TrainConfig.from_dict(_merge_overrides(config.to_dict(), overrides))


def _merge_overrides(
    values: dict[str, Any], overrides: Mapping[str, Any] | Iterable[str] | None
) -> dict[str, Any]:
    """`values` (`{section: {key: value}}`, every key present) with the overrides written into it
    (checked: `section.key` of a known section and key), not yet validated."""
    if not overrides:
        return values
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = [
            parse_override(item) if isinstance(item, str) else tuple(item) for item in overrides
        ]
    for key, value in items:
        parts = key.split(".")
        if len(parts) != 2:
            raise ValueError(
                "An override key must be section.key (sections: "
                f"{[f.name for f in dataclasses.fields(TrainConfig)]}). Received: key={key!r}"
            )
        section, name = parts
        if section not in values:
            raise ValueError(
                f"Unknown config section{_suggest(section, values)}. Received: key={key!r}"
            )
        if name not in values[section]:
            raise ValueError(
                f"Unknown config key{_suggest(name, values[section], prefix=section + '.')}. "
                f"Received: key={key!r}"
            )
        values[section][name] = value
    return values


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    preset: str | None = None,
) -> TrainConfig:
    """Loads a config: a preset (default `synthetic`), then a JSON/TOML file, then the overrides.

    Args:
        path: a `.json` (as written by `save_config`) or `.toml` file; its keys override the preset's. A file
            may name its own preset with the top-level key `"preset"` or `output.preset`.
        overrides: dotted `section.key=value` strings and/or `(key, value)` pairs, or a mapping of dotted
            keys (see `apply_overrides`).
        preset: the preset to start from; `None` uses the file's preset, else `synthetic`.
    """
    values = read_config_file(path) if path is not None else {}
    config = config_from_values(values, overrides, preset=preset, source=path)
    refuse_ignored_stream_keys(config, source=path)
    return config


def refuse_ignored_stream_keys(
    config: TrainConfig, source: str | os.PathLike | None = None
) -> None:
    """Raises `ValueError` naming the first stream key a request sets that its model would ignore
    (`ModelConfig.ignored_stream_keys`: `model.flow_length` on an RGB model, ...), and the file it
    came from. For a merged request (file, then command line); a run's saved `config.json` is a
    record, read with `config_from_values(read_config_file(path))` without it."""
    model = config.model
    ignored = model.ignored_stream_keys()
    if ignored:
        name, value = next(iter(ignored.items()))
        users = "flow and two-stream" if name == "flow_length" else "two-stream"
        where = f" (config file {source}, any overrides merged over it)" if source else ""
        raise ValueError(
            f"model.{name} applies to {users} models; this one is model.modality="
            f"{model.modality!r}, which would ignore it{where}: set model.modality or drop the key. "
            f"Received: model.{name}={value!r}"
        )


def config_from_values(
    values: Mapping[str, Any],
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    preset: str | None = None,
    source: str | os.PathLike | None = None,
) -> TrainConfig:
    """The config of a file's `values` (`read_config_file`): its preset, its sections, then `overrides`.

    Args:
        values: `{section: {key: value}}`, plus optionally a top-level `"preset"`; merged over the preset.
        overrides: applied last (see `apply_overrides`).
        preset: the preset to start from; `None` uses `values["preset"]` or `output.preset`, else
            `synthetic`.
        source: the file the values came from, named in the errors.
    """
    values = dict(values)
    output = values.get("output")
    file_preset = values.pop("preset", None) or (
        output.get("preset") if isinstance(output, Mapping) else None
    )
    merged = globals()["preset"](preset or file_preset or "synthetic").to_dict()
    for section, entries in values.items():
        if section not in merged:
            raise ValueError(
                f"Unknown config section{_suggest(section, merged)} in {source}. Received: section={section!r}"
            )
        if not isinstance(entries, Mapping):
            raise ValueError(
                f"Config section {section!r} in {source} must be a table/object. Received: {section}={entries!r}"
            )
        merged[section].update(entries)
    # the overrides merged before the one validation: a file may set a key that only the command line's
    # value of another makes valid (model.stream_calibration with `fit.py --modality two_stream`)
    merged = _merge_overrides(merged, overrides)
    try:
        return TrainConfig.from_dict(merged)
    except ValueError as error:
        if source is None:
            raise
        where = f"config file {source} and the overrides" if overrides else f"config file {source}"
        raise ValueError(f"{error} (in {where})") from None


def save_config(config: TrainConfig, path: str | os.PathLike) -> pathlib.Path:
    """Writes `config` as indented JSON, atomically (`keras_ispan.io.atomic.write_json_atomic`)."""
    from keras_ispan.io.atomic import write_json_atomic  # here: importing `keras_ispan` loads Keras

    path = pathlib.Path(path)
    write_json_atomic(path, config.to_dict(), indent=2)
    return path


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level object of a `.toml` or JSON config file.

    Raises:
        FileNotFoundError: "Config file not found: <path>".
        ValueError: the file does not parse, or holds something other than an object.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except Exception as error:  # noqa: BLE001 - re-raised with the path
        raise ValueError(f"Could not parse config file {path}: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"Config file {path} must hold an object at the top level.")
    return values


# ---------------------------------------------------------------------------------------------------------
# Typed conversion
# ---------------------------------------------------------------------------------------------------------


def _suggest(name: str, valid: Iterable[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=3, cutoff=0.5)
    text = f" {name!r}"
    if close:
        text += f" (did you mean {', '.join(repr(prefix + c) for c in close)}?)"
    return text


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    return value


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(values, Mapping):
        raise ValueError(
            f"Config section {prefix.rstrip('.') or 'root'} must be a mapping. Received: {values!r}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in values if key not in fields]
    if unknown:
        key = unknown[0]
        raise ValueError(
            f"Unknown config key{_suggest(key, fields, prefix=prefix)}. Received: key={prefix + key!r}"
        )
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _convert(hints[name], value, prefix + name)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return _build(hint, value, key + ".")
    if hint is tuple:  # a bare `tuple` annotation (library dataclasses): items of any type
        hint = tuple[Any, ...]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            with contextlib.suppress(ValueError):  # try the next type of the union
                return _convert(arg, value, key)
        raise ValueError(f"Config key {key} has the wrong type ({hint}). Received: {key}={value!r}")
    if origin is tuple:
        item = args[0] if args else Any
        if isinstance(value, str):
            value = [_parse_text(item, v) for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError(f"Config key {key} must be a list. Received: {key}={value!r}")
        return tuple(_convert(item, v, key) for v in value)
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"Config key {key} must be true or false. Received: {key}={value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"Config key {key} must be an integer. Received: {key}={value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"Config key {key} must be a number. Received: {key}={value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"Config key {key} must be a string. Received: {key}={value!r}")
    return value
