"""Optimisers (with `keras_ispan.models.WarmupSchedule`), the loss, metrics and layer freezing for `training.engine.run`.

The schedule is a function of the optimizer step, so a run resumed by `BackupAndRestore` (which restores the
step) continues the schedule where it stopped.
"""

from __future__ import annotations

import keras

from keras_ispan.models.recipe import SparseCrossEntropy, WarmupSchedule
from training.config.sections import ModelConfig, OptimConfig
from training.evaluation.metrics import top_k_reported

__all__ = [
    "SparseCrossEntropy",
    "WarmupSchedule",
    "build_loss",
    "build_metrics",
    "build_optimizer",
    "freeze_layers",
    "synchronize_batch_norm",
]

# the names these two had in `.keras` files written before they moved to the library (2026-11-30)
keras.saving.get_custom_objects().update(
    {"keras_ispan_training>WarmupSchedule": WarmupSchedule,
     "keras_ispan_training>SparseCrossEntropy": SparseCrossEntropy}
)  # fmt: skip

# Variables never decayed: biases and normalisation offsets/scales.
NO_DECAY = ["bias", "beta", "gamma"]


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
