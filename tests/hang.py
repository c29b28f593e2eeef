"""Subprocesses in tests: limits only against hangs, never against a slow but correct run.

`run(command, step=...)` is `subprocess.run` with `HANG_LIMIT_S`; a hang fails naming the step and the
command. `stream(command, step=...)` runs a long suite and copies its output line by line to the test's
stdout as it comes (visible with `pytest -s`, and in the failure report), so a busy machine shows
progress instead of silence."""

import subprocess
import sys
import threading

HANG_LIMIT_S = (
    900  # generous: a slow but correct run on a loaded 2-core machine stays well below it
)


def _hung(step, command, limit):
    shown = " ".join(map(str, command))
    return AssertionError(f"{step} hung: no end after {limit} s (command: {shown})")


def run(command, *, step, limit=HANG_LIMIT_S, **kwargs):
    """`subprocess.run(command, timeout=limit, **kwargs)`; a hang raises `AssertionError` naming `step`."""
    try:
        return subprocess.run(command, timeout=limit, **kwargs)
    except subprocess.TimeoutExpired as error:
        raise _hung(step, command, limit) from error


def stream(command, *, step, limit=HANG_LIMIT_S, **kwargs):
    """Runs `command`, echoing each output line (stdout and stderr) as it comes; returns
    `(returncode, output)`. Killed after `limit` s of running, with an error naming `step`."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, **kwargs
    )
    killed = threading.Event()

    def kill():
        killed.set()
        process.kill()

    timer = threading.Timer(limit, kill)
    timer.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            sys.stdout.write(f"[{step}] {line}")
            sys.stdout.flush()
        code = process.wait()
    finally:
        timer.cancel()
    if killed.is_set():
        raise _hung(step, command, limit)
    return code, "".join(lines)
