"""Runs the core test suite again in a fresh process under the JAX backend."""

import os
import subprocess
import sys

import pytest

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
        str(REPO_ROOT / "tests" / "core"),
    ]
    result = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
