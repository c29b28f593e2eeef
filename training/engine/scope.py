"""Process-wide state of a run (mixed-precision policy, random seeds), set inside scopes that restore it."""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from training.config.core import TrainConfig

__all__ = ["mixed_precision_policy", "policy_scope", "training_scope"]


def mixed_precision_policy(setting: str) -> str | None:
    """`"mixed_float16"` or `None` for `train.mixed_precision` (`auto`: mixed on GPU only; `on` needs a GPU)."""
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if setting == "on" and not has_gpu:
        raise ValueError(
            "train.mixed_precision='on' needs a GPU (none is visible); use 'auto' or 'off'. "
            "Received: train.mixed_precision='on'"
        )
    if setting == "on" or (setting == "auto" and has_gpu):
        return "mixed_float16"
    return None


@contextlib.contextmanager
def training_scope(config: TrainConfig):
    """Sets the process-wide state a run needs (mixed-precision policy, random seeds) and restores it.

    On exit the global Keras dtype policy, Python's and NumPy's global random states and TensorFlow's
    global seed are what they were before."""
    import random

    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    tf_seed = tf.compat.v1.get_seed(None)[0]
    try:
        with policy_scope(mixed_precision_policy(config.train.mixed_precision)):
            keras.utils.set_random_seed(config.train.seed)
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        if tf_seed is not None:
            tf.random.set_seed(tf_seed)


@contextlib.contextmanager
def policy_scope(policy: str | None):
    """Sets the global Keras dtype policy to `policy` (None: leave it) and restores it on exit."""
    previous = keras.mixed_precision.global_policy()
    try:
        if policy:
            keras.mixed_precision.set_global_policy(policy)
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
