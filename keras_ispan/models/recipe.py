"""The training recipe's Keras objects that a compiled model's `.keras` file names in its compile
config: the learning-rate schedule with linear warmup (`WarmupSchedule`; TSN's step decay, or cosine)
and the label-smoothed sparse cross-entropy (`SparseCrossEntropy`).

They live in the library, registered under `keras_ispan`, so a checkpoint `training/fit.py` wrote
(`best.keras`, its optimizer included) opens with `keras.saving.load_model(path)` in any process that
imports `keras_ispan.models`, with no checkout of the training application. `keras_ispan.models.
load_classifier` reads only the architecture and the weights and needs neither.
"""

import math

import keras
from keras import ops

from keras_ispan.options import LR_SCHEDULES

__all__ = ["SparseCrossEntropy", "WarmupSchedule"]


@keras.saving.register_keras_serializable(package="keras_ispan")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then constant, step or cosine decay: the
    learning rate of optimizer step `step` (a scalar, the rate's units). Warmup as Goyal et al. (2017),
    step decay as TSN (Wang et al., ECCV 2016), cosine as SGDR (Loshchilov and Hutter, ICLR 2017).
    A function of the optimizer step, so a resumed run continues the schedule where it stopped.

    Raises:
        ValueError: `kind` not one of `keras_ispan.options.LR_SCHEDULES`, or `total_steps` < 1.

    Args:
        peak: the learning rate reached at the end of warmup.
        total_steps: steps of the whole run (warmup included); cosine reaches `min_ratio * peak` there.
        warmup_steps: linear warmup steps (0 for none).
        kind: `"constant"`, `"step"` or `"cosine"`.
        boundaries: `"step"` only: steps at which the rate is multiplied by `gamma`.
        gamma: the step factor.
        min_ratio: `"cosine"` only: the final rate as a fraction of `peak`.
    """

    def __init__(
        self,
        peak,
        total_steps,
        warmup_steps=0,
        kind="cosine",
        boundaries=(),
        gamma=0.1,
        min_ratio=0.0,
    ):
        if kind not in LR_SCHEDULES:
            raise ValueError(f"`kind` must be one of {LR_SCHEDULES}. Received: kind={kind!r}")
        if total_steps < 1:
            raise ValueError(f"`total_steps` must be >= 1. Received: total_steps={total_steps}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.kind = kind
        self.boundaries = [int(b) for b in boundaries]
        self.gamma = float(gamma)
        self.min_ratio = float(min_ratio)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 0))
        if self.kind == "cosine":
            span = max(float(self.total_steps) - warmup, 1.0)
            progress = ops.clip((step - warmup) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
            rate = self.peak * (self.min_ratio + (1.0 - self.min_ratio) * cosine)
        elif self.kind == "step":
            passed = ops.zeros((), "float32")
            for boundary in self.boundaries:
                passed = passed + ops.cast(step >= float(boundary), "float32")
            rate = self.peak * ops.power(self.gamma, passed)
        else:
            rate = self.peak * ops.ones((), "float32")
        if warmup > 0:
            rate = ops.where(step < warmup, self.peak * (step + 1.0) / warmup, rate)
        return rate

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "boundaries": self.boundaries,
            "gamma": self.gamma,
            "min_ratio": self.min_ratio,
        }


@keras.saving.register_keras_serializable(package="keras_ispan")
class SparseCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy from logits `(batch, classes)` for integer labels `(batch,)`, with
    label smoothing (Szegedy et al., CVPR 2016), in nats. Keras' `SparseCategoricalCrossentropy`
    takes no `label_smoothing`, hence this class (the labels one-hot encoded, then Keras'
    `categorical_crossentropy`).

    Raises:
        ValueError: `label_smoothing` outside [0, 1).
    """

    def __init__(self, label_smoothing=0.0, name="sparse_cross_entropy", **kwargs):
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(
                f"`label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing}"
            )
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        num_classes = ops.shape(y_pred)[-1]
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
