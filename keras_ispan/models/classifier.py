"""Functional ISPAN video classifiers on `keras.applications` backbones."""

import keras

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO
from keras_ispan.layers import FrameWise
from keras_ispan.layers.flow_preprocessing import FlowPreprocessing
from keras_ispan.layers.outputs import ClassLogits, UniformSaliency
from keras_ispan.layers.preprocessing import PixelPreprocessing
from keras_ispan.layers.validation import check_choice
from keras_ispan.models.backbones import build_backbone, get_backbone_spec, pyramid_model
from keras_ispan.models.flow import flow_backbone
from keras_ispan.models.heads import attention_head, gap_head, tsn_head
from keras_ispan.options import CLASSIFIER_INITIALIZERS, HEADS, STREAMS


def build_classifier(
    num_classes,
    backbone="small_cnn",
    head="ispan",
    levels=None,
    image_size=112,
    weights=None,
    multi_label=False,
    dropout=0.5,
    downsample="avg",
    fusion="sum",
    bias="position",
    attention_pooling="l2",
    interaction_weight=1e-4,
    diversity_weight=1e-3,
    normalize_features=True,
    diversity_form="paper",
    class_names=None,
    weight_decay=0.0,
    resize_ratio=DEFAULT_RESIZE_RATIO,
    name=None,
    modality="rgb",
    flow_length=5,
    classifier_initializer="glorot_uniform",
    num_frames=None,
):
    """Builds a video classifier: frames -> backbone pyramid (frame-wise) -> head -> logits.

    Args:
        num_classes: int >= 1.
        backbone: a key of `keras_ispan.models.BACKBONES`.
        head: `"ispan"` (pyramid attention with both losses), `"single"` (attention on the
            anchor level only, no losses), `"tsn"` (average consensus of per-frame scores) or
            `"gap"` (average pooling over frames and positions).
        levels: pyramid layer names, shallow to deep (the last is the anchor); None for the
            backbone's defaults.
        image_size: side of the square frames (static; the number of frames is always dynamic).
        weights: backbone weights: None, `"imagenet"` or a file path.
        multi_label: sigmoid (independent) scores instead of a softmax.
        dropout: dropout rate before the classifier, in `[0, 1)`.
        downsample, fusion, bias: see `PyramidAttention`.
        attention_pooling: `PyramidAttention(pooling=...)`: `"l2"` (the paper's `A X`) or
            `"softmax"` (`a X`, whose scale does not depend on the number of frames).
        interaction_weight: weight of `PCARegularizer` (0 disables it).
        diversity_weight: weight of `AttentionDiversityRegularizer` (0 disables it).
        normalize_features: `PCARegularizer(normalize_features=...)`.
        diversity_form: `AttentionDiversityRegularizer(form=...)`: `"paper"` or `"cosine"`
            (scale-free).
        class_names: optional list of `num_classes` names stored in the model.
        weight_decay: L2 factor on the head's kernels (the backbone's decay belongs to the
            optimiser).
        resize_ratio: the evaluation transform's shorter side over `image_size`
            (`keras_ispan.io.transform.ClipTransform`), recorded in the model's
            `preprocessing` layer for evaluation, prediction and export.
        modality: `"rgb"` (frames) or `"flow"` (the flow stream: TSN's stacked optical flow,
            `keras_ispan.models.flow`); the two-stream model is `build_two_stream`.
        flow_length: `L`, the flow fields stacked per segment (`"flow"` only; TSN: 5).
        classifier_initializer: the initial kernel of the last `Dense` layer: `"glorot_uniform"`
            (Keras' default) or `"zeros"` (every head starts at logits 0, cross-entropy
            `ln(num_classes)`; the training application's `model.classifier_initializer`).
            Why zeros: the attention heads' `l2` pooling (`A X`) returns `sqrt(P)` times the mean
            feature for near-uniform initial attention over `P = frames * h * w` positions, so
            with Glorot the initial logits are about `sqrt(P)` times an average-pooling head's
            (measured on the hard synthetic data, `small_cnn`, P = 128: initial cross-entropy 12.5
            for ISPAN and 15.0 for single-level attention against 2.2 for TSN, `ln 6` = 1.79;
            `benchmarks/loss_scales.py --difficulty hard`). A zero-initialised last layer is what
            ViT attaches as its classification head for fine-tuning (Dosovitskiy et al., ICLR
            2021, Sec. 3.2); the other layers' gradients flow from the first update on. Measured
            trade-off (issue 17, README accuracy study): on the hard data it removed ISPAN's
            one-class collapse, on the embedded default data it learnt much more slowly (test top-1
            0.583 against 0.967 after `fit.py`'s 15 epochs), hence not the default.
            `"glorot_over_sqrt_p"`: Glorot with its limit divided by `sqrt(P)`, `P = num_frames * h
            * w` of the anchor level, so that the initial logits have an average-pooling head's
            scale (`keras_ispan.models.heads.classifier_kernel_initializer`); equal to Glorot for
            the heads without the `l2` pooling (`"tsn"`, `"gap"`, `attention_pooling="softmax"`).
            Measured (README accuracy study, 3 seeds, 8 epochs, P = 128): ISPAN test top-1 0.386 on
            the hard data (Glorot 0.201, no run above 33 % one class) and 0.999 on the default data
            (Glorot 0.971); not yet the default (every README figure was measured with Glorot).
        num_frames: the training frames `T` (the model's frame axis is dynamic, so the builder
            cannot see it), read only by `"glorot_over_sqrt_p"`; None counts the positions of one
            frame (`P = h * w`: the logits then start `sqrt(T)` times an average-pooling head's).
            An int >= 1 or None.

    With `modality="flow"`, `weights` may also be a built RGB `keras.Model` of the same backbone
    (a trained RGB classifier): the flow backbone starts from it (or from `"imagenet"` / a file)
    by cross-modality initialisation (`keras_ispan.models.flow.cross_modality_init`; TSN,
    Wang et al. ECCV 2016, Sec. 3.2); with None it starts at random.

    Returns:
        A `keras.Model` with input `frames` `(batch, frames, image_size, image_size, 3)`, uint8
        or float pixels in `[0, 255]` (flow: input `flow` `(batch, frames, S, S, 2L)`, quantised
        flow in `[0, 255]`, channels `[x_1, y_1, ..., x_L, y_L]`, normalised by a
        `FlowPreprocessing` layer named `preprocessing`), and output logits
        `(batch, num_classes)` from a layer named `logits` that records `class_names` and
        `multi_label`.

    Example:

    >>> model = build_classifier(3, backbone="small_cnn", image_size=32)
    >>> import numpy as np
    >>> tuple(model(np.zeros((2, 4, 32, 32, 3), "uint8")).shape)
    (2, 3)
    """
    _check_arguments(
        num_classes, head, image_size, dropout, modality, classifier_initializer, num_frames,
        interaction_weight=interaction_weight, diversity_weight=diversity_weight,
        weight_decay=weight_decay,
    )  # fmt: skip
    frames, x, single_frame = _stream_input(
        modality, backbone, image_size, weights, resize_ratio, flow_length
    )
    level_names = tuple(levels) if levels else get_backbone_spec(backbone).levels
    pyramid = pyramid_model(single_frame, level_names)
    features = FrameWise(pyramid, name="backbone")(x)
    features = list(features) if isinstance(features, list | tuple) else [features]
    kernel_regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    common = {
        "dropout": dropout,
        "num_classes": num_classes,
        "kernel_regularizer": kernel_regularizer,
        "classifier_initializer": classifier_initializer,
    }
    if head in ("ispan", "single"):
        attention = dict(downsample=downsample, fusion=fusion, bias=bias, pooling=attention_pooling)
        logits = attention_head(
            features,
            head=head,
            attention=attention,
            losses=(interaction_weight, diversity_weight, normalize_features, diversity_form),
            num_frames=num_frames,
            **common,
        )
    else:
        logits = (tsn_head if head == "tsn" else gap_head)(features[-1], **common)
    outputs = ClassLogits(class_names, multi_label, name="logits")(logits)
    suffix = "_flow" if modality == "flow" else ""
    return keras.Model(frames, outputs, name=name or f"{head}_{backbone}{suffix}")


def _stream_input(modality, backbone, image_size, weights, resize_ratio, flow_length):
    """`(input, preprocessed input, single-frame backbone)` of an RGB or a flow stream."""
    if modality == "flow":
        inputs = keras.Input((None, image_size, image_size, 2 * flow_length), name="flow")
        x = FlowPreprocessing(flow_length, resize_ratio=resize_ratio, name="preprocessing")(inputs)
        return inputs, x, flow_backbone(backbone, image_size, flow_length, weights)
    spec = get_backbone_spec(backbone)
    inputs = keras.Input((None, image_size, image_size, 3), name="frames")
    x = PixelPreprocessing(spec.preprocessing, resize_ratio=resize_ratio, name="preprocessing")(
        inputs
    )
    return inputs, x, build_backbone(backbone, image_size, weights)


def export_outputs_model(model):
    """The same layers and weights with outputs `{"logits", "probabilities", "attention"}`.

    Works on a model from `build_classifier` or loaded from its `.keras` file. `probabilities`
    is a softmax or, for multi-label models, a sigmoid; `attention` is the saliency map
    `(batch, frames, h, w)` (uniform for the TSN and GAP heads). A two-stream model gets
    `keras_ispan.models.two_stream.two_stream_outputs_model`'s outputs (each stream's too).
    """
    from keras_ispan.models.two_stream import is_two_stream, two_stream_outputs_model

    if is_two_stream(model):
        return two_stream_outputs_model(model)
    logits = model.output
    multi_label = model.get_layer("logits").multi_label
    probabilities = keras.layers.Activation(
        "sigmoid" if multi_label else "softmax", dtype="float32", name="probabilities"
    )(logits)
    try:
        attention = model.get_layer("pyramid_attention").output[1]
    except ValueError:
        anchor = model.get_layer("backbone").output
        anchor = anchor[-1] if isinstance(anchor, list | tuple) else anchor
        attention = UniformSaliency(dtype="float32", name="uniform_saliency")(anchor)
    return keras.Model(
        model.input,
        {"logits": logits, "probabilities": probabilities, "attention": attention},
        name=f"{model.name}_export",
    )


def _check_arguments(
    num_classes, head, image_size, dropout, modality, classifier_initializer, num_frames, **weights
):
    """`build_classifier`'s argument checks: a `ValueError` naming the argument and its value."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}"
        )
    check_choice("head", head, HEADS)
    if not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"`image_size` must be an int >= 16. Received: image_size={image_size!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    for arg, value in weights.items():  # interaction_weight, diversity_weight, weight_decay
        if value < 0:
            raise ValueError(f"`{arg}` must be >= 0. Received: {arg}={value!r}")
    check_choice("modality", modality, STREAMS)
    check_choice("classifier_initializer", classifier_initializer, CLASSIFIER_INITIALIZERS)
    if num_frames is not None and (not isinstance(num_frames, int) or num_frames < 1):
        raise ValueError(
            f"`num_frames` must be an int >= 1 or None. Received: num_frames={num_frames!r}"
        )
