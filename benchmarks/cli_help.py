"""How long `--help` takes for every command-line script (3 runs each, median).

    python benchmarks/cli_help.py                 # all scripts, 3 runs each
    python benchmarks/cli_help.py --runs 1 --out cli_help_before

Each run is a fresh `python SCRIPT --help` process (the interpreter's own start-up included). The
column `tensorflow` says whether TensorFlow was imported on the way (read from `-X importtime`).
Writes benchmarks/results/cli_help.json (or `--out`).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from benchmarks.common import median, print_table, write_json  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
TENSORFLOW = re.compile(r"\|\s+tensorflow$", re.MULTILINE)  # an `-X importtime` line
SCRIPTS = (
    "training/fit.py",
    "training/evaluate.py",
    "training/predict.py",
    "training/prepare.py",
    "training/synthetic.py",
    "training/reindex.py",
    "training/tune.py",
    "serving/export.py",
    "serving/server.py",
    "serving/client.py",
)


def time_help(script, runs):
    """(wall times in seconds, whether TensorFlow was imported) of `runs` `--help` processes."""
    times, imported_tf = [], False
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-X", "importtime", script, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{script} --help exited {done.returncode}: {done.stderr[-2000:]}")
        imported_tf = imported_tf or TENSORFLOW.search(done.stderr) is not None
    return times, imported_tf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="processes per script")
    parser.add_argument("--out", default="cli_help", help="results file name (without .json)")
    args = parser.parse_args(argv)
    rows = []
    for script in SCRIPTS:
        times, imported_tf = time_help(script, args.runs)
        rows.append(
            {
                "script": script,
                "median_s": round(median(times), 3),
                "max_s": round(max(times), 3),
                "tensorflow": imported_tf,
            }
        )
    print_table(rows, ["script", "median_s", "max_s", "tensorflow"])
    write_json(args.out, {"runs": args.runs, "rows": rows})


if __name__ == "__main__":
    main()
