"""Shared helpers of the benchmark scripts: timing, a table printer, JSON output, machine info."""

import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import urllib.request

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
REPO = pathlib.Path(__file__).resolve().parents[1]


def machine():
    """A short description of this machine for the JSON files."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def timed(fn, repeats):
    """Calls `fn()` `repeats` times; returns the list of wall times in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values):
    return statistics.median(values)


def print_table(rows, columns):
    """Prints `rows` (dicts) as an aligned text table with the given column keys."""
    cells = [[_fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def command_line(script, argv=None):
    """The command as a user types it, for a result's `command`: `python benchmarks/<script's name>`
    and the arguments (`argv`, or the process's own when None)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", f"benchmarks/{pathlib.Path(script).name}", *args])


def study_run_overrides(runs_dir, name, *, overwrite=True, frames_sweep=False):
    """The config overrides every study's training run shares: quiet logs, no TensorBoard, the run
    folder `runs_dir/name`.

    Args:
        overwrite: start the run afresh (`output.overwrite`); `False` for the studies that reuse a
            finished run (they check `metrics.json` first) and resume an interrupted one.
        frames_sweep: keep the preset's frames sweep at the end of the run (`False`: none).
    """
    overrides = {
        "train.verbose": 2,
        "output.tensorboard": False,
        "output.runs_dir": str(runs_dir),
        "output.name": name,
    }
    if overwrite:
        overrides["output.overwrite"] = True
    if not frames_sweep:
        overrides["eval.frames_sweep"] = []
    return overrides


def write_json(name, payload):
    """Writes `benchmarks/results/<name>.json` atomically and returns its path."""
    from keras_ispan.io.atomic import write_json_atomic  # here: importing `keras_ispan` loads Keras

    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {"machine": machine(), **payload}, indent=2)
    print(f"wrote {path}")
    return path


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def free_port():
    """A TCP port nothing listens on now on 127.0.0.1 (the OS picks it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_server(config, model="ispan", poll_seconds=1, timeout_s=900):
    """Starts `serving/server.py` on free 127.0.0.1 ports with `config` (a models.config) and waits
    until `model` is AVAILABLE; returns `(process, rest URL, gRPC target)` (terminate the process)."""
    rest, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "serving/server.py", f"--port={grpc_port}", f"--rest_api_port={rest}",
         f"--model_config_file={config}", f"--file_system_poll_wait_seconds={poll_seconds}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            url = f"http://127.0.0.1:{rest}/v1/models/{model}"
            with urllib.request.urlopen(url, timeout=2) as r:
                if b"AVAILABLE" in r.read():
                    return proc, f"http://127.0.0.1:{rest}", f"127.0.0.1:{grpc_port}"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise TimeoutError(f"serving/server.py did not serve {model!r} from {config}")
