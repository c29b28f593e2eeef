"""Functional ISPAN video classifiers on `keras.applications` backbones."""

import keras

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO
from keras_ispan.layers import FrameWise
from keras_ispan.layers.outputs import ClassLogits, UniformSaliency
from keras_ispan.layers.preprocessing import PixelPreprocessing
from keras_ispan.layers.validation import check_choice
from keras_ispan.models.backbones import build_backbone, get_backbone_spec, pyramid_model
from keras_ispan.models.heads import attention_head, gap_head, tsn_head
from keras_ispan.options import HEADS


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

    Returns:
        A `keras.Model` with input `frames` `(batch, frames, image_size, image_size, 3)`, uint8
        or float pixels in `[0, 255]`, and output logits `(batch, num_classes)` from a layer
        named `logits` that records `class_names` and `multi_label`.

    Example:

    >>> model = build_classifier(3, backbone="small_cnn", image_size=32)
    >>> import numpy as np
    >>> tuple(model(np.zeros((2, 4, 32, 32, 3), "uint8")).shape)
    (2, 3)
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}"
        )
    check_choice("head", head, HEADS)
    if not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"`image_size` must be an int >= 16. Received: image_size={image_size!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    for arg, value in (
        ("interaction_weight", interaction_weight),
        ("diversity_weight", diversity_weight),
        ("weight_decay", weight_decay),
    ):
        if value < 0:
            raise ValueError(f"`{arg}` must be >= 0. Received: {arg}={value!r}")
    spec = get_backbone_spec(backbone)
    level_names = tuple(levels) if levels else spec.levels
    pyramid = pyramid_model(build_backbone(backbone, image_size, weights), level_names)

    frames = keras.Input((None, image_size, image_size, 3), name="frames")
    x = PixelPreprocessing(spec.preprocessing, resize_ratio=resize_ratio, name="preprocessing")(
        frames
    )
    features = FrameWise(pyramid, name="backbone")(x)
    features = list(features) if isinstance(features, list | tuple) else [features]
    kernel_regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    common = {
        "dropout": dropout,
        "num_classes": num_classes,
        "kernel_regularizer": kernel_regularizer,
    }
    if head in ("ispan", "single"):
        attention = dict(downsample=downsample, fusion=fusion, bias=bias, pooling=attention_pooling)
        logits = attention_head(
            features,
            head=head,
            attention=attention,
            losses=(interaction_weight, diversity_weight, normalize_features, diversity_form),
            **common,
        )
    elif head == "tsn":
        logits = tsn_head(features[-1], **common)
    else:
        logits = gap_head(features[-1], **common)
    outputs = ClassLogits(class_names, multi_label, name="logits")(logits)
    return keras.Model(frames, outputs, name=name or f"{head}_{backbone}")


def export_outputs_model(model):
    """The same layers and weights with outputs `{"logits", "probabilities", "attention"}`.

    Works on a model from `build_classifier` or loaded from its `.keras` file. `probabilities`
    is a softmax or, for multi-label models, a sigmoid; `attention` is the saliency map
    `(batch, frames, h, w)` (uniform for the TSN and GAP heads).
    """
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
