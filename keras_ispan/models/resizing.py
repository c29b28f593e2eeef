"""A classifier behind a frame resize: training on crops whose size changes from batch to batch."""

import keras

from keras_ispan.layers.clip_flip import RandomClipFlip
from keras_ispan.layers.frame_resize import FrameResize


def with_frame_resize(model, flip=False, seed=None, name=None):
    """`model` behind a `FrameResize` to its frame size: input `(batch, frames, height, width, 3)` uint8
    of any height and width; with `flip`, also a random horizontal flip of each clip in training.

    Training pipelines that leave the pixel work on their multi-scale crops to the accelerator
    (`keras_ispan.data.pipeline.PipelineConfig(resize="model")`) feed this model; `model` itself (same layers
    and weights, input `(batch, frames, S, S, 3)`) is what is saved, evaluated and exported.

    Args:
        model: a classifier with input `(batch, frames, S, S, 3)`, such as `build_classifier`'s.
        flip: flip each clip horizontally with probability 0.5 in training (`RandomClipFlip`: every
            frame of a clip the same way); inference never flips.
        seed: the flip's seed.
        name: the wrapper's name (default `"<model name>_resized"`).

    Returns:
        A `keras.Model` with input `frames` `(batch, frames, None, None, 3)` uint8 and `model`'s
        outputs; its losses include `model`'s (the ISPAN regularisers).

    Example:

    >>> import numpy as np
    >>> from keras_ispan.models import build_classifier
    >>> model = build_classifier(3, backbone="small_cnn", image_size=32)
    >>> resized = with_frame_resize(model)
    >>> tuple(resized(np.zeros((2, 4, 48, 40, 3), "uint8")).shape)
    (2, 3)
    """
    shape = tuple(model.input_shape)
    if len(shape) != 5 or shape[2] is None or shape[3] is None:
        raise ValueError(
            "`model` must take frames `(batch, frames, S, S, channels)` of a static size. "
            f"Received: model.input_shape={shape}"
        )
    frames = keras.Input((shape[1], None, None, shape[4]), dtype="uint8", name="frames")
    x = frames
    if flip:  # on the uint8 crops, a quarter of the bytes of the resized float frames
        x = RandomClipFlip(seed=seed, name="clip_flip")(x)
    x = FrameResize((shape[2], shape[3]), name="frame_resize")(x)
    return keras.Model(frames, model(x), name=name or f"{model.name}_resized")
