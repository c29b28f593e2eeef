"""Callbacks of a training run: atomic best-model checkpoints that survive a resume, the learning rate in the
logs, and the standard Keras ones (backup and restore, CSV, TensorBoard, early stopping) in the right order."""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import tempfile

import keras
import numpy as np

from keras_ispan.io.atomic import atomic_path, write_text_atomic


def progress_verbosity(verbose: int) -> int:
    """Keras `verbose`: the progress bar (1) only on a terminal, one line per epoch (2) otherwise (a bar
    redirected to a file writes every update)."""
    if verbose == 1 and not sys.stdout.isatty():
        return 2
    return verbose


__all__ = ["BestModelCheckpoint", "LearningRateLogger", "StopAfterEpochs", "make_callbacks"]


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs as `lr` (for the CSV log and curves)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        try:
            value = float(keras.ops.convert_to_numpy(rate))
        except Exception:  # noqa: BLE001 - schedules expose the rate differently across versions
            value = float("nan")
        logs["lr"] = value


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (`.keras`) when `monitor` improves, atomically, on the chief only.

    The best value so far is kept in `<path>.best.json`, so a resumed run only replaces the checkpoint with a
    better one. When `monitor` is missing from the logs (no validation data), the last epoch is saved.

    Args:
        path: the `.keras` file.
        monitor: a key of the epoch logs (`val_accuracy`, `val_loss`, ...).
        mode: `"max"` or `"min"`.
        enabled: `False` on non-chief workers (they train but never write).
        saved_model: the model to save, when it is not the trained one itself (the classifier inside
            `keras_ispan.models.with_frame_resize`); None saves the trained model.
    """

    def __init__(self, path, monitor="val_accuracy", mode="max", enabled=True, saved_model=None):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min'. Received: mode={mode!r}")
        self.path = pathlib.Path(path)
        self.state_path = self.path.with_name(self.path.name + ".best.json")
        self.monitor = monitor
        self.mode = mode
        self.enabled = enabled
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch = None
        self.saved_model = saved_model

    def on_train_begin(self, logs=None):
        if self.state_path.is_file():
            state = json.loads(self.state_path.read_text())
            self.best, self.best_epoch = float(state["best"]), state["epoch"]

    def _improved(self, value):
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is not None:
            value = float(value)
            if np.isnan(value) or not self._improved(value):
                return
        else:
            value = float(epoch)  # no validation metric: keep the latest epoch
        self.best, self.best_epoch = value, int(epoch)
        if not self.enabled:
            return
        with atomic_path(self.path, suffix=".keras") as tmp:
            (self.saved_model or self.model).save(tmp)
        state = {"monitor": self.monitor, "best": value, "epoch": int(epoch)}
        write_text_atomic(self.state_path, json.dumps(state))


class StopAfterEpochs(keras.callbacks.Callback):
    """Test helper: hard-exits the process (like a kill) after `epochs` epochs have been backed up."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = int(epochs)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            os._exit(17)


def make_callbacks(
    run_dir,
    *,
    monitor: str,
    mode: str,
    chief: bool,
    worker_dir=None,
    early_stopping_patience: int = 0,
    tensorboard: bool = True,
    saved_model=None,
    extra=(),
):
    """The callbacks of `training.engine.run.run`, in an order where each sees what it needs.

    1. `LearningRateLogger` (adds `lr` to the logs); 2. `BackupAndRestore` into `run_dir/backup` (non-chief
    workers back up into their own `worker_dir`); 3. `BestModelCheckpoint` to `run_dir/best.keras`;
    4. `CSVLogger` (`log.csv`, appended on resume); 5. TensorBoard (`tensorboard/`); 6. early stopping.
    `saved_model`: what `best.keras` holds when it is not the trained model (see `BestModelCheckpoint`).
    """
    run_dir = pathlib.Path(run_dir)
    backup_root = (
        run_dir if chief else pathlib.Path(worker_dir or tempfile.mkdtemp(prefix="ispan-worker-"))
    )
    callbacks = [
        LearningRateLogger(),
        keras.callbacks.BackupAndRestore(str(backup_root / "backup"), delete_checkpoint=True),
        BestModelCheckpoint(
            run_dir / "best.keras",
            monitor=monitor,
            mode=mode,
            enabled=chief,
            saved_model=saved_model,
        ),  # fmt: skip
    ]
    if chief:
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True))
        if tensorboard:
            callbacks.append(
                keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False)
            )
    if early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=early_stopping_patience,
                restore_best_weights=False,
            )
        )
    callbacks.extend(extra)
    return callbacks
