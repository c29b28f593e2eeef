"""Shared fixtures: fixed seeds, the shared real-media clips, quiet TensorFlow logs."""

import os
import pathlib
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_CLIPS = REPO_ROOT.parent / "shared" / "data" / "clips"


@pytest.fixture(autouse=True)
def _fixed_seeds():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 (legacy global seeding, for code that still uses it)
    import keras

    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def shared_clips() -> pathlib.Path:
    """The folder of real video clips beside the project; skips the test when it is absent."""
    if not SHARED_CLIPS.is_dir() or not any(SHARED_CLIPS.iterdir()):
        pytest.skip(f"real clips not found at {SHARED_CLIPS}")
    return SHARED_CLIPS
