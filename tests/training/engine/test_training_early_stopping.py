"""Early stopping from `make_callbacks`: a run whose validation metric cannot improve stops early."""

import keras
import numpy as np

from training.engine.callbacks import make_callbacks


def test_early_stopping_stops_a_run_that_cannot_improve(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 2, size=16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    # A zero learning rate: val_loss never improves, so patience 2 stops after epoch 3 of 10.
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(True))
    callbacks = make_callbacks(
        tmp_path, monitor="val_loss", mode="min", chief=True, early_stopping_patience=2,
        tensorboard=False,
    )  # fmt: skip
    history = model.fit(x, y, validation_data=(x, y), epochs=10, callbacks=callbacks, verbose=0)
    assert len(history.epoch) == 3
    assert (tmp_path / "best.keras").is_file()
    no_stop = make_callbacks(tmp_path / "b", monitor="val_loss", mode="min", chief=True,
                             tensorboard=False)  # fmt: skip
    assert not any(isinstance(c, keras.callbacks.EarlyStopping) for c in no_stop)
