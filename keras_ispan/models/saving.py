"""Loading a trained classifier for inference, and what it records about itself.

`load_classifier` is the one way every inference tool (`training/evaluate.py`, `training/predict.py`,
`serving/export.py`, tuning and the accuracy study) opens a `.keras` file. It never deserialises the
training-only objects that `model.save` puts in the file (optimizer, learning-rate schedule, losses,
metrics: the `compile_config`), so a model written by `fit.py` opens in a fresh process that imported
only `keras_ispan`, whatever optimizer or schedule trained it.

`classifier_info` reads what a classifier records about itself (class names, multi-label, input side,
evaluation transform) in one place.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import zipfile

import keras

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO, ClipTransform, FlowSettings

__all__ = ["ClassifierInfo", "classifier_info", "load_classifier", "set_flow_settings"]

_MISSING_CLASS = re.compile(r"Could not locate (?:class|function) '([^']+)'")


@dataclasses.dataclass(frozen=True)
class ClassifierInfo:
    """What a keras-ispan classifier records about itself.

    Attributes:
        class_names: `num_classes` names (`"0"`, `"1"`, ... when the model recorded none).
        multi_label: independent sigmoid scores (`True`) or a softmax (`False`).
        transform: the evaluation transform (`image_size` is the model's input side `S`).
        num_classes: the number of logits.
        modality: `"rgb"` (input `frames`), `"flow"` (input `flow`, 2L channels) or `"two_stream"`
            (inputs `{"rgb", "flow"}`).
        flow_length: `L`, the flow fields per segment of a flow or two-stream model (0 for RGB).
        flow_settings: how the training flow was computed (`FlowSettings`; recorded by training
            from the dataset), or None (an RGB model, or a flow model that recorded none).
    """

    class_names: tuple
    multi_label: bool
    transform: ClipTransform
    num_classes: int
    modality: str = "rgb"
    flow_length: int = 0
    flow_settings: FlowSettings | None = None

    @property
    def image_size(self) -> int:
        return self.transform.image_size


def _input_side(model) -> int:
    shape = model.inputs[0].shape
    if len(shape) != 5 or shape[2] is None or shape[2] != shape[3]:
        raise ValueError(
            "A keras-ispan classifier takes frames `(batch, frames, S, S, 3)` (or flow stacks "
            f"`(batch, frames, S, S, 2L)`) with a static S. Received: input shape={tuple(shape)}"
        )
    return int(shape[2])


def _modality(model) -> tuple:
    """`(modality, flow_length, the model whose input and preprocessing give the transform)`."""
    from keras_ispan.models.two_stream import is_two_stream, stream_classifier

    if is_two_stream(model):
        flow = stream_classifier(model, "flow")
        return "two_stream", _modality(flow)[1], stream_classifier(model, "rgb")
    try:
        flow_length = int(getattr(model.get_layer("preprocessing"), "flow_length", 0) or 0)
    except ValueError:
        flow_length = 0
    return ("flow" if flow_length else "rgb"), flow_length, model


def classifier_info(model) -> ClassifierInfo:
    """The `ClassifierInfo` of a classifier from `build_classifier` (or loaded from its file).

    Raises:
        ValueError: `model` has no layer named `logits` (not a keras-ispan classifier), or its input
            is not `(batch, frames, S, S, 3)` (flow: `2L` channels; two-stream: the RGB stream's).
    """
    try:
        logits = model.get_layer("logits")
    except ValueError:
        raise ValueError(
            f"Model {model.name!r} is not a keras-ispan classifier: it has no layer named 'logits'."
        ) from None
    modality, flow_length, stream = _modality(model)
    try:
        ratio = float(getattr(stream.get_layer("preprocessing"), "resize_ratio", None) or 0)
    except ValueError:
        ratio = 0.0
    num_classes = int(logits.output.shape[-1])
    names = logits.class_names or [str(i) for i in range(num_classes)]
    return ClassifierInfo(
        class_names=tuple(names),
        multi_label=bool(logits.multi_label),
        transform=ClipTransform(_input_side(stream), ratio or DEFAULT_RESIZE_RATIO),
        num_classes=num_classes,
        modality=modality,
        flow_length=flow_length,
        flow_settings=_flow_settings(model) if flow_length else None,
    )


def flow_preprocessing(model):
    """The `FlowPreprocessing` layer of a flow or two-stream classifier (ValueError for others)."""
    from keras_ispan.models.two_stream import is_two_stream

    stream = model.get_layer("flow_stream") if is_two_stream(model) else model
    layer = stream.get_layer("preprocessing")
    if not hasattr(layer, "flow_settings"):
        raise ValueError(f"Model {model.name!r} reads no optical flow (an RGB classifier).")
    return layer


def set_flow_settings(model, settings):
    """Records in a flow or two-stream classifier how its training flow was computed (a
    `FlowSettings` or its dict; saved with the model, read back by `classifier_info`)."""
    flow_preprocessing(model).set_flow_settings(settings)


def _flow_settings(model):
    recorded = flow_preprocessing(model).flow_settings
    return None if recorded is None else FlowSettings.from_dict(recorded)


def _read_config(path: pathlib.Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"Model file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file (expected a .keras model file).")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a Keras model file (expected a .keras zip archive).")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        missing = {"config.json", "model.weights.h5"} - names
        if missing:
            raise ValueError(
                f"{path} is not a Keras model file: the archive lacks {sorted(missing)}."
            )
        try:
            return json.loads(archive.read("config.json"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: config.json is not valid JSON ({error}).") from None


def load_classifier(path, *, check=True):
    """Loads a classifier saved as `.keras` for inference, without its training configuration.

    Works on files written by `training/fit.py` (which hold the optimizer and its schedule), by
    `training/tune.py`, under mixed precision, and by `model.save` of a `build_classifier` model or of
    its `with_frame_resize` wrapper (the classifier inside it is returned). Only the architecture and
    the weights are read; the model is returned uncompiled.

    Args:
        path: a `.keras` file.
        check: also require a keras-ispan classifier (a `logits` layer, input `(batch, frames, S, S, 3)`).

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: naming `path` and what is missing: not a `.keras` archive, an unknown layer class
            (a class from another package: import it first), weights that do not fit, or (with
            `check`) not a keras-ispan classifier.
    """
    path = pathlib.Path(path)
    config = _read_config(path)
    config.pop("compile_config", None)  # optimizer, schedule, losses: training-only
    try:
        model = keras.saving.deserialize_keras_object(config)
    except Exception as error:  # noqa: BLE001 - re-raised with the file and the missing piece
        match = _MISSING_CLASS.search(str(error))
        if match:
            raise ValueError(
                f"{path} uses the class {match.group(1)!r}, which is not registered: it is not a "
                "keras-ispan layer; import the package that defines it before loading."
            ) from None
        raise ValueError(f"{path} could not be rebuilt as a Keras model: {error}") from None
    if not isinstance(model, keras.Model):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a keras.Model.")
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 - re-raised with the file
        raise ValueError(f"{path}: the weights do not fit the architecture ({error}).") from None
    model = _inner_classifier(model)
    if check:
        try:
            classifier_info(model)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return model


def _has_logits(model) -> bool:
    return any(layer.name == "logits" for layer in model.layers)


def _inner_classifier(model):
    """The classifier inside a training wrapper (`with_frame_resize`: frame resize and flip in front of
    the classifier as a nested model), else `model`. Inference applies the evaluation transform to
    frames of any size, so the wrapper's training-only resize and flip are left out."""
    if _has_logits(model):
        return model
    inner = [
        layer for layer in model.layers if isinstance(layer, keras.Model) and _has_logits(layer)
    ]
    return inner[0] if len(inner) == 1 else model
