"""Two-stream classifiers: an RGB and a flow stream in one model, fused late or at the features.

Simonyan and Zisserman (NIPS 2014) and TSN (Wang et al., ECCV 2016) classify a video with a spatial
stream on RGB frames and a temporal stream on stacked optical flow and fuse the streams' scores; the
journal version of ISPAN compares fusion methods. Here the two streams are `build_classifier` models
nested as layers named `rgb_stream` and `flow_stream` (each keeps its ISPAN losses), and the fusion is

- `"late"`: `LateFusion` of the streams' logits, RGB:flow = 1:1.5 by default (TSN), fixed weights,
  each stream's logits divided by its temperature (1 unless set: `set_stream_temperatures`, fitted
  on the validation split by `training.evaluation.calibration`, which keeps a confident stream that
  cannot know the answer from drowning the other);
- `"learned"`: the same with the weights learned (`LateFusion(learned=True)`);
- `"concat"`: feature-level fusion: the two streams' clip features (the ISPAN output after spatial
  pooling; the clip-pooled features of the GAP head) concatenated, dropout, one new classifier.

The model takes `{"rgb": (batch, K, S, S, 3), "flow": (batch, K, S, S, 2L)}` (uint8 or float in
`[0, 255]`) and, like `build_classifier`'s, outputs the fused logits from a `ClassLogits` layer named
`logits` (one output: `fit` with one loss). `export_outputs_model` adds each stream's probabilities.
"""

import keras

from keras_ispan.layers.late_fusion import TSN_STREAM_WEIGHTS, LateFusion
from keras_ispan.layers.outputs import ClassLogits
from keras_ispan.layers.validation import check_choice
from keras_ispan.options import STREAM_FUSIONS, STREAMS

__all__ = [
    "STREAM_FUSIONS",
    "STREAMS",
    "build_two_stream",
    "is_two_stream",
    "set_stream_temperatures",
    "stream_classifier",
    "two_stream_from_streams",
    "two_stream_outputs_model",
]

# the clip feature each head exposes to feature-level fusion
_FEATURE_LAYERS = ("spatial_pool", "clip_pool")


def is_two_stream(model) -> bool:
    """Whether `model` is a two-stream classifier (it has a nested `rgb_stream` and `flow_stream`)."""
    names = {layer.name for layer in model.layers}
    return {"rgb_stream", "flow_stream"} <= names


def _clip_feature(stream):
    for name in _FEATURE_LAYERS:
        try:
            return stream.get_layer(name).output
        except ValueError:
            continue
    raise ValueError(
        f"Feature-level fusion needs a stream with a clip feature (the ISPAN, single-level or GAP "
        f"head; layer {' or '.join(_FEATURE_LAYERS)}); {stream.name!r} has none (the TSN head "
        "averages per-frame scores). Use fusion='late'. Received: fusion='concat'"
    )


def _stream_submodel(stream, name, fusion):
    """The stream as a nested model with outputs `[logits, attention]` (+ the clip feature)."""
    from keras_ispan.models.classifier import export_outputs_model

    outputs = export_outputs_model(stream).output
    nested = [outputs["logits"], outputs["attention"]]
    if fusion == "concat":
        nested.append(_clip_feature(stream))
    return keras.Model(stream.input, nested, name=f"{name}_stream")


def _check_streams(rgb_model, flow_model):
    rgb_shape, flow_shape = tuple(rgb_model.input_shape), tuple(flow_model.input_shape)
    if rgb_shape[-1] != 3 or len(rgb_shape) != 5:
        raise ValueError(
            "`rgb_model` must take frames `(batch, frames, S, S, 3)`. "
            f"Received: rgb_model.input_shape={rgb_shape}"
        )
    if len(flow_shape) != 5 or flow_shape[-1] % 2 or flow_shape[-1] < 2:
        raise ValueError(
            "`flow_model` must take flow stacks `(batch, frames, S, S, 2L)`. "
            f"Received: flow_model.input_shape={flow_shape}"
        )
    rgb_logits, flow_logits = rgb_model.get_layer("logits"), flow_model.get_layer("logits")
    if rgb_model.output_shape != flow_model.output_shape or (
        rgb_logits.class_names != flow_logits.class_names
    ):
        raise ValueError(
            "The streams must classify the same classes. Received: rgb classes="
            f"{rgb_logits.class_names or rgb_model.output_shape[-1]}, flow classes="
            f"{flow_logits.class_names or flow_model.output_shape[-1]}"
        )
    if rgb_logits.multi_label != flow_logits.multi_label:
        raise ValueError(
            "The streams must both be multi-label or both single-label. "
            f"Received: multi_label={rgb_logits.multi_label} (rgb), {flow_logits.multi_label} (flow)"
        )


def _fuse(layers, rgb, flow):
    """Fused logits from the nested streams' outputs, with the fusion `layers` (by name)."""
    if "fusion_classifier" in layers:  # concat
        x = layers["fusion"]([rgb[2], flow[2]])
        x = layers["fusion_dropout"](x)
        return layers["logits"](layers["fusion_classifier"](x))
    return layers["logits"](layers["fusion"]([rgb[0], flow[0]]))


def two_stream_from_streams(
    rgb_model,
    flow_model,
    fusion="late",
    stream_weights=TSN_STREAM_WEIGHTS,
    dropout=0.5,
    name="two_stream",
    temperatures=None,
):
    """A two-stream classifier over an RGB and a flow classifier (trained or not; weights shared).

    Args:
        rgb_model: a `build_classifier` model (or one loaded with `load_classifier`) on RGB frames.
        flow_model: the same with `modality="flow"`, over the same classes.
        fusion: `"late"`, `"learned"` or `"concat"` (see the module docstring).
        stream_weights: `(rgb, flow)` relative weights of late fusion (initial ones with `"learned"`).
        dropout: dropout before the classifier of `"concat"`.
        temperatures: `(rgb, flow)` temperatures of late fusion (default 1, 1); not with `"concat"`.

    Returns:
        A `keras.Model` with inputs `{"rgb": (batch, K, S, S, 3), "flow": (batch, K, S, S, 2L)}` and
        the fused logits `(batch, num_classes)` from a `ClassLogits` layer named `logits`. With
        `"concat"` the streams' own classifiers take no part in the fused output (their logits are
        still reported by `two_stream_outputs_model`; they are meaningful when the streams were
        trained before fusion).

    Raises:
        ValueError: unknown `fusion`, inputs of the wrong kind, streams over different classes,
            `"concat"` with a head that has no clip feature (TSN) or with `temperatures`.
    """
    check_choice("fusion", fusion, STREAM_FUSIONS)
    if fusion == "concat" and temperatures is not None:
        raise ValueError(
            "`temperatures` scale late fusion's logits; fusion='concat' has none. "
            f"Received: temperatures={temperatures!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    _check_streams(rgb_model, flow_model)
    rgb_in = keras.Input(tuple(rgb_model.input_shape[1:]), name="rgb")
    flow_in = keras.Input(tuple(flow_model.input_shape[1:]), name="flow")
    logits = rgb_model.get_layer("logits")
    layers = {
        "logits": ClassLogits(logits.class_names, logits.multi_label, name="logits"),
    }
    if fusion == "concat":
        layers["fusion"] = keras.layers.Concatenate(name="fusion")
        layers["fusion_dropout"] = keras.layers.Dropout(dropout, name="fusion_dropout")
        layers["fusion_classifier"] = keras.layers.Dense(
            int(rgb_model.output_shape[-1]), name="fusion_classifier"
        )
    else:
        layers["fusion"] = LateFusion(
            stream_weights, learned=fusion == "learned", temperatures=temperatures, name="fusion"
        )
    rgb = _stream_submodel(rgb_model, "rgb", fusion)(rgb_in)
    flow = _stream_submodel(flow_model, "flow", fusion)(flow_in)
    return keras.Model({"rgb": rgb_in, "flow": flow_in}, _fuse(layers, rgb, flow), name=name)


def build_two_stream(
    num_classes,
    fusion="late",
    stream_weights=TSN_STREAM_WEIGHTS,
    flow_length=5,
    rgb_weights=None,
    flow_weights=None,
    name="two_stream",
    **classifier_kwargs,
):
    """Builds both streams with `build_classifier` and fuses them (`two_stream_from_streams`).

    Args:
        num_classes: int >= 1.
        fusion, stream_weights: see `two_stream_from_streams`.
        flow_length: `L`, the flow fields per segment.
        rgb_weights: the RGB backbone's weights (`build_classifier(weights=...)`).
        flow_weights: the flow backbone's (`None`, `"imagenet"`, a file, or an RGB `keras.Model`),
            transferred by cross-modality initialisation; default: the RGB stream's backbone, so
            with ImageNet RGB weights both streams start from ImageNet as in TSN.
        **classifier_kwargs: every other `build_classifier` argument, for both streams (the
            `dropout` also before the `"concat"` classifier).

    Returns:
        The two-stream `keras.Model` (see `two_stream_from_streams`).
    """
    from keras_ispan.models.classifier import build_classifier

    for key in ("modality", "weights", "name"):
        if key in classifier_kwargs:
            raise ValueError(
                f"`build_two_stream` sets `{key}` of each stream itself. "
                f"Received: {key}={classifier_kwargs[key]!r}"
            )
    rgb = build_classifier(num_classes, weights=rgb_weights, name="rgb", **classifier_kwargs)
    if flow_weights is None and rgb_weights is not None:
        flow_weights = rgb
    flow = build_classifier(
        num_classes,
        weights=flow_weights,
        modality="flow",
        flow_length=flow_length,
        name="flow",
        **classifier_kwargs,
    )
    dropout = classifier_kwargs.get("dropout", 0.5)
    return two_stream_from_streams(rgb, flow, fusion, stream_weights, dropout, name)


def _rewire(model):
    """`(inputs, rgb outputs, flow outputs, fused logits)` on new inputs over `model`'s layers."""
    rgb_stream, flow_stream = model.get_layer("rgb_stream"), model.get_layer("flow_stream")
    inputs = {
        "rgb": keras.Input(tuple(rgb_stream.input_shape[1:]), name="rgb"),
        "flow": keras.Input(tuple(flow_stream.input_shape[1:]), name="flow"),
    }
    rgb, flow = rgb_stream(inputs["rgb"]), flow_stream(inputs["flow"])
    names = ("logits", "fusion", "fusion_dropout", "fusion_classifier")
    layers = {layer.name: layer for layer in model.layers if layer.name in names}
    return inputs, rgb, flow, _fuse(layers, rgb, flow)


def two_stream_outputs_model(model):
    """The same layers and weights with outputs `{"logits", "probabilities", "attention",
    "rgb_probabilities", "flow_probabilities", "flow_attention"}` (the RGB stream's saliency is
    `attention`, as for a one-stream classifier). Works on a model loaded from its `.keras` file."""
    inputs, rgb, flow, logits = _rewire(model)
    multi_label = model.get_layer("logits").multi_label
    activation = "sigmoid" if multi_label else "softmax"

    def probabilities(x, name):
        return keras.layers.Activation(activation, dtype="float32", name=name)(x)

    outputs = {
        "logits": logits,
        "probabilities": probabilities(logits, "probabilities"),
        "attention": rgb[1],
        "rgb_probabilities": probabilities(rgb[0], "rgb_probabilities"),
        "flow_probabilities": probabilities(flow[0], "flow_probabilities"),
        "flow_attention": flow[1],
    }
    return keras.Model(inputs, outputs, name=f"{model.name}_export")


def set_stream_temperatures(model, temperatures):
    """Sets the `(rgb, flow)` temperatures of a two-stream model's late fusion (`LateFusion`).

    Raises:
        ValueError: `model` is not a two-stream model with late fusion (`"late"` or `"learned"`),
            or `temperatures` are not two positive numbers.
    """
    fusion = model.get_layer("fusion") if is_two_stream(model) else None
    if not isinstance(fusion, LateFusion):
        raise ValueError(
            "Stream temperatures need a two-stream model with late fusion ('late' or 'learned'). "
            f"Received: model={model.name!r} with fusion layer {type(fusion).__name__}"
        )
    fusion.set_temperatures(tuple(temperatures))


def stream_classifier(model, stream):
    """One stream of a two-stream model as the one-stream classifier it was built from (input
    `frames` or `flow`, output the stream's logits from its `logits` layer; shared weights): the
    RGB-only path for clients without flow, and the per-stream scores of evaluation."""
    check_choice("stream", stream, STREAMS)
    nested = model.get_layer(f"{stream}_stream")
    return keras.Model(
        nested.input, nested.get_layer("logits").output, name=f"{model.name}_{stream}"
    )
