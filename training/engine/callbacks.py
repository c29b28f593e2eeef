"""Callbacks of a training run: atomic best-model checkpoints that survive a resume, the learning rate in the
logs, and the standard Keras ones (backup and restore, CSV, TensorBoard, early stopping) in the right order."""

from __future__ import annotations

import csv
import json
import math
import pathlib
import sys
import tempfile
import warnings

import keras
import numpy as np

from keras_ispan.io.atomic import atomic_path, fault_point, write_text_atomic


def progress_verbosity(verbose: int) -> int:
    """Keras `verbose`: the progress bar (1) only on a terminal, one line per epoch (2) otherwise (a bar
    redirected to a file writes every update)."""
    if verbose == 1 and not sys.stdout.isatty():
        return 2
    return verbose


__all__ = [
    "AtomicBackupAndRestore",
    "BestModelCheckpoint",
    "LearningRateLogger",
    "fault_point",
    "make_callbacks",
    "progress_verbosity",
]


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose state survives a kill at any moment.

    Each epoch's weights go to a new file, `backup/epoch-<N>.weights.h5`; `training_metadata.json`
    (written atomically, after the weights) names the file and is the commit point; the previous
    weights file is removed only after it. A kill leaves the last complete state. On resume `log.csv`
    (`csv_path`) keeps only the rows of the restored epochs, so each epoch appears once. Saving happens
    in `commit()`, called by `BackupCommit` placed after the CSV and checkpoint callbacks, so a
    committed epoch always has its row and its checkpoint. The backup is not deleted when training
    ends: `training.engine.run` removes it once the training phase is recorded as finished.
    """

    def __init__(self, backup_dir, csv_path=None):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.csv_path = pathlib.Path(csv_path) if csv_path else None

    def _read_metadata(self):
        path = pathlib.Path(self._training_metadata_path)
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text())
            weights = pathlib.Path(self.backup_dir) / state["weights"]
            if not weights.is_file():
                raise ValueError(f"its weights file {weights} is missing")
            return int(state["epoch"]), weights
        except (ValueError, KeyError, TypeError) as e:
            warnings.warn(
                f"Ignoring the resume backup {path}: {e}; training starts again", stacklevel=2
            )
            return None

    def on_train_begin(self, logs=None):
        state = self._read_metadata()
        epoch = 0
        if state is not None:
            epoch, weights = state
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(weights)
            self.model._initial_epoch = epoch
        if self.csv_path is not None:
            keep_csv_rows(self.csv_path, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1  # saved by `commit()`

    def commit(self):
        backup = pathlib.Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        old = self._read_metadata()
        epoch = self._current_epoch
        weights = backup / f"epoch-{epoch}.weights.h5"
        with atomic_path(weights, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
            fault_point("during_backup_write", epoch - 1)
        state = {"epoch": epoch, "batch": 0, "weights": weights.name}
        write_text_atomic(self._training_metadata_path, json.dumps(state))
        if old is not None and old[1] != weights:
            old[1].unlink(missing_ok=True)
        fault_point("after_backup_write", epoch - 1)


class BackupCommit(keras.callbacks.Callback):
    """Commits an `AtomicBackupAndRestore` at the end of each epoch (placed after the CSV logger)."""

    def __init__(self, backup):
        super().__init__()
        self.backup = backup

    def on_epoch_end(self, epoch, logs=None):
        self.backup.commit()


def remove_stale_temporaries(run_dir):
    """Removes the temporary files a killed run left in `run_dir` and `run_dir/backup`.

    They are the `.<name>.<random><suffix>` files of `keras_ispan.io.atomic.atomic_path` (a kill during
    the `best.keras` save or a backup write leaves one); the run folder belongs to one run at a time.
    """
    removed = []
    for folder in (pathlib.Path(run_dir), pathlib.Path(run_dir) / "backup"):
        if not folder.is_dir():
            continue
        for path in folder.glob(".*"):
            if path.is_file() and path.name.endswith((".tmp", ".keras", ".weights.h5")):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def keep_csv_rows(path, epochs):
    """Keeps the rows of epochs `< epochs` in the CSV log `path` (atomically); none left: no file."""
    path = pathlib.Path(path)
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    rows = list(csv.reader(lines))
    if not rows:
        path.unlink()
        return
    header, kept = rows[0], []
    for line, row in zip(lines[1:], rows[1:]):
        if len(row) == len(header) and line.endswith("\n"):
            try:
                if int(float(row[0])) < epochs:
                    kept.append(line)
            except ValueError:
                pass  # a row cut short by a kill
    if kept:
        write_text_atomic(path, lines[0] + "".join(kept))
    else:
        path.unlink()


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
            fault_point("during_best_save", epoch)
        state = {"monitor": self.monitor, "best": value, "epoch": int(epoch)}
        write_text_atomic(self.state_path, json.dumps(state))


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

    1. `LearningRateLogger` (adds `lr` to the logs); 2. `AtomicBackupAndRestore` into `run_dir/backup`
    (restores at the start; non-chief workers back up into their own `worker_dir`); 3. `BestModelCheckpoint`
    to `run_dir/best.keras`; 4. `CSVLogger` (`log.csv`, appended on resume); 5. TensorBoard
    (`tensorboard/`); 6. early stopping; 7. `BackupCommit`, which writes the backup once the epoch's
    checkpoint and CSV row are written; then `extra`.
    `saved_model`: what `best.keras` holds when it is not the trained model (see `BestModelCheckpoint`).
    """
    run_dir = pathlib.Path(run_dir)
    backup_root = (
        run_dir if chief else pathlib.Path(worker_dir or tempfile.mkdtemp(prefix="ispan-worker-"))
    )
    backup = AtomicBackupAndRestore(
        str(backup_root / "backup"), csv_path=run_dir / "log.csv" if chief else None
    )
    callbacks = [
        LearningRateLogger(),
        backup,
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
    callbacks.append(BackupCommit(backup))
    callbacks.extend(extra)
    return callbacks
