"""What `train.precise_bn` costs: its re-estimation time per epoch against the epoch's training time.

    python benchmarks/precise_bn_cost.py                 # the synthetic preset, 4 epochs
    python benchmarks/precise_bn_cost.py --epochs 2      # a smoke run

Trains the synthetic preset (`training.engine.run.run`, `train.precise_bn` on, its
`train.precise_bn_batches` forward batches of training clips under the evaluation transform before
each validation) and times, in the same run and the same epochs, each epoch's three phases: the
training steps (from the epoch's start to the start of validation, less the re-estimation), the
re-estimation (`PreciseBatchNorm._estimate`, wrapped here with a timer), and the validation pass.
After training, on the trained model, it splits one re-estimation: called directly, and reading its
batches alone (the same fresh, uncached iteration of the training clips).
Prints a table per epoch with the ratio re-estimation / training, and writes
`benchmarks/results/precise_bn_cost.json`. The first epoch includes tracing (the training step's and
the re-estimation's); the median is taken over the later epochs.
"""

import argparse
import contextlib
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

from benchmarks.common import command_line, print_table, study_run_overrides, write_json  # noqa: E402
from training.config.core import load_config, parse_override  # noqa: E402
from training.engine import batch_norm  # noqa: E402


class PhaseTimer(keras.callbacks.Callback):
    """Per epoch: seconds from the epoch's start to validation's start, and of validation."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self.rows.append({"epoch": epoch + 1})

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()
        if self.rows and "to_validation_s" not in self.rows[-1]:
            self.rows[-1]["to_validation_s"] = self._test_start - self._epoch_start

    def on_test_end(self, logs=None):
        if self.rows and "validation_s" not in self.rows[-1]:
            self.rows[-1]["validation_s"] = time.perf_counter() - self._test_start


@contextlib.contextmanager
def timed_estimates(durations):
    """Wraps `PreciseBatchNorm._estimate` with a timer for the scope (appends seconds to `durations`)."""
    original = batch_norm.PreciseBatchNorm._estimate

    def timed(self):
        start = time.perf_counter()
        original(self)
        durations.append(time.perf_counter() - start)

    batch_norm.PreciseBatchNorm._estimate = timed
    try:
        yield
    finally:
        batch_norm.PreciseBatchNorm._estimate = original


def measure(args, runs_dir):
    """Trains once; returns one row per epoch with the three phases and the ratio."""
    from training.engine.run import run

    overrides = {
        "train.epochs": args.epochs,
        "train.precise_bn": True,
        "train.seed": args.seed,
        **study_run_overrides(runs_dir, "precise-bn-cost"),
        "data.synthetic_difficulty": args.difficulty,
        **dict(parse_override(o) for o in args.set),
    }
    config = load_config(preset="synthetic", overrides=overrides)
    timer, estimates = PhaseTimer(), []
    with timed_estimates(estimates):
        result = run(config, extra_callbacks=[timer])
    if len(estimates) < len(timer.rows):
        raise RuntimeError(f"precise BN ran {len(estimates)} times in {len(timer.rows)} epochs")
    rows = []
    for row, estimate in zip(timer.rows, estimates, strict=False):
        train_s = row["to_validation_s"] - estimate
        rows.append({**row, "train_s": train_s, "precise_bn_s": estimate,
                     "precise_bn_over_train": estimate / train_s})  # fmt: skip
    return config, rows, result


def breakdown(config, model, repeats):
    """After training, on the trained model: seconds (median of `repeats`) of one re-estimation
    called directly, and of reading its batches alone (the same fresh, uncached iteration)."""
    from keras_ispan.models import precise_batch_norm
    from training.data import datasets

    data_dir = datasets.resolve_data_dir(config)
    batches = config.train.precise_bn_batches

    def read():
        for _ in zip(range(batches), datasets.training_clips(config, data_dir), strict=False):
            pass

    def estimate():
        precise_batch_norm(model, datasets.training_clips(config, data_dir), batches)

    timings = {}
    for name, fn in (("read_only_s", read), ("estimate_direct_s", estimate)):
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        timings[name] = statistics.median(runs)
    timings["read_share"] = timings["read_only_s"] / timings["estimate_direct_s"]
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", default="default", choices=["default", "hard"])
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    parser.add_argument("--name", default="precise_bn_cost", help="benchmarks/results/<name>.json")
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats of the after-training breakdown"
    )
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error(f"--epochs must be >= 2 (the first epoch traces). Received: {args.epochs}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="precise_bn_cost_") as tmp:
        config, rows, result = measure(args, pathlib.Path(tmp))
        split = breakdown(config, result.model, args.repeats)
    later = rows[1:]
    summary = {
        key: statistics.median(r[key] for r in later)
        for key in ("train_s", "precise_bn_s", "validation_s", "precise_bn_over_train")
    }
    columns = ["epoch", "train_s", "precise_bn_s", "validation_s", "precise_bn_over_train"]
    print_table(rows, columns)
    print(
        f"median over epochs 2-{len(rows)}: precise BN {summary['precise_bn_s']:.2f} s "
        f"({config.train.precise_bn_batches} batches of {config.data.batch_size}) against "
        f"{summary['train_s']:.2f} s of training: {summary['precise_bn_over_train']:.3f}"
    )
    print(
        f"after training, median of {args.repeats}: one re-estimation {split['estimate_direct_s']:.2f} s, "
        f"reading its batches alone {split['read_only_s']:.2f} s ({split['read_share']:.0%})"
    )
    command = command_line(__file__, argv)
    write_json(
        args.name,
        {
            "benchmark": "precise_bn_cost",
            "command": command.strip(),
            "settings": vars(args),
            "precise_bn_batches": config.train.precise_bn_batches,
            "batch_size": config.data.batch_size,
            "wall_time_s": time.perf_counter() - start,
            "epochs": rows,
            "median_later_epochs": summary,
            "after_training": split,
        },
    )


if __name__ == "__main__":
    main()
