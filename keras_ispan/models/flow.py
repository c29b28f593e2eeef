"""The flow stream's backbone: the RGB backbones on `2L` channels, initialised across modalities.

Wang et al., "Temporal Segment Networks" (ECCV 2016), Sec. 3.2 "cross modality pre-training":
a flow network starts from the RGB network's weights; its first convolution, which sees `2L`
flow channels instead of 3 colours, gets the RGB kernel averaged over the colour channels and
replicated `2L` times. Every other layer is copied unchanged.
"""

import keras
import numpy as np

from keras_ispan.models.backbones import build_backbone, get_backbone_spec

__all__ = ["cross_modality_init", "flow_backbone"]


def _all_layers(model):
    """Every layer inside `model`, nested models and wrappers (`FrameWise`) opened, depth first."""
    found = []
    stack = [model]
    while stack:
        layer = stack.pop(0)
        found.append(layer)
        if isinstance(layer, keras.Model):
            stack[:0] = list(layer.layers)
        elif isinstance(layer, keras.layers.Wrapper):
            stack.insert(0, layer.layer)
    return found


def _first_convolution(model):
    for layer in _all_layers(model):
        kernel = getattr(layer, "kernel", None)
        if isinstance(layer, keras.layers.Conv2D) and kernel is not None:
            return layer
    raise ValueError(f"Model {model.name!r} has no Conv2D layer to initialise across modalities.")


def cross_modality_init(flow_model, rgb_model):
    """Copies `rgb_model`'s weights into `flow_model`, averaging the first convolution's kernel.

    Layers are matched by name (the same backbone builder gives the same names). The first
    `Conv2D` of `flow_model`, kernel `(kh, kw, 2L, C)`, receives the RGB kernel `(kh, kw, 3, C)`
    averaged over its 3 input channels and repeated `2L` times (its bias, if any, unchanged);
    every other layer with weights receives the RGB layer's weights as they are.

    Args:
        flow_model: a `keras.Model` on `2L`-channel inputs (a backbone from `flow_backbone`, or a
            model containing one).
        rgb_model: a built `keras.Model` holding the same backbone on RGB frames: a backbone, its
            pyramid, or a whole classifier from `build_classifier`.

    Returns:
        `flow_model`, with its weights set in place.

    Raises:
        ValueError: a layer of `flow_model` with weights has no namesake in `rgb_model`, or the
            weights' shapes differ anywhere but in the first convolution's input channels.
    """
    first = _first_convolution(flow_model)
    source = {}
    for layer in _all_layers(rgb_model):
        source.setdefault(layer.name, layer)
    for layer in _all_layers(flow_model):
        if isinstance(layer, keras.Model | keras.layers.Wrapper) or not layer.weights:
            continue
        rgb = source.get(layer.name)
        if rgb is None or len(rgb.weights) != len(layer.weights):
            raise ValueError(
                f"RGB model {rgb_model.name!r} has no layer {layer.name!r} with the weights of the "
                "flow model's: build both from the same backbone. "
                f"Received: rgb_model={rgb_model.name!r}"
            )
        values = [np.asarray(w) for w in rgb.get_weights()]
        if layer is first:
            channels = int(layer.kernel.shape[2])
            mean = values[0].mean(axis=2, keepdims=True)
            values[0] = np.repeat(mean, channels, axis=2)
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [v.shape for v in values]:
            raise ValueError(
                f"Layer {layer.name!r}: RGB weights of shapes {[v.shape for v in values]} do not "
                f"fit the flow model's {shapes}. Received: rgb_model={rgb_model.name!r}"
            )
        layer.set_weights(values)
    return flow_model


def flow_backbone(name, image_size, flow_length, weights=None):
    """The single-frame backbone `name` on `(image_size, image_size, 2 * flow_length)` flow stacks.

    Args:
        name: a key of `keras_ispan.models.BACKBONES`.
        image_size: int, the side of the square inputs.
        flow_length: `L`, the stacked flow fields (2L channels).
        weights: None (random initialisation); `"imagenet"` or a weights file of the RGB backbone
            (built with `build_backbone`, then transferred by `cross_modality_init`); or a built
            `keras.Model` holding the RGB backbone (such as a trained RGB classifier).

    Returns:
        A functional `keras.Model` from `(batch, S, S, 2L)` to the backbone's last layer, with the
        backbone's layer names (so `pyramid_model` takes the same `levels`).
    """
    spec = get_backbone_spec(name)
    if not isinstance(flow_length, int) or isinstance(flow_length, bool) or flow_length < 1:
        raise ValueError(
            f"`flow_length` must be a positive int. Received: flow_length={flow_length!r}"
        )
    model = spec.constructor((image_size, image_size, 2 * flow_length), None)
    if weights is None:
        return model
    rgb = weights if isinstance(weights, keras.Model) else build_backbone(name, image_size, weights)
    return cross_modality_init(model, rgb)
