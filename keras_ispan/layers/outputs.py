"""Small layers at the ends of the classifier: the logits marker and a uniform saliency map."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ispan")
class ClassLogits(keras.layers.Layer):
    """Identity on the class logits that records the label set and the head type in the model.

    Serving, evaluation and prediction read `class_names` and `multi_label` from the saved model,
    so the labels always travel with the weights.

    Args:
        class_names: list of class names (strings), or None.
        multi_label: `True` for independent sigmoid scores, `False` for a softmax.

    Call arguments:
        inputs: `(batch, classes)` logits.

    Returns:
        The logits, as float32.
    """

    def __init__(self, class_names=None, multi_label=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if class_names is not None:
            if not isinstance(class_names, list | tuple) or not all(
                isinstance(c, str) and c for c in class_names
            ):
                raise ValueError(
                    "`class_names` must be a list of non-empty strings or None. "
                    f"Received: class_names={class_names!r}"
                )
            if len(set(class_names)) != len(class_names):
                raise ValueError(
                    f"`class_names` must be unique. Received: class_names={class_names!r}"
                )
            class_names = list(class_names)
        if not isinstance(multi_label, bool):
            raise ValueError(f"`multi_label` must be a bool. Received: multi_label={multi_label!r}")
        self.class_names = class_names
        self.multi_label = multi_label

    def build(self, input_shape):
        if self.class_names is not None and input_shape[-1] != len(self.class_names):
            raise ValueError(
                f"{len(self.class_names)} class names for {input_shape[-1]} logits. "
                f"Received: class_names={self.class_names!r}"
            )

    def call(self, inputs):
        return ops.cast(inputs, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "class_names": self.class_names,
            "multi_label": self.multi_label,
        }


@keras.saving.register_keras_serializable(package="keras_ispan")
class UniformSaliency(keras.layers.Layer):
    """The saliency of a head without attention (TSN, GAP): uniform over frames and positions.

    Call arguments:
        inputs: `(batch, frames, height, width, channels)` features.

    Returns:
        `(batch, frames, height, width)` of `1 / (frames * height * width)`.
    """

    def call(self, inputs):
        ones = ops.ones_like(ops.cast(inputs[..., 0], "float32"))
        return ones / ops.cast(ops.size(ones) // ops.shape(ones)[0], "float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])
