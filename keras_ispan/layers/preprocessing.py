"""`PixelPreprocessing`: backbone-specific pixel normalisation inside the model."""

import keras
from keras import ops

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO
from keras_ispan.layers.validation import check_choice, check_resize_ratio
from keras_ispan.options import PREPROCESSING_MODES

# Per-channel statistics of the keras.applications preprocessing modes (RGB order, 0..255).
_IMAGENET_MEAN = (123.68, 116.779, 103.939)
_IMAGENET_STD = (58.393, 57.12, 57.375)


@keras.saving.register_keras_serializable(package="keras_ispan")
class PixelPreprocessing(keras.layers.Layer):
    """Casts uint8 or float pixels in `[0, 255]` to float and normalises them for a backbone.

    Training and serving share it, since it lives inside the model.

    Args:
        mode: `"caffe"` (RGB to BGR, ImageNet mean subtracted: ResNet), `"tf"` (to `[-1, 1]`:
            InceptionV3, MobileNetV2), `"torch"` (to `[0, 1]`, ImageNet mean and std), `"unit"`
            (to `[0, 1]`), or `"none"` (cast only: EfficientNet normalises inside itself).
        resize_ratio: the evaluation transform's shorter side before the centre crop divided by the
            frame side `S` (`keras_ispan.io.transform.ClipTransform`; TSN: 256 / 224). Not applied
            by this layer: it is recorded here, at the model's input, so that evaluation, prediction
            and export read it from the model (`keras_ispan.models.classifier_info`).

    Raises:
        ValueError: unknown `mode`, or `resize_ratio` below 1.

    Call arguments:
        inputs: `(..., 3)` pixels, any real or integer dtype, values in `[0, 255]`.

    Returns:
        Float tensor of the same shape.

    Example:

    >>> import numpy as np
    >>> out = PixelPreprocessing("tf")(np.array([[0, 255, 51]], "uint8"))
    >>> [round(float(v), 2) for v in keras.ops.convert_to_numpy(out)[0]]
    [-1.0, 1.0, -0.6]
    """

    def __init__(self, mode="caffe", resize_ratio=DEFAULT_RESIZE_RATIO, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, PREPROCESSING_MODES)
        self.resize_ratio = check_resize_ratio(resize_ratio)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(_IMAGENET_MEAN[::-1], x.dtype)
        elif self.mode == "tf":
            x = x / 127.5 - 1.0
        elif self.mode == "torch":
            mean = ops.convert_to_tensor(_IMAGENET_MEAN, x.dtype)
            std = ops.convert_to_tensor(_IMAGENET_STD, x.dtype)
            x = (x - mean) / std
        elif self.mode == "unit":
            x = x / 255.0
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "resize_ratio": self.resize_ratio}
