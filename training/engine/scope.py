"""Process-wide state of a run (mixed-precision policy, random seeds), set inside scopes that restore it."""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from training.config.core import TrainConfig

__all__ = ["mixed_precision_policy", "policy_scope", "seed_scope", "training_scope"]

# what keras.utils.set_random_seed stores in keras.src.backend.common.global_state (Keras 3.15)
_KERAS_SEED_ATTRIBUTES = ("global_random_seed", "global_seed_generator")


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
    """Sets the process-wide state a run needs (mixed-precision policy, random seeds) and restores it:
    `policy_scope` and `seed_scope` with `train.mixed_precision` and `train.seed`."""
    with (
        policy_scope(mixed_precision_policy(config.train.mixed_precision)),
        seed_scope(config.train.seed),
    ):
        yield


@contextlib.contextmanager
def seed_scope(seed: int | None):
    """Sets every global seed to `seed` (`keras.utils.set_random_seed`; None: sets none, for code
    inside that sets them itself, such as each tuning trial) and restores them on exit.

    On exit Python's and NumPy's global random states, TensorFlow's global seed (unset again if it was
    unset) and the global seed and seed generator that `keras.utils.set_random_seed` stores in Keras'
    global state are what they were before."""
    import random

    import numpy as np
    from keras.src.backend.common import (
        global_state,  # set_random_seed's state has no public getter
    )

    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    tf_seed = tf.compat.v1.get_seed(None)[0]
    keras_seeds = {name: global_state.get_global_attribute(name) for name in _KERAS_SEED_ATTRIBUTES}
    try:
        if seed is not None:
            keras.utils.set_random_seed(seed)
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        tf.random.set_seed(tf_seed)  # None unsets it
        for name, value in keras_seeds.items():
            global_state.set_global_attribute(name, value)


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
