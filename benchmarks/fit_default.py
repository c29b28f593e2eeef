"""The README's main job as a user runs it: `python training/fit.py` (the embedded default), timed.

    python benchmarks/fit_default.py                  # one run, the dataset generated first if absent
    python benchmarks/fit_default.py --runs 2

Each run is a fresh `python training/fit.py --runs-dir TMP --name fit-default` process from the
repository root (the interpreter's start-up, TensorFlow's import, training, the final evaluation and
the attention picture included). The embedded dataset is generated before the first timed run when
its cache is absent (timed apart, `dataset_s`), so every run starts from the same state. The machine's
load average before and after each run is recorded: the wall time is this machine's, not a ratio,
and moves with what else runs on it. Writes benchmarks/results/fit_default.json (or `--out`).
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from benchmarks.common import REPO, command_line, print_table, write_json  # noqa: E402


def prepare_dataset():
    """Seconds spent generating the embedded dataset's cache (0 when it was already there)."""
    from training.config.core import load_config
    from training.data.datasets import resolve_data_dir

    start = time.perf_counter()
    resolve_data_dir(load_config(), log=lambda line: print(line, flush=True))
    return time.perf_counter() - start


def run_fit(runs_dir):
    """One `python training/fit.py` process: its row (wall seconds, test top-1, ...)."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    command = [sys.executable, "training/fit.py", "--runs-dir", str(runs_dir), "--name",
               "fit-default", "--overwrite"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"training/fit.py exited {done.returncode}: {done.stderr[-3000:]}")
    metrics = json.loads((pathlib.Path(runs_dir) / "fit-default" / "metrics.json").read_text())
    check = metrics.get("train_split", {})
    return {
        "wall_s": wall,
        "fit_s": metrics["fit_seconds"],
        "test_top1": metrics["test"]["top1"],
        "train_inference_top1": check.get("inference_top1"),
        "best_epoch": metrics["best_epoch"],
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="fit.py processes, one after another")
    parser.add_argument("--out", default="fit_default", help="results/<out>.json")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1. Received: --runs {args.runs}")
    dataset_s = prepare_dataset()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fit-default-") as runs_dir:
        for index in range(args.runs):
            print(f"run {index + 1}/{args.runs}: python training/fit.py", flush=True)
            rows.append({"run": index + 1, **run_fit(runs_dir)})
    columns = ["run", "wall_s", "fit_s", "test_top1", "train_inference_top1", "best_epoch",
               "load_before", "load_after"]  # fmt: skip
    print_table(rows, columns)
    write_json(args.out, {"command": command_line(__file__, argv), "dataset_s": dataset_s,
                          "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
