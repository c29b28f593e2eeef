"""Shared base class of the attention regularisers: a weight, validation and serialisation."""

import keras


class AttentionRegularizer:
    """Base of the regularisers that `PyramidAttention` adds with `add_loss`.

    Unlike `keras.regularizers.Regularizer`, which sees one weight tensor, these see the
    attention tensors of a layer call. Subclasses implement `__call__` and `get_config`.

    Args:
        weight: non-negative float multiplying the loss.
    """

    def __init__(self, weight=1e-4):
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
            raise ValueError(
                f"`weight` of {type(self).__name__} must be a non-negative number. "
                f"Received: weight={weight!r}"
            )
        self.weight = float(weight)

    def get_config(self):
        return {"weight": self.weight}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def get(identifier):
    """Returns a regulariser from `None`, an instance, or a serialised config dict."""
    if identifier is None or isinstance(identifier, AttentionRegularizer):
        return identifier
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(identifier)
        if isinstance(obj, AttentionRegularizer):
            return obj
    raise ValueError(
        "Expected an attention regulariser (`PCARegularizer`, `AttentionDiversityRegularizer`), "
        f"its serialised config, or None. Received: identifier={identifier!r}"
    )
