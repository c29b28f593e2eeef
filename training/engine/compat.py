"""Fixes, applied when their bug is detected, that make `model.fit` work under `MultiWorkerMirroredStrategy`.

Keras 3 (up to at least 3.15.1; open issue keras-team/keras#20585) fails in two places when a model is
trained with `MultiWorkerMirroredStrategy` (a collective all-reduce strategy):

1. `TensorFlowTrainer._maybe_symbolic_build` takes the first distributed batch and, to get one plain batch
   for the symbolic build, calls `strategy.reduce("MEAN", batch, axis=None)` on the whole nested structure of
   `PerReplica` values. Under the collective strategy this becomes a cross-worker all-reduce of the input data
   itself, which fails (`ValueError: Attempt to convert a value (PerReplica:{...`). The build only needs
   shapes and dtypes, so the fix takes the first local replica's values instead.
2. `reduce_per_replica(..., reduction="mean")` on the collective strategy calls
   `strategy.reduce("MEAN", v, axis=0)` on every logged value; the metric results are scalars, and a reduction
   over axis 0 of a scalar is invalid (`ValueError: Invalid reduction dimension 0 for input with 0
   dimensions`). The fix reduces scalars with `axis=None`.

Measured with Keras 3.15.1 / TF 2.21, two worker processes on 127.0.0.1: leaving out either patch fails with
the error quoted; with both, `tests/training/engine/test_training_distributed.py` trains and the workers end with
identical weights.

Each patch is applied only when its bug is detected in the installed Keras, by running the Keras
function on a stand-in strategy that records what Keras asks of it (`bugs()`), never by a version number;
`apply()` returns what it installed. `tests/training/engine/test_training_optim.py` fails when a bug is no longer
detected (time to delete this module) and the multi-worker test fails when a patch stops working.
`MirroredStrategy` does not need them (but is not harmed by them).
"""

from __future__ import annotations

import contextlib
import functools

import keras
import numpy as np

__all__ = ["apply", "bugs"]

_APPLIED: list[str] = []


class _RecordingStrategy:
    """Stands in for a multi-worker collective strategy: records each `reduce` call, reduces nothing.

    The detection runs no TensorFlow op (NumPy values only): a multi-worker strategy must be created
    before TensorFlow's eager context starts, and `apply()` runs before the strategy is made."""

    def __init__(self):
        self.calls = []

    def reduce(self, reduce_op, value, axis=None):
        self.calls.append((reduce_op, value, axis))
        return value

    def scope(self):
        return contextlib.nullcontext()


def _stand_in(tf_trainer):
    """A `_RecordingStrategy` that Keras takes for a collective multi-worker strategy."""
    import tensorflow as tf

    class Extended:
        def _in_multi_worker_mode(self):
            return True

    cls = type(
        "RecordingCollectiveStrategy",
        (_RecordingStrategy, tf.distribute.MultiWorkerMirroredStrategy),
        {"extended": property(lambda self: Extended())},
    )
    strategy = object.__new__(cls)
    _RecordingStrategy.__init__(strategy)
    return strategy


def _per_replica(value):
    """A value Keras takes for a per-replica one (`tf.distribute.DistributedValues`)."""
    import tensorflow as tf

    class PerReplica(tf.distribute.DistributedValues):
        values = (value,)

    return PerReplica()


def _reduces_inputs(tf_trainer) -> bool:
    """Bug 1: the symbolic build all-reduces the input batch itself."""
    strategy = _stand_in(tf_trainer)

    class Trainer:
        _distribute_strategy = strategy
        distribute_strategy = strategy

        def _symbolic_build(self, data_batch=None):
            pass

    batch = {"frames": _per_replica(np.zeros((1, 2)))}
    with contextlib.suppress(Exception):
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build(
            Trainer(), iterator=[(0, 0, iter([batch]))]
        )
    return any(value is batch for _, value, _ in strategy.calls)


def _reduces_scalars_on_axis_0(tf_trainer) -> bool:
    """Bug 2: logged scalars are reduced with `axis=0`."""
    strategy = _stand_in(tf_trainer)
    with contextlib.suppress(Exception):
        tf_trainer.reduce_per_replica(_per_replica(np.ones(())), strategy, "mean")
    return any(axis == 0 for _, _, axis in strategy.calls)


def bugs(patched: bool = False) -> dict[str, bool]:
    """Which of the two multi-worker bugs the installed Keras has (TensorFlow backend only).

    `patched=True` examines the functions as they are now (after `apply()`): all False when the
    patches work."""
    if keras.backend.backend() != "tensorflow":
        return {}
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer if patched else _ORIGINALS.get("trainer", tf_trainer)
    return {
        "maybe_symbolic_build_local_batch": _reduces_inputs(original),
        "reduce_per_replica_scalar_axis": _reduces_scalars_on_axis_0(original),
    }


_ORIGINALS: dict = {}  # the Keras functions before patching, for `bugs()` to examine after `apply()`


def apply() -> list[str]:
    """Installs the patch for each bug `bugs()` detects; idempotent.

    Returns:
        The names of the patches installed so far (empty when Keras has neither bug).
    """
    if _APPLIED or keras.backend.backend() != "tensorflow":
        return list(_APPLIED)
    from keras.src.backend.tensorflow import trainer as tf_trainer

    found = bugs()
    _ORIGINALS["trainer"] = _OriginalFunctions(tf_trainer)
    if found["maybe_symbolic_build_local_batch"]:
        _patch_symbolic_build(tf_trainer)
    if found["reduce_per_replica_scalar_axis"]:
        _patch_reduce_per_replica(tf_trainer)
    return list(_APPLIED)


class _OriginalFunctions:
    """The two Keras functions before patching, with the attribute names `bugs()` uses."""

    def __init__(self, tf_trainer):
        self.reduce_per_replica = tf_trainer.reduce_per_replica
        self.TensorFlowTrainer = type(
            "OriginalTrainer",
            (),
            {"_maybe_symbolic_build": tf_trainer.TensorFlowTrainer._maybe_symbolic_build},
        )


def _patch_symbolic_build(tf_trainer) -> None:
    import tensorflow as tf
    from keras.src import tree

    original = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    @functools.wraps(original)
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not _is_collective(strategy, tf_trainer):
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tree.map_structure(
                lambda v: (
                    strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                ),
                batch,
            )
            break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _APPLIED.append("maybe_symbolic_build_local_batch")


def _patch_reduce_per_replica(tf_trainer) -> None:
    from keras.src import tree

    original = tf_trainer.reduce_per_replica

    @functools.wraps(original)
    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and _is_collective(strategy, tf_trainer):
            reduction = "mean"
        if reduction != "mean" or not _is_collective(strategy, tf_trainer):
            return original(values, strategy, reduction)

        def _reduce(v):
            rank = v.shape.rank if getattr(v, "shape", None) is not None else None
            return strategy.reduce("MEAN", v, axis=0 if rank else None)

        return tree.map_structure(_reduce, values)

    tf_trainer.reduce_per_replica = reduce_per_replica
    _APPLIED.append("reduce_per_replica_scalar_axis")


def _is_collective(strategy, tf_trainer) -> bool:
    check = getattr(tf_trainer, "_collective_all_reduce_multi_worker", None)
    if check is not None:
        return bool(check(strategy))
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
