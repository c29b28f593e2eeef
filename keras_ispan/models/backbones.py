"""Backbone registry: `keras.applications` models, their pyramid layers and preprocessing."""

import dataclasses
import difflib
import os
from collections.abc import Callable

import keras

from keras_ispan.models.small_cnn import small_cnn
from keras_ispan.options import BACKBONE_NAMES


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and which of its layers form the pyramid.

    Attributes:
        constructor: `f(input_shape, weights) -> keras.Model` over single frames.
        levels: default pyramid layer names, shallow to deep; the last is the anchor.
        candidates: layer names that make sensible pyramid levels (the tuner's choices).
        preprocessing: a `PixelPreprocessing` mode.
    """

    constructor: Callable
    levels: tuple
    candidates: tuple
    preprocessing: str


def _application(fn):
    def build(input_shape, weights):
        return fn(include_top=False, weights=weights, input_shape=input_shape)

    return build


def _small(input_shape, weights):
    if weights == "imagenet":
        raise ValueError(
            "`small_cnn` has no ImageNet weights; use None or a weights file. "
            f"Received: weights={weights!r}"
        )
    return small_cnn(input_shape)


# name: (keras.applications model, candidate pyramid layers shallow to deep, indices of the default
# levels among them, PixelPreprocessing mode).
_APPLICATIONS = {
    "resnet50": (
        "ResNet50",
        ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
        (1, 2, 3),
        "caffe",
    ),
    "resnet101": (
        "ResNet101",
        ("conv2_block3_out", "conv3_block4_out", "conv4_block23_out", "conv5_block3_out"),
        (1, 2, 3),
        "caffe",
    ),
    "resnet152": (
        "ResNet152",
        ("conv2_block3_out", "conv3_block8_out", "conv4_block36_out", "conv5_block3_out"),
        (1, 2, 3),
        "caffe",
    ),
    "inception_v3": (
        "InceptionV3",
        ("mixed2", "mixed5", "mixed7", "mixed9", "mixed10"),
        (0, 2, 4),
        "tf",
    ),
    "mobilenet_v2": (
        "MobileNetV2",
        ("block_2_add", "block_5_add", "block_9_add", "block_12_add", "block_15_add", "out_relu"),
        (1, 3, 5),
        "tf",
    ),
    "efficientnet_b0": (
        "EfficientNetB0",
        (
            "block2b_add",
            "block3b_add",
            "block4c_add",
            "block5c_add",
            "block6d_add",
            "top_activation",
        ),
        (1, 3, 5),
        "none",
    ),
}


def _registry():
    small = ("block1_out", "block2_out", "block3_out", "block4_out")
    specs = {"small_cnn": BackboneSpec(_small, small[1:], small, "unit")}
    for name, (model, candidates, default, preprocessing) in _APPLICATIONS.items():
        constructor = _application(getattr(keras.applications, model))
        levels = tuple(candidates[i] for i in default)
        specs[name] = BackboneSpec(constructor, levels, candidates, preprocessing)
    return specs


BACKBONES = _registry()
assert tuple(BACKBONES) == BACKBONE_NAMES, "keras_ispan.options.BACKBONE_NAMES is out of date"


def get_backbone_spec(name):
    """Returns the `BackboneSpec` registered as `name`, or raises a `ValueError` listing them."""
    if name not in BACKBONES:
        raise ValueError(
            f"Unknown backbone. Known: {sorted(BACKBONES)}. Received: backbone={name!r}"
        )
    return BACKBONES[name]


def build_backbone(name, image_size, weights=None):
    """Builds the single-frame backbone `name` for `(image_size, image_size, 3)` frames.

    Args:
        name: a key of `BACKBONES`.
        image_size: int, the side of the square frames.
        weights: None (random), `"imagenet"` (keras.applications' download; needs network) or
            the path of a weights file saved from the same backbone.
    """
    spec = get_backbone_spec(name)
    if weights not in (None, "imagenet") and not (
        isinstance(weights, str) and os.path.isfile(weights)
    ):
        raise ValueError(
            "`weights` must be None, 'imagenet' or the path of an existing weights file. "
            f"Received: weights={weights!r}"
        )
    from_file = weights not in (None, "imagenet")
    try:
        model = spec.constructor((image_size, image_size, 3), None if from_file else weights)
    except ValueError:
        raise
    except Exception as error:  # a failed download surfaces as several exception types
        raise RuntimeError(
            f"Could not build backbone {name!r} with weights={weights!r}: {error}. ImageNet "
            "weights are downloaded by keras.applications; offline, pass weights=None or a file."
        ) from error
    if from_file:
        model.load_weights(weights)
    return model


def pyramid_model(backbone, level_names):
    """Turns a single-frame model into one that returns the named layers' outputs, in order.

    Args:
        backbone: a functional `keras.Model`.
        level_names: layer names, shallow to deep; the last is the anchor level.

    Returns:
        A `keras.Model` from the backbone's input to a list of `(batch, h_j, w_j, c_j)` maps.
    """
    if not level_names:
        raise ValueError(f"`levels` must name at least one layer. Received: levels={level_names!r}")
    names = [layer.name for layer in backbone.layers]
    outputs = []
    for level in level_names:
        if level not in names:
            close = difflib.get_close_matches(str(level), names, n=5, cutoff=0.5)
            raise ValueError(
                f"Backbone {backbone.name!r} has no layer {level!r}"
                + (f" (close matches: {close})" if close else "")
                + f". Received: levels={list(level_names)!r}"
            )
        outputs.append(backbone.get_layer(level).output)
    return keras.Model(backbone.inputs, outputs, name=f"{backbone.name}_pyramid")
