"""Batch-norm statistics that match inference: precise BN (population statistics after training).

Why. A video classifier applies its 2D backbone to `batch * frames` images folded into one batch
(`keras_ispan.layers.FrameWise`). The frames of one clip are strongly correlated, so a training batch
of `B` clips holds about `B` independent samples, not `B * frames`: its batch statistics wander far
from the population's, and the moving averages (an exponential average of the last few batches,
taken while the weights still change) describe neither the final weights nor the training set. In
inference mode the network then sees features on another scale than in training, and on hard data it
predicts one class for most clips (issue 17, measured by `benchmarks/bn_collapse.py`).

Precise BN (Wu and Johnson, "Rethinking 'Batch' in BatchNorm", 2021, Sec. 3; `fvcore`'s
`update_bn_stats`) re-estimates every updating batch-norm layer's moving mean and variance after
training, with the weights fixed, as the population statistics of its input over many training batches.
The variance is the exact pooled one, `E[x^2] - E[x]^2` over all samples (not the mean of the batch
variances, which leaves out the spread of the batch means).
"""

import contextlib

import keras
import numpy as np

__all__ = ["batch_norm_layers", "precise_batch_norm"]


def batch_norm_layers(model):
    """The `BatchNormalization` layers of `model`, in order, with the functional model holding them.

    Looks in `model` and, for a classifier from `build_classifier`, in the model wrapped by its
    `FrameWise` layer named `backbone`.

    Returns:
        `(holder, layers)`: the functional `keras.Model` whose graph holds the layers and the list of
        layers (shallow to deep).
    """
    holder = model
    with contextlib.suppress(ValueError, AttributeError):
        holder = model.get_layer("backbone").layer
    layers = [
        layer for layer in holder.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    return holder, layers


def _feeder(model, holder):
    """`frames -> the holder's input`: the classifier's preprocessing, frames folded into the batch."""
    if holder is model:
        return lambda x: x
    backbone = model.get_layer("backbone")
    front = keras.Model(model.input, backbone.input)

    def feed(x):
        x = front(x, training=False)
        return keras.ops.reshape(x, (-1, *x.shape[2:]))

    return feed


def precise_batch_norm(model, dataset, num_batches=None, *, log=None):
    """Sets each updating batch-norm layer's moving statistics to its input's population statistics.

    Runs `num_batches` batches of `dataset` through the model with batch norm in training mode (each
    layer normalises by its batch statistics, as in training; the weights are not changed), collects
    the per-channel sum, sum of squares and count of every batch-norm layer's input, then assigns
    `moving_mean = E[x]` and `moving_variance = E[x^2] - E[x]^2` over all the samples seen. Layers
    that are frozen (`trainable=False`: partial BN, frozen BN, a frozen backbone) run in inference
    mode in Keras and keep their statistics.

    Args:
        model: a classifier from `keras_ispan.models.build_classifier` (its batch-norm layers are in
            the `backbone` `FrameWise` layer) or a functional model holding its batch-norm layers.
        dataset: an iterable of `frames` or `(frames, labels)` batches: for a classifier
            `(batch, frames, height, width, 3)` pixels. Use the training clips under the evaluation
            transform, so the statistics are those that inference will meet.
        num_batches: batches to use; None uses the whole (finite) dataset.
        log: optional function taking one progress line.

    Returns:
        The number of layers whose statistics were re-estimated.

    Raises:
        ValueError: a `num_batches` below 1, or a dataset that yields no batch.
    """
    if num_batches is not None and (not isinstance(num_batches, int) or num_batches < 1):
        raise ValueError(
            f"`num_batches` must be None or >= 1. Received: num_batches={num_batches!r}"
        )
    holder, layers = batch_norm_layers(model)
    layers = [layer for layer in layers if layer.trainable]
    if not layers:
        return 0
    sums, batches = _collect(model, holder, layers, dataset, num_batches)
    if not batches:
        raise ValueError(
            "`precise_batch_norm` got no batch from `dataset`. Received: an empty dataset"
        )
    for layer, (total, squares, count) in zip(layers, sums, strict=True):
        mean = total / count
        variance = np.maximum(squares / count - np.square(mean), 0.0)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    if log:
        log(f"[precise-bn] {len(layers)} batch-norm layers re-estimated on {batches} batches")
    return len(layers)


def _collect(model, holder, layers, dataset, num_batches):
    """Per layer `(sum, sum of squares, count)` of its inputs over the batches, and the batch count.

    Synchronised layers (several replicas, `train.sync_batch_norm`) are run unsynchronised here: the
    probe runs outside any replica context, where a cross-replica reduction would wait forever."""
    feed = _feeder(model, holder)
    probe = keras.Model(holder.input, [layer.input for layer in layers])
    synchronized = {layer: getattr(layer, "synchronized", False) for layer in holder.layers}
    sums, batches = [None] * len(layers), 0
    try:
        for layer in synchronized:
            if synchronized[layer]:
                layer.synchronized = False
        for batch in dataset:
            if num_batches is not None and batches >= num_batches:
                break
            frames = batch[0] if isinstance(batch, tuple | list) else batch
            inputs = probe(feed(frames), training=True)
            inputs = inputs if isinstance(inputs, list | tuple) else [inputs]
            for i, (layer, x) in enumerate(zip(layers, inputs, strict=True)):
                sums[i] = _accumulate(sums[i], keras.ops.convert_to_numpy(x), layer.axis)
            batches += 1
    finally:
        for layer, value in synchronized.items():
            if value:
                layer.synchronized = True
    return sums, batches


def _accumulate(state, x, axis):
    """Adds the per-channel sum, sum of squares and count of `x` (float64) to `state`."""
    x = np.moveaxis(x.astype(np.float64), axis, -1)
    x = x.reshape(-1, x.shape[-1])
    update = (x.sum(axis=0), np.square(x).sum(axis=0), x.shape[0])
    if state is None:
        return update
    return tuple(a + b for a, b in zip(state, update, strict=True))
