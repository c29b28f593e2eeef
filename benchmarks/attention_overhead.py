"""Forward cost of the ISPAN head against the TSN average head on the same backbone.

    python benchmarks/attention_overhead.py                 # ResNet-50, 224x224, 8 frames
    python benchmarks/attention_overhead.py --backbone small_cnn --image-size 112   # quick

Measures, in one run and interleaved (A B A B ...) so machine noise hits both alike:
forward clips/s of backbone + ISPAN (3 levels, both losses configured) and backbone + TSN average
consensus, their ratio (target >= 0.95), the FLOPs of one ISPAN clip (TensorFlow's graph profiler),
its achieved GFLOP/s, and this machine's dense float32 matmul GFLOP/s measured in the same run
(target: ISPAN achieved / matmul >= 0.75). Prints a table, writes
`benchmarks/results/attention_overhead.json`.
"""

import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

from benchmarks.common import median, print_table, timed, write_json  # noqa: E402
from keras_ispan.models import build_classifier  # noqa: E402


def graph_flops(model, shape):
    """Float operations of one forward pass, counted by TensorFlow's profiler on a frozen graph."""
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec(shape, tf.float32)
    )
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops


def matmul_step(size=2048):
    """A timed unit of the machine's dense float32 matmul, and its FLOPs."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    step().numpy()
    return (lambda: step().numpy()), 2 * size**3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args(argv)

    shape = (args.batch, args.frames, args.image_size, args.image_size, 3)
    clip = tf.constant(np.random.default_rng(0).uniform(0, 255, shape).astype("float32"))
    models = {
        head: build_classifier(10, backbone=args.backbone, head=head, image_size=args.image_size)
        for head in ("ispan", "tsn")
    }
    steps = {head: tf.function(lambda x, m=m: m(x, training=False)) for head, m in models.items()}
    for step in steps.values():  # trace and warm up
        step(clip).numpy()
    matmul, matmul_flops = matmul_step()
    times = {head: [] for head in steps}
    matmul_times = []
    for _ in range(args.repeats):  # interleaved, so that machine noise hits all three alike
        for head, step in steps.items():
            times[head] += timed(lambda s=step: s(clip).numpy(), 1)
        matmul_times += timed(matmul, 3)
    peak = matmul_flops / median(matmul_times) / 1e9
    rows = []
    for head in steps:
        seconds = median(times[head])
        flops = graph_flops(models[head], (1, *shape[1:]))
        rows.append(
            {
                "head": head,
                "clips_per_s": args.batch / seconds,
                "gflop_per_clip": flops / 1e9,
                "achieved_gflop_s": flops * args.batch / seconds / 1e9,
                "params_m": models[head].count_params() / 1e6,
            }
        )
    ispan, tsn = rows
    summary = {
        "throughput_ratio_ispan_over_tsn": ispan["clips_per_s"] / tsn["clips_per_s"],
        "matmul_gflop_s": peak,
        "ispan_fraction_of_matmul_peak": ispan["achieved_gflop_s"] / peak,
        "ispan_extra_flops_fraction": ispan["gflop_per_clip"] / tsn["gflop_per_clip"] - 1,
    }
    print_table(rows, ["head", "clips_per_s", "gflop_per_clip", "achieved_gflop_s", "params_m"])
    for key, value in summary.items():
        print(f"{key}: {value:.4g}")
    write_json("attention_overhead", {"args": vars(args), "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
