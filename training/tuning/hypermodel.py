"""The ISPAN search space and `ISPANHyperModel`, a `keras_tuner.HyperModel` over the training code.

Every hyperparameter maps to one key of the training config (`TUNABLE`); a trial's values are written
into a copy of the base `TrainConfig`, and the model and datasets are built from that config by the same
functions `training/fit.py` uses. So the defaults of the space are the training defaults, and the best
trial is a config file that `fit.py --config` trains unchanged.

Space entries (the `space` mapping, e.g. from a tuning config file), per hyperparameter name:
- a scalar (or, for `levels`, a list of layer names): fixed to that value;
- a list: the allowed choices (`levels`: a list of lists, or of comma-joined names);
- a mapping `{"min": a, "max": b, "log": true, "step": s}`: a range (numbers only), or
  `{"values": [...], "default": v}`: choices with an explicit default.
A name absent from `space` keeps its default range, restricted to the names in `tune` when given.

The default space (every default is the training config's value, added to a grid that lacks it):

| name | config key | default range |
|---|---|---|
| `levels` | `model.levels` | every pyramid over the backbone's candidate layers that keeps the deepest (anchor) |
| `downsample` | `model.downsample` | `avg`, `max`, `bilinear` |
| `fusion` | `model.fusion` | `sum`, `mean`, `max`, `weighted` |
| `attention_pooling` | `model.attention_pooling` | `l2` (the paper's `A X`), `softmax` (`a X`) |
| `interaction_weight` | `model.interaction_weight` | 0, 1e-5, 1e-4, 1e-3, 1e-2 |
| `diversity_weight` | `model.diversity_weight` | 0, 1e-4, 1e-3, 1e-2, 1e-1 |
| `dropout` | `model.dropout` | 0.0 to 0.9, linear |
| `learning_rate` | `optim.learning_rate` | default / 10 to default * 10, log |
| `weight_decay` | `optim.weight_decay` | 0, 1e-5, 1e-4, 5e-4, 1e-3 |
| `num_segments` | `data.num_segments` | 2, 3, 4, 8 (frames per training clip) |
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import keras_tuner as kt

from keras_ispan.options import DOWNSAMPLE_MODES, FUSION_MODES, POOLING_MODES

# name -> (config section, config key). The order is the order of `declare`.
TUNABLE: dict[str, tuple[str, str]] = {
    "levels": ("model", "levels"),
    "downsample": ("model", "downsample"),
    "fusion": ("model", "fusion"),
    "attention_pooling": ("model", "attention_pooling"),
    "interaction_weight": ("model", "interaction_weight"),
    "diversity_weight": ("model", "diversity_weight"),
    "dropout": ("model", "dropout"),
    "learning_rate": ("optim", "learning_rate"),
    "weight_decay": ("optim", "weight_decay"),
    "num_segments": ("data", "num_segments"),
}

# Searched by default only with `model.head = "ispan"` (fixed for the baseline heads unless in `space`).
ISPAN_ONLY = (
    "levels",
    "downsample",
    "fusion",
    "attention_pooling",
    "interaction_weight",
    "diversity_weight",
)
TEXT_NAMES = ("levels", "downsample", "fusion", "attention_pooling")  # the non-numeric ones
# Log-spaced grids that include zero (the loss or the decay switched off).
INTERACTION_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
DIVERSITY_GRID = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
WEIGHT_DECAY_GRID = (0.0, 1e-5, 1e-4, 5e-4, 1e-3)
SEGMENTS_GRID = (2, 3, 4, 8)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One hyperparameter: `kind` is `fixed`, `choice`, `float` or `int`."""

    name: str
    kind: str
    values: tuple = ()
    min_value: float | None = None
    max_value: float | None = None
    step: float | None = None
    log: bool = False
    default: Any = None

    @property
    def tunable(self) -> bool:
        return self.kind != "fixed"

    def declare(self, hp: kt.HyperParameters) -> Any:
        """Declares this hyperparameter in `hp` and returns its current value."""
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.default)
        if self.kind == "choice":
            return hp.Choice(self.name, list(self.values), default=self.default)
        sampling = "log" if self.log else "linear"
        if self.kind == "int":
            return hp.Int(
                self.name,
                int(self.min_value),
                int(self.max_value),
                step=None if self.step is None else int(self.step),
                sampling=sampling,
                default=self.default,
            )
        return hp.Float(
            self.name,
            self.min_value,
            self.max_value,
            step=self.step,
            sampling=sampling,
            default=self.default,
        )

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"fixed {self.default!r}"
        if self.kind == "choice":
            return f"one of {list(self.values)} (default {self.default!r})"
        scale = "log" if self.log else "linear"
        return f"{self.min_value}..{self.max_value} {scale} (default {self.default!r})"


def levels_to_text(levels: Sequence[str]) -> str:
    """`["a", "b"]` -> `"a,b"` (the form a `Choice` can hold)."""
    return ",".join(levels)


def text_to_levels(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def pyramid_subsets(candidates: Sequence[str]) -> list[str]:
    """Every pyramid over `candidates` (shallow to deep) that keeps the deepest one as its anchor.

    The anchor fixes the attention's output size, so subsets differ only in which shallower levels shape the
    attention: `2 ** (len(candidates) - 1)` choices, from the anchor alone (one level) to all of them.
    """
    candidates = list(candidates)
    if not candidates:
        return []
    *shallow, anchor = candidates
    subsets = []
    for mask in range(2 ** len(shallow)):
        chosen = [name for bit, name in enumerate(shallow) if mask >> bit & 1]
        subsets.append(levels_to_text([*chosen, anchor]))
    return sorted(subsets, key=lambda s: (len(text_to_levels(s)), s))


def default_space(
    base: Mapping[str, Any], level_candidates: Sequence[str], default_levels: Sequence[str]
) -> dict[str, Spec]:
    """The default search space around the training config `base` (a `TrainConfig.to_dict()`).

    Args:
        base: the nested training config; each default below is its value.
        level_candidates: the backbone's candidate pyramid layers, shallow to deep.
        default_levels: the backbone's default pyramid (used when `base` has `model.levels = None`).
    """
    value = {name: base[section][key] for name, (section, key) in TUNABLE.items()}
    levels = value["levels"] or list(default_levels)
    levels_text = levels_to_text(levels)
    subsets = pyramid_subsets(level_candidates)
    if levels_text not in subsets:
        subsets.append(levels_text)
    lr = float(value["learning_rate"])
    return {
        "levels": _choice("levels", subsets, levels_text),
        "downsample": _choice("downsample", DOWNSAMPLE_MODES, value["downsample"]),
        "fusion": _choice("fusion", FUSION_MODES, value["fusion"]),
        "attention_pooling": _choice(
            "attention_pooling", POOLING_MODES, value["attention_pooling"]
        ),
        "interaction_weight": _choice(
            "interaction_weight", INTERACTION_GRID, float(value["interaction_weight"])
        ),
        "diversity_weight": _choice(
            "diversity_weight", DIVERSITY_GRID, float(value["diversity_weight"])
        ),
        "dropout": Spec("dropout", "float", (), 0.0, 0.9, None, False, float(value["dropout"])),
        "learning_rate": Spec("learning_rate", "float", (), lr / 10, lr * 10, None, True, lr),
        "weight_decay": _choice("weight_decay", WEIGHT_DECAY_GRID, float(value["weight_decay"])),
        "num_segments": _choice("num_segments", SEGMENTS_GRID, int(value["num_segments"])),
    }


def resolve_space(
    base: Mapping[str, Any],
    level_candidates: Sequence[str],
    default_levels: Sequence[str],
    space: Mapping[str, Any] | None = None,
    tune: Sequence[str] | None = None,
) -> dict[str, Spec]:
    """The search space: the defaults, restricted by `space` entries and by `tune` (names to search).

    Raises:
        ValueError: an unknown name, an empty or invalid choice list, a bad range, or a space where every
            hyperparameter is fixed (nothing to search).
    """
    space = dict(space or {})
    for name in [*space, *(tune or [])]:
        if name not in TUNABLE:
            close = difflib.get_close_matches(name, TUNABLE, n=2)
            hint = f" (did you mean {close}?)" if close else ""
            raise ValueError(
                f"Unknown hyperparameter {name!r}{hint}; tunable: {list(TUNABLE)}. "
                f"Received: space name={name!r}"
            )
    specs = default_space(base, level_candidates, default_levels)
    if base["model"]["head"] != "ispan":  # the baselines have no pyramid and no ISPAN losses
        for name in ISPAN_ONLY:
            specs[name] = Spec(name, "fixed", default=specs[name].default)
    for name, entry in space.items():
        specs[name] = _parse_entry(name, entry, specs[name])
    if tune is not None:
        for name, spec in specs.items():
            if name not in tune and spec.tunable:
                specs[name] = Spec(name, "fixed", default=spec.default)
    for spec in specs.values():
        _check_values(spec, level_candidates)
    if not any(spec.tunable for spec in specs.values()):
        raise ValueError(
            "The search space is empty: every hyperparameter is fixed, so there is nothing to search. "
            f"Give at least one a list of choices or a range. Received: space={dict(space)!r}, "
            f"tune={None if tune is None else list(tune)!r}"
        )
    return specs


def config_values(specs: Mapping[str, Spec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Trial values -> dotted training-config overrides (`{"model.levels": [...], ...}`)."""
    overrides = {}
    for name, (section, key) in TUNABLE.items():
        if name not in specs:
            continue
        value = values.get(name, specs[name].default)
        if name == "levels":
            value = text_to_levels(value) if isinstance(value, str) else list(value)
        elif name == "num_segments":
            value = int(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        overrides[f"{section}.{key}"] = value
    return overrides


def apply_values(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the nested config dict `base` with dotted `overrides` applied."""
    result = {section: dict(values) for section, values in base.items()}
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        result[section][key] = value
    return result


class ISPANHyperModel(kt.HyperModel):
    """ISPAN classifiers for KerasTuner: one training config per trial, built by the training code.

    Args:
        base_config: the training config every trial starts from (`training.config.core.TrainConfig`).
        specs: the resolved search space (`resolve_space`).
        build_model: `config -> compiled keras.Model` (default: the one `fit.py` uses).
        make_datasets: `config -> (train_dataset, validation_dataset)` of
            `(frames (batch, K, S, S, 3), labels)`; called per trial, since `num_segments` changes K.
        from_dict: nested dict -> config object (default: `TrainConfig.from_dict`).
        make_callbacks: `(config, model) -> callbacks` put first in each trial's `fit` (before the
            tuner's own: `fit.py`'s precise BN, `trial_functions.trial_callbacks`); None: none.
    """

    def __init__(
        self,
        base_config: Any,
        specs: Mapping[str, Spec],
        build_model: Callable[[Any], Any],
        make_datasets: Callable[[Any], tuple[Any, Any]],
        from_dict: Callable[[Mapping[str, Any]], Any] | None = None,
        make_callbacks: Callable[[Any, Any], list] | None = None,
    ):
        super().__init__(name="ispan", tunable=True)
        self.base_config = base_config
        self.specs = dict(specs)
        self._build_model = build_model
        self._make_datasets = make_datasets
        self._from_dict = from_dict or type(base_config).from_dict
        self._make_callbacks = make_callbacks

    def declare(self, hp: kt.HyperParameters) -> dict[str, Any]:
        return {name: spec.declare(hp) for name, spec in self.specs.items()}

    def config_for(self, values: Mapping[str, Any]) -> Any:
        """The training config of a trial's hyperparameter values (missing ones take the defaults)."""
        overrides = config_values(self.specs, values)
        return self._from_dict(apply_values(self.base_config.to_dict(), overrides))

    def build(self, hp: kt.HyperParameters):
        config = self.config_for(self.declare(hp))
        keras.utils.set_random_seed(config.train.seed)  # every trial starts from the same seed
        return self._build_model(config)

    def datasets_for(self, config: Any) -> tuple[Any, Any]:
        """`(train, validation)` datasets of a trial's config."""
        return self._make_datasets(config)

    def fit(self, hp: kt.HyperParameters, model, *args, **kwargs):
        """Builds this trial's datasets (its `num_segments`) and trains; `kwargs` come from the tuner."""
        config = self.config_for(self.declare(hp))
        train_ds, val_ds = self.datasets_for(config)
        kwargs.setdefault("epochs", config.train.epochs)
        kwargs.setdefault("steps_per_epoch", config.train.steps_per_epoch)
        kwargs.setdefault("validation_steps", config.train.validation_steps)
        from training.engine.callbacks import progress_verbosity

        kwargs.setdefault("verbose", progress_verbosity(config.train.verbose))
        kwargs.setdefault("shuffle", False)  # the pipeline shuffles; Keras would only warn
        if self._make_callbacks is not None:  # first: before validation and the tuner's checkpoint
            kwargs["callbacks"] = [
                *self._make_callbacks(config, model),
                *(kwargs.get("callbacks") or []),
            ]
        return model.fit(train_ds, validation_data=val_ds, **kwargs)


def _choice(name: str, grid: Sequence[Any], default: Any) -> Spec:
    values = list(grid)
    if default not in values:
        values.append(default)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        values = sorted(values)
    return Spec(name, "choice", tuple(values), default=default)


def _normalise(name: str, value: Any) -> Any:
    if name == "levels":
        if isinstance(value, list | tuple):
            return levels_to_text(value)
        return str(value)
    if name == "num_segments":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return value
    if isinstance(value, int) and not isinstance(value, bool) and name not in TEXT_NAMES:
        return float(value)
    return value


def _parse_entry(name: str, entry: Any, default_spec: Spec) -> Spec:
    numeric = name not in TEXT_NAMES
    if isinstance(entry, Mapping):
        if "values" in entry:
            values = [_normalise(name, v) for v in entry["values"]]
            if not values:
                raise ValueError(
                    f"Hyperparameter {name!r} has no choices. Received: {name}={entry!r}"
                )
            default = _normalise(name, entry.get("default", values[0]))
            return _from_values(name, values, default)
        if not numeric or "min" not in entry or "max" not in entry:
            raise ValueError(
                f"Hyperparameter {name!r}: a range needs numeric 'min' and 'max' (or give 'values'). "
                f"Received: {name}={entry!r}"
            )
        low, high = entry["min"], entry["max"]
        log = bool(entry.get("log", False))
        if not low < high or (log and low <= 0):
            raise ValueError(
                f"Hyperparameter {name!r}: need min < max (and min > 0 on a log scale). "
                f"Received: {name}={entry!r}"
            )
        kind = "int" if name == "num_segments" else "float"
        default = default_spec.default if low <= default_spec.default <= high else None
        return Spec(name, kind, (), low, high, entry.get("step"), log, default)
    if isinstance(entry, list | tuple) and not (name == "levels" and _is_name_list(entry)):
        values = [_normalise(name, v) for v in entry]
        if not values:
            raise ValueError(f"Hyperparameter {name!r} has no choices. Received: {name}={entry!r}")
        default = default_spec.default if default_spec.default in values else values[0]
        return _from_values(name, values, default)
    return Spec(name, "fixed", default=_normalise(name, entry))


def _is_name_list(entry: Sequence[Any]) -> bool:
    """A flat list of layer names without commas is one fixed pyramid, not a list of choices."""
    return (
        bool(entry) and all(isinstance(v, str) and "," not in v for v in entry) and len(entry) > 1
    )


def _from_values(name: str, values: list[Any], default: Any) -> Spec:
    unique = list(dict.fromkeys(values))
    if len(unique) == 1:
        return Spec(name, "fixed", default=unique[0])
    if len({type(v) for v in unique}) > 1:
        raise ValueError(
            f"Hyperparameter {name!r}: every choice must have the same type. Received: {name}={values!r}"
        )
    return Spec(name, "choice", tuple(unique), default=default)


def _check_values(spec: Spec, level_candidates: Sequence[str]) -> None:
    values = list(spec.values) if spec.kind == "choice" else []
    if spec.kind == "fixed":
        values = [spec.default]
    bounds = [v for v in (spec.min_value, spec.max_value) if v is not None]
    name = spec.name
    allowed = {
        "downsample": DOWNSAMPLE_MODES,
        "fusion": FUSION_MODES,
        "attention_pooling": POOLING_MODES,
    }.get(name)
    for value in values:
        if allowed is not None and value not in allowed:
            raise ValueError(
                f"Hyperparameter {name!r} must be one of {allowed}. Received: {name}={value!r}"
            )
        if name == "levels":
            if not text_to_levels(value):
                raise ValueError(
                    f"Hyperparameter 'levels' needs at least one layer. Received: levels={value!r}"
                )
            unknown = [
                n for n in text_to_levels(value) if level_candidates and n not in level_candidates
            ]
            if unknown and spec.kind != "fixed":
                raise ValueError(
                    f"Hyperparameter 'levels' names layers that are not candidates {list(level_candidates)}: "
                    f"{unknown}. Received: levels={value!r}"
                )
    for value in [*values, *bounds]:
        if name in TEXT_NAMES:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            raise ValueError(
                f"Hyperparameter {name!r} must be a number. Received: {name}={value!r}"
            )
        if name == "learning_rate" and value <= 0:
            raise ValueError(
                f"Hyperparameter 'learning_rate' must be > 0. Received: learning_rate={value!r}"
            )
        if name == "dropout" and not 0 <= value < 1:
            raise ValueError(
                f"Hyperparameter 'dropout' must be in [0, 1). Received: dropout={value!r}"
            )
        if name == "num_segments" and (value < 1 or int(value) != value):
            raise ValueError(
                f"Hyperparameter 'num_segments' must be a positive integer. Received: num_segments={value!r}"
            )
        if value < 0:
            raise ValueError(f"Hyperparameter {name!r} must be >= 0. Received: {name}={value!r}")
