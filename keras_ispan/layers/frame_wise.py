"""`FrameWise`: apply a per-frame layer or model to clips by folding frames into the batch."""

import keras
from keras import ops, tree


@keras.saving.register_keras_serializable(package="keras_ispan")
class FrameWise(keras.layers.Wrapper):
    """Applies a per-frame layer or model to every frame of `(batch, frames, ...)` clips.

    Folds the frames into the batch, applies the wrapped layer once to `(batch * frames, ...)`,
    and unfolds every output (nested outputs, such as a list of pyramid levels, included) with
    the runtime batch size. Unlike `keras.layers.TimeDistributed` (Keras 3.14 to 3.15.1), it is
    correct when the frame axis is dynamic in graph mode (`fit` on datasets with `frames=None`,
    exported signatures).

    Args:
        layer: a `keras.layers.Layer` or `keras.Model` taking `(batch, ...)` inputs.

    Call arguments:
        inputs: `(batch, frames, ...)`; frames may be `None`.
        training: passed to the wrapped layer.

    Returns:
        The wrapped layer's outputs with a frames axis: `(batch, frames, ...)` each.

    Example:

    >>> import numpy as np
    >>> wrapped = FrameWise(keras.layers.Conv2D(4, 3, padding="same"))
    >>> tuple(wrapped(np.zeros((2, 5, 8, 8, 3))).shape)
    (2, 5, 8, 8, 4)
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"`layer` must be a `keras.layers.Layer` or `keras.Model`. Received: layer={layer!r}"
            )
        super().__init__(layer, **kwargs)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "`FrameWise` expects inputs of shape `(batch, frames, ...)`. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if not self.layer.built:
            self.layer.build((None, *input_shape[2:]))
        self.built = True

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch, frames = shape[0], shape[1]
        folded = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        outputs = self.layer(folded, training=training)
        return tree.map_structure(lambda y: ops.reshape(y, (batch, frames, *y.shape[1:])), outputs)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return tree.map_shape_structure(lambda s: (input_shape[0], input_shape[1], *s[1:]), inner)
