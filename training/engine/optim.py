"""Optimisers, learning-rate schedules with warmup, losses and metrics for `training.engine.run`.

The schedule is a function of the optimizer step, so a run resumed by `BackupAndRestore` (which restores the
step) continues the schedule where it stopped.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from training.config.sections import SCHEDULES, ModelConfig, OptimConfig
from training.evaluation.metrics import top_k_reported

__all__ = [
    "WarmupSchedule",
    "build_loss",
    "build_metrics",
    "build_optimizer",
    "freeze_layers",
    "synchronize_batch_norm",
]

# Variables never decayed: biases and normalisation offsets/scales.
NO_DECAY = ["bias", "beta", "gamma"]


@keras.saving.register_keras_serializable(package="keras_ispan_training")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then constant, step or cosine decay.

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
        if kind not in SCHEDULES:
            raise ValueError(f"`kind` must be one of {SCHEDULES}. Received: kind={kind!r}")
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


def make_schedule(config: OptimConfig, steps_per_epoch: int, epochs: int) -> WarmupSchedule:
    """The `WarmupSchedule` of `config`, with epochs converted to optimizer steps."""
    steps_per_epoch = max(int(steps_per_epoch), 1)
    return WarmupSchedule(
        peak=config.learning_rate,
        total_steps=steps_per_epoch * epochs,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        kind=config.schedule,
        boundaries=[e * steps_per_epoch for e in config.step_epochs],
        gamma=config.step_gamma,
        min_ratio=config.min_lr_ratio,
    )


def build_optimizer(config: OptimConfig, steps_per_epoch: int, epochs: int) -> keras.Optimizer:
    """SGD (momentum, Nesterov) or AdamW/Adam with the warmup schedule, decoupled weight decay (biases
    and normalisation parameters excluded) and per-gradient clipping to `clipnorm`."""
    schedule = make_schedule(config, steps_per_epoch, epochs)
    common = {"learning_rate": schedule, "clipnorm": config.clipnorm}
    if config.weight_decay:
        common["weight_decay"] = config.weight_decay
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            momentum=config.momentum, nesterov=config.nesterov, **common
        )
    elif config.optimizer == "adamw":
        common.setdefault("weight_decay", 0.0)
        optimizer = keras.optimizers.AdamW(**common)
    else:
        optimizer = keras.optimizers.Adam(**common)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer


@keras.saving.register_keras_serializable(package="keras_ispan_training")
class SparseCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy from logits for integer labels `(batch,)`, with label smoothing."""

    def __init__(self, label_smoothing=0.0, name="sparse_cross_entropy", **kwargs):
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


def build_loss(multi_label: bool, label_smoothing: float) -> keras.losses.Loss:
    """Sigmoid cross-entropy for multi-hot targets, else softmax cross-entropy; both from logits."""
    if multi_label:
        return keras.losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=label_smoothing, name="sigmoid_cross_entropy"
        )
    return SparseCrossEntropy(label_smoothing=label_smoothing)


def build_metrics(multi_label: bool, num_classes: int) -> list:
    """`accuracy`, and `top5` with more than 5 classes (with 5 or fewer it is always 1), for
    single-label; `auc` (precision-recall AUC per class, averaged: a streaming approximation of mAP) for
    multi-label."""
    if multi_label:
        return [
            keras.metrics.AUC(
                curve="PR", multi_label=True, num_labels=num_classes, from_logits=True, name="auc"
            )
        ]
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if top_k_reported(5, num_classes):
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    return metrics


def _walk(layer):
    yield layer
    inner = getattr(layer, "layer", None)  # FrameWise and other wrappers
    if isinstance(inner, keras.layers.Layer):
        yield from _walk(inner)
    for child in getattr(layer, "layers", []) or []:
        yield from _walk(child)


def synchronize_batch_norm(model: keras.Model) -> int:
    """Makes every BatchNormalization layer of `model` compute its batch statistics over all replicas (TF
    `synchronized=True`); returns how many layers changed."""
    count = 0
    for layer in _walk(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            count += 1
    return count


def freeze_layers(model: keras.Model, config: ModelConfig) -> dict[str, int]:
    """Applies `freeze_backbone`, `partial_bn` (TSN: every BatchNormalization of the backbone but the
    first is frozen, so it runs on its moving statistics), `frozen_bn` (all of them frozen) and
    `bn_momentum`. A frozen (`trainable=False`) Keras BatchNormalization runs in inference mode and
    updates neither its statistics nor its scale and offset. Returns counts of what changed."""
    try:
        backbone = model.get_layer("backbone")
    except ValueError:
        return {"backbone": 0, "batch_norm": 0, "momentum": 0}
    frozen = 0
    norms = [
        layer for layer in _walk(backbone) if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if config.bn_momentum is not None:
        for layer in norms:
            layer.momentum = config.bn_momentum
    if config.freeze_backbone:
        backbone.trainable = False
    elif config.partial_bn or config.frozen_bn:
        for layer in norms[0 if config.frozen_bn else 1 :]:
            layer.trainable = False
            frozen += 1
    return {
        "backbone": int(config.freeze_backbone),
        "batch_norm": frozen,
        "momentum": len(norms) if config.bn_momentum is not None else 0,
    }
