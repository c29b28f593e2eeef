"""A tiny `fit.py` run prints no TensorFlow log line, no cache warning, and one line per epoch (no
progress bar) when its output is not a terminal."""

import json
import os
import subprocess
import sys

from tests.cli.scripts import HANG_LIMIT_S, LIBRARY_LOG, REPO_ROOT
from tests.training.conftest import TINY


def test_tiny_fit_output_is_quiet(tmp_path):
    config = json.loads(json.dumps(TINY))
    config["train"]["verbose"] = 1  # the default: a bar on a terminal, one line per epoch here
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY")
    }
    env["KERAS_ISPAN_HOME"] = str(tmp_path / "home")
    command = [
        sys.executable, "training/fit.py", "--config", str(tmp_path / "tiny.json"),
        "--runs-dir", str(tmp_path / "runs"), "--name", "quiet",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=HANG_LIMIT_S, check=False,
    )  # fmt: skip
    output = done.stdout
    assert done.returncode == 0, output[-3000:]
    assert not LIBRARY_LOG.search(output), output
    assert "WARNING: All log messages before absl" not in output
    assert "did not fully read the dataset" not in output
    assert "ran out of data" not in output
    assert "\x08" not in output and "━" not in output, "a progress bar in redirected output"
    epochs = [line for line in output.splitlines() if line.startswith("3/3 - ")]
    assert len(epochs) == TINY["train"]["epochs"], output
