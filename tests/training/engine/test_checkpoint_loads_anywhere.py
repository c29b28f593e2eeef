"""A `best.keras` that `fit.py`'s engine wrote opens with plain `keras.saving.load_model`, optimizer
and schedule included, in a fresh process that imports `keras_ispan.models` and cannot import the
training application (`training` blocked: a user's process outside the checkout)."""

import json
import subprocess
import sys

import numpy as np

SCRIPT = """
import json, sys
sys.modules["training"] = None  # outside the checkout: the application is not importable
import keras
import keras_ispan.models
model = keras.saving.load_model(sys.argv[1])
schedule = model.optimizer._learning_rate  # the schedule object (`learning_rate` is its value now)
frames = keras.ops.convert_to_tensor(__import__("numpy").load(sys.argv[2]))
print(json.dumps({
    "schedule": type(schedule).__name__, "schedule_module": type(schedule).__module__,
    "peak": float(schedule.peak), "loss": type(model.loss).__name__,
    "logits": keras.ops.convert_to_numpy(model(frames, training=False)).tolist(),
}))
"""


def test_fit_checkpoint_loads_with_keras_outside_the_checkout(trained_run, tmp_path):
    from keras_ispan.models import load_classifier

    config = trained_run.config
    size = config.data.image_size
    frames = np.random.default_rng(0).uniform(0, 255, (2, 3, size, size, 3)).astype("float32")
    np.save(tmp_path / "frames.npy", frames)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(trained_run.model_path), str(tmp_path / "frames.npy")],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert (loaded["schedule"], loaded["schedule_module"]) == (
        "WarmupSchedule", "keras_ispan.models.recipe",
    )  # fmt: skip
    assert loaded["peak"] == config.optim.learning_rate
    assert loaded["loss"] == "SparseCrossEntropy"
    # the same function as the classifier the tools load (architecture and weights only)
    reference = load_classifier(trained_run.model_path)(frames, training=False)
    np.testing.assert_allclose(loaded["logits"], np.asarray(reference), atol=1e-5)
