"""`FrameResize`: resize every frame of a video batch inside the model (on the accelerator)."""

import numbers

import keras
from keras import ops

from keras_ispan.layers.validation import check_choice

RESIZE_INTERPOLATIONS = ("bilinear", "nearest")


@keras.saving.register_keras_serializable(package="keras_ispan")
class FrameResize(keras.layers.Layer):
    """Casts `(batch, frames, height, width, channels)` clips to float and resizes every frame.

    The frames are folded into the batch with the runtime batch size, so batch, frames, height
    and width may all be dynamic (`None`) in graph mode. Resizing is
    `keras.ops.image.resize(..., antialias=False)` (half-pixel centres, as
    `tf.image.resize`); pixel values are not rescaled. Frames already at `size` (static
    height and width) are only cast. The layer computes in float32 unless a `dtype` is passed,
    whatever the global mixed-precision policy.

    Args:
        size: an int or a pair `(height, width)` of ints, each at least 1.
        interpolation: `"bilinear"` or `"nearest"`.

    Call arguments:
        inputs: `(batch, frames, height, width, channels)` pixels of any real or integer dtype
            (typically uint8); every axis but channels may be `None`.

    Returns:
        Float tensor of shape `(batch, frames, size[0], size[1], channels)`.

    Example:

    >>> import numpy as np
    >>> clip = np.full((2, 3, 4, 6, 3), 255, "uint8")
    >>> out = FrameResize((8, 12))(clip)
    >>> tuple(out.shape), keras.backend.standardize_dtype(out.dtype), float(keras.ops.max(out))
    ((2, 3, 8, 12, 3), 'float32', 255.0)
    """

    def __init__(self, size, interpolation="bilinear", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.size = _check_size(size)
        self.interpolation = check_choice("interpolation", interpolation, RESIZE_INTERPOLATIONS)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                "`FrameResize` expects inputs of shape `(batch, frames, height, width, "
                f"channels)`. Received: input_shape={tuple(input_shape)}"
            )
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if tuple(x.shape[2:4]) == self.size:
            return x
        shape = ops.shape(x)
        folded = ops.reshape(x, (-1, shape[2], shape[3], shape[4]))
        resized = ops.image.resize(
            folded,
            self.size,
            interpolation=self.interpolation,
            antialias=False,
            data_format="channels_last",
        )
        # TensorFlow's bilinear resize returns float32 whatever the input's float dtype.
        resized = ops.cast(resized, self.compute_dtype)
        return ops.reshape(resized, (shape[0], shape[1], *self.size, shape[4]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], *self.size, input_shape[4])

    def get_config(self):
        return {
            **super().get_config(),
            "size": list(self.size),
            "interpolation": self.interpolation,
        }


def _check_size(size):
    """Returns `size` as a `(height, width)` tuple of ints, or raises a `ValueError`."""
    pair = (size, size) if _is_int(size) else size
    if (
        not isinstance(pair, list | tuple)
        or len(pair) != 2
        or not all(_is_int(v) and v >= 1 for v in pair)
    ):
        raise ValueError(
            "`size` must be an int or a pair `(height, width)` of ints, each at least 1. "
            f"Received: size={size!r}"
        )
    return (int(pair[0]), int(pair[1]))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
