"""Running the command-line scripts as a user does: a fresh process from the repository root, with the
environment of the user (no `TF_CPP_MIN_LOG_LEVEL` of the test process), output captured."""

import os
import pathlib
import re
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TRAINING = ("fit", "evaluate", "predict", "prepare", "synthetic", "reindex", "tune")
SERVING = ("export", "server", "client")
SCRIPTS = tuple(f"training/{n}.py" for n in TRAINING) + tuple(f"serving/{n}.py" for n in SERVING)
# generous, only against a hang (a slow but correct run stays well below it)
HANG_LIMIT_S = 900
TENSORFLOW_IMPORTED = re.compile(r"\|\s+tensorflow$", re.MULTILINE)  # an `-X importtime` line
LIBRARY_LOG = re.compile(r"^[IWE]0000 ", re.MULTILINE)


def run_script(script, *args, importtime=False):
    """`subprocess.CompletedProcess` of `python [-X importtime] SCRIPT ARGS` (text, captured)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY")
    }
    flags = ["-X", "importtime"] if importtime else []
    command = [sys.executable, *flags, script, *map(str, args)]
    captured = dict(capture_output=True, text=True, check=False)
    try:
        return subprocess.run(command, cwd=REPO_ROOT, env=env, timeout=HANG_LIMIT_S, **captured)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(
            f"{script} {' '.join(map(str, args))} hung for {HANG_LIMIT_S} s"
        ) from error


def error_lines(done):
    """The stderr lines without `-X importtime`'s."""
    return [line for line in done.stderr.splitlines() if not line.startswith("import time:")]


def assert_one_line_error(done, prog, *fragments):
    """Exit status 2, no traceback, and one `prog: error:` line holding every fragment."""
    lines = error_lines(done)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2, (done.returncode, lines)
    errors = [line for line in lines if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1, lines
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert not LIBRARY_LOG.search(done.stderr), lines
    return errors[0]
