"""Training throughput (clips/s): the ISPAN head (with both losses) against the TSN average head on the same
backbone and input, measured side by side in one process, runs interleaved.

    python benchmarks/train_throughput.py                        # small_cnn, 8 x 64x64 frames, batch 8
    python benchmarks/train_throughput.py --backbone resnet50 --image-size 224 --frames 3 --batch-size 8

Prints a table and writes `benchmarks/results/train_throughput.json`. The input is one fixed in-memory batch
(repeated), so the numbers measure the model's training step, not the input pipeline.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from benchmarks.common import command_line  # noqa: E402

VARIANTS = {
    "ispan (both losses)": {"head": "ispan"},
    "ispan (no losses)": {"head": "ispan", "interaction_weight": 0.0, "diversity_weight": 0.0},
    "tsn (average)": {"head": "tsn"},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument(
        "--steps",
        type=int,
        default=100,
        help="training steps per timed repeat (25 is too short: 2 s runs)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed repeats per variant (interleaved)"
    )
    parser.add_argument(
        "--output", default=str(pathlib.Path(__file__).parent / "results" / "train_throughput.json")
    )
    return parser.parse_args(argv)


def build(variant, args):
    import keras

    from keras_ispan.models import build_classifier
    from training.engine.optim import SparseCrossEntropy

    keras.utils.set_random_seed(0)
    model = build_classifier(
        args.classes,
        backbone=args.backbone,
        image_size=args.image_size,
        weights=None,
        **VARIANTS[variant],
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=SparseCrossEntropy(),
        jit_compile=False,
    )
    return model


def _clips_per_s(models, dataset, args) -> dict:
    """`{variant: [training clips/s of each repeat]}`, the variants interleaved in each repeat."""
    for model in models.values():  # warm-up: tracing and first steps
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
    timings = {name: [] for name in models}
    for repeat in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
            seconds = time.perf_counter() - start
            timings[name].append(args.steps * args.batch_size / seconds)
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    return timings


def _rows(timings, models) -> list:
    """One row per variant: best-of-repeats (the least disturbed by other processes on a shared CPU)
    and median clips/s, each as a ratio to TSN's."""
    best_tsn = max(timings["tsn (average)"])
    median_tsn = statistics.median(timings["tsn (average)"])
    return [
        {
            "variant": name,
            "clips_per_s_best": max(values),
            "clips_per_s_median": statistics.median(values),
            "clips_per_s_runs": values,
            "ratio_to_tsn_best": max(values) / best_tsn,
            "ratio_to_tsn_median": statistics.median(values) / median_tsn,
            "parameters": int(models[name].count_params()),
        }
        for name, values in timings.items()
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    from keras_ispan.io.atomic import write_text_atomic

    rng = np.random.default_rng(0)
    frames = rng.integers(
        0, 256, (args.batch_size, args.frames, args.image_size, args.image_size, 3), np.uint8
    )
    labels = rng.integers(0, args.classes, args.batch_size).astype(np.int32)
    dataset = tf.data.Dataset.from_tensors((frames, labels)).repeat()
    models = {name: build(name, args) for name in VARIANTS}
    rows = _rows(_clips_per_s(models, dataset, args), models)
    print()
    print(
        f"{'variant':<22}{'best clips/s':>14}{'vs TSN':>8}{'median':>9}{'vs TSN':>8}{'params':>10}"
    )
    for row in rows:
        print(
            f"{row['variant']:<22}{row['clips_per_s_best']:>14.2f}{row['ratio_to_tsn_best']:>8.3f}"
            f"{row['clips_per_s_median']:>9.2f}{row['ratio_to_tsn_median']:>8.3f}{row['parameters']:>10,}"
        )
    result = {
        "benchmark": "train_throughput",
        "command": command_line(__file__, argv),
        "settings": vars(args),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
        },  # fmt: skip
        "rows": rows,
        "ispan_to_tsn_ratio": rows[0]["ratio_to_tsn_best"],
        "ispan_to_tsn_ratio_median": rows[0]["ratio_to_tsn_median"],
        "target_ratio": 0.9,
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output, json.dumps(result, indent=2) + "\n")
    print(
        f"\nISPAN (both losses) / TSN = {result['ispan_to_tsn_ratio']:.3f} best-of, "
        f"{result['ispan_to_tsn_ratio_median']:.3f} median (target >= 0.9); wrote {output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
