"""Runs the core test suite again in a fresh process under the JAX backend; compares backends."""

import os
import sys

import numpy as np
import pytest

from tests import hang
from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_core_suite_passes_under_jax():
    pytest.importorskip("jax")
    if os.environ.get("KERAS_BACKEND") == "jax":
        pytest.skip("already running under JAX")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        "not tf_only",
        "-p",
        "no:cacheprovider",
        str(REPO_ROOT / "tests" / "keras_ispan"),
        "--ignore",
        str(REPO_ROOT / "tests" / "keras_ispan" / "data"),  # the TensorFlow data pipeline
        "--ignore",
        str(REPO_ROOT / "tests" / "keras_ispan" / "io"),  # no Keras: the backend changes nothing
    ]
    # streamed line by line (`pytest -s` shows the progress); the limit is only against a hang
    code, output = hang.stream(
        cmd, step="the core suite under JAX", limit=2400, cwd=REPO_ROOT, env=env
    )
    assert code == 0, output[-6000:]
    assert " passed" in output and "failed" not in output


_FRAME_RESIZE_UNDER_JAX = """
import sys
import keras
import numpy as np
from keras_ispan import FrameResize
clips = np.load(sys.argv[1])
outputs = {m: FrameResize((32, 28), m)(clips) for m in ("bilinear", "nearest")}
np.savez(sys.argv[2], **{m: keras.ops.convert_to_numpy(y) for m, y in outputs.items()})
"""


def test_frame_resize_matches_the_current_backend_under_jax(tmp_path):
    pytest.importorskip("jax")
    if os.environ.get("KERAS_BACKEND") == "jax":
        pytest.skip("already running under JAX")
    from keras import ops

    from keras_ispan import FrameResize

    clips = np.random.default_rng(0).integers(0, 256, size=(2, 3, 48, 40, 3)).astype("uint8")
    np.save(tmp_path / "clips.npy", clips)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    cmd = [
        sys.executable,
        "-c",
        _FRAME_RESIZE_UNDER_JAX,
        tmp_path / "clips.npy",
        tmp_path / "out.npz",
    ]
    result = hang.run(
        cmd, step="FrameResize under JAX", cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    under_jax = np.load(tmp_path / "out.npz")
    # Bilinear: the backends round the float32 source coordinates differently (~1e-4 apart).
    here = ops.convert_to_numpy(FrameResize((32, 28), "bilinear")(clips))
    np.testing.assert_allclose(under_jax["bilinear"], here, atol=1e-3)
    here = ops.convert_to_numpy(FrameResize((32, 28), "nearest")(clips))
    np.testing.assert_array_equal(under_jax["nearest"], here)
