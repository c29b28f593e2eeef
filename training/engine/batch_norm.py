"""`PreciseBatchNorm`: the callback of `train.precise_bn` (precise BN before every validation), and
`precise_bn_callback`, the one a run of a config uses (`fit.py`'s runs and `tune.py`'s trials)."""

from __future__ import annotations

import keras

__all__ = ["PreciseBatchNorm", "precise_bn_callback"]


class PreciseBatchNorm(keras.callbacks.Callback):
    """Re-estimates the batch-norm statistics of `classifier` before each validation pass.

    Calls `keras_ispan.models.precise_batch_norm(classifier, make_dataset(), num_batches)` when
    `fit` starts validating (`on_test_begin`), so the validation metrics, the best checkpoint and
    early stopping see the model as inference will; an epoch without validation is re-estimated at
    its end, before the checkpoint callbacks (this callback goes first in the list). Training is not
    affected: training-mode batch norm normalises by batch statistics, and the moving averages go on
    from the re-estimated values.

    Args:
        classifier: the model whose batch-norm layers are re-estimated (the classifier inside a
            `with_frame_resize` wrapper, if any).
        make_dataset: `() -> dataset` of `(frames, labels)` training batches under the evaluation
            transform (a fresh, finite iteration each time).
        num_batches: batches per re-estimation.
        log: optional function taking one line (once, on the first re-estimation).
    """

    def __init__(self, classifier, make_dataset, num_batches, log=None):
        super().__init__()
        self.classifier, self.make_dataset = classifier, make_dataset
        self.num_batches, self.log = int(num_batches), log
        self._fitting = self._done = False

    def on_train_begin(self, logs=None):
        self._fitting = True

    def on_train_end(self, logs=None):
        self._fitting = False

    def on_epoch_begin(self, epoch, logs=None):
        self._done = False

    def on_test_begin(self, logs=None):
        if self._fitting:
            self._estimate()

    def on_epoch_end(self, epoch, logs=None):
        if not self._done:
            self._estimate()

    def _estimate(self):
        from keras_ispan.models import precise_batch_norm

        log, self.log = self.log, None  # one line per run, not per epoch
        precise_batch_norm(self.classifier, self.make_dataset(), self.num_batches, log=log)
        self._done = True


def precise_bn_callback(config, classifier, log=None) -> PreciseBatchNorm:
    """The `PreciseBatchNorm` of `train.precise_bn` for `classifier`, trained on `config`: it estimates
    on `train.precise_bn_batches` batches of the training clips under the evaluation transform (centre
    crop, uncached: `training.data.datasets.training_clips` of `data.data_dir`). The caller checks
    `train.precise_bn` and puts it first among the callbacks (before validation and checkpoints)."""
    from training.data import datasets

    def training_clips():
        return datasets.training_clips(config, config.data.data_dir)

    return PreciseBatchNorm(classifier, training_clips, config.train.precise_bn_batches, log=log)
