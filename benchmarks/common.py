"""Shared helpers of the benchmark scripts: timing, a table printer, JSON output, machine info."""

import os
import pathlib
import platform
import statistics
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


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
