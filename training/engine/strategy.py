"""Distribution strategies by name: `default`, `mirrored` (one host) and `multi_worker` (`TF_CONFIG`)."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from training.engine import compat

__all__ = ["make_strategy", "is_chief", "worker_index"]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Creates the strategy `name`; call it before any other TensorFlow work in the process.

    - `default`: the default (single-device) strategy.
    - `mirrored`: all local GPUs, or, without GPUs, all logical CPU devices (tests split one CPU into two with
      `tf.config.set_logical_device_configuration`).
    - `multi_worker`: `MultiWorkerMirroredStrategy` over the cluster in `TF_CONFIG`, with the Keras patches of
      `training.engine.compat`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multi_worker":
        cluster = _tf_config()
        if not cluster.get("cluster"):
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable (cluster and task). "
                f"Received: TF_CONFIG={os.environ.get('TF_CONFIG', '')!r}"
            )
        compat.apply()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"strategy must be one of ['default', 'mirrored', 'multi_worker']. Received: strategy={name!r}"
    )


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={text!r}"
        ) from None


def worker_index() -> tuple[str, int]:
    """This process's `(task type, task index)` from `TF_CONFIG`; `("chief", 0)` without one."""
    task = _tf_config().get("task", {})
    return task.get("type", "chief"), int(task.get("index", 0))


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run's artefacts: the chief, or worker 0 of a chief-less cluster."""
    config = _tf_config()
    if not config.get("cluster"):
        return True
    task_type, index = worker_index()
    if "chief" in config["cluster"]:
        return task_type == "chief"
    return task_type == "worker" and index == 0
