"""Version-gated fixes that make `model.fit` work under `tf.distribute.MultiWorkerMirroredStrategy`.

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
the error quoted; with both, `tests/training/test_training_distributed.py` trains and the workers end with
identical weights.

Both patches are applied only for the Keras versions in `AFFECTED` and only once; `apply()` returns what it did.
`MirroredStrategy` does not need them (but is not harmed by them).
"""

from __future__ import annotations

import functools

import keras

__all__ = ["AFFECTED", "apply", "is_affected", "keras_version"]

# Versions known to need the fixes: every Keras 3 release up to and including 3.15.x (re-check when moving on).
AFFECTED = ((3, 0), (3, 15))

_APPLIED: list[str] = []


def keras_version(version: str | None = None) -> tuple[int, int]:
    """`"3.15.1"` -> `(3, 15)`."""
    parts = (version or keras.__version__).split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def is_affected(version: str | None = None) -> bool:
    """Whether this Keras version needs the multi-worker patches."""
    low, high = AFFECTED
    return low <= keras_version(version) <= high


def apply(force: bool = False) -> list[str]:
    """Installs the two patches when the installed Keras is affected (or `force`); idempotent.

    Returns:
        The names of the patches installed so far (empty for an unaffected Keras).
    """
    if not (force or is_affected()) or keras.backend.backend() != "tensorflow":
        return list(_APPLIED)
    if _APPLIED:
        return list(_APPLIED)
    from keras.src.backend.tensorflow import trainer as tf_trainer

    _patch_symbolic_build(tf_trainer)
    _patch_reduce_per_replica(tf_trainer)
    return list(_APPLIED)


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
