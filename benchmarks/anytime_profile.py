"""Where the time of anytime inference goes: backbone calls, head calls and the in-graph loop (issue 15).

    python benchmarks/anytime_profile.py                       # small_cnn at 64 px, MobileNetV2 at 160 px

For each `--backbones` entry (BACKBONE:SIZE, untrained weights: the cost does not depend on them), all
inside `tf.function` as in the exported `serve_anytime` and called alternately (one round calls each
once, so every row sees the same machine load), the p50 over `--repeats` rounds of: the whole model at
T = 1, 2, 4, 8 frames (`serving_default`'s work without the resize), the backbone alone (`frame_model`)
on T frames, the head alone (`head_model`) on T frames' features, and `anytime_outputs` with a threshold
above 1 on 8 frames (the most work it can do) checking after every frame and per level (1, 2, 4, 8);
and the library's calls outside `tf.function` (`AnytimeClassifier` uses `predict_on_batch`, compiled per
input shape) next to eager calls of the same models. Writes `benchmarks/results/anytime_profile.json` and prints the table.
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks.common import command_line, print_table, write_json  # noqa: E402

FRAMES = (1, 2, 4, 8)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["small_cnn:64", "mobilenet_v2:160"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--name", default="anytime_profile", help="results/NAME.json")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error(f"--repeats must be >= 2. Received: {args.repeats}")
    return args


def _calls(backbone, size):
    """`{row name: fn()}` for one backbone."""
    import keras
    import tensorflow as tf

    from keras_ispan.export.anytime import anytime_outputs
    from keras_ispan.models import AnytimeClassifier, build_classifier, export_outputs_model

    keras.utils.set_random_seed(0)
    model = build_classifier(5, backbone=backbone, image_size=size, weights=None, dropout=0.0)
    outputs, anytime = export_outputs_model(model), AnytimeClassifier(model)
    clip = tf.random.uniform((1, FRAMES[-1], size, size, 3), 0, 255, seed=0)
    spec = tf.TensorSpec([None, None, size, size, 3], tf.float32)
    whole = tf.function(lambda x: outputs(x, training=False), input_signature=[spec])
    frames = tf.function(lambda x: anytime.frame_model(x, training=False), input_signature=[spec])
    features = {t: [tf.convert_to_tensor(f) for f in frames(clip[:, :t])] for t in FRAMES}
    level_specs = [tf.TensorSpec([None, None, *f.shape[2:]], f.dtype) for f in features[1]]
    head = tf.function(
        lambda f: anytime.head_model(f, training=False), input_signature=[level_specs]
    )
    never = tf.constant(2.0)
    loops = {
        schedule: tf.function(
            lambda x, t, s=schedule: anytime_outputs(anytime, x, t, s),
            input_signature=[spec, tf.TensorSpec([], tf.float32)],
        )
        for schedule in ("every_frame", "doubling")
    }
    calls = {}
    for t in FRAMES:
        calls[f"model, {t} frames"] = lambda t=t: whole(clip[:, :t])
        calls[f"backbone, {t} frames"] = lambda t=t: frames(clip[:, :t])
        calls[f"head, {t} frames"] = lambda t=t: head(features[t])
    calls["anytime loop, check every frame, 8 frames"] = lambda: loops["every_frame"](clip, never)
    calls["anytime loop, check per level (1, 2, 4, 8)"] = lambda: loops["doubling"](clip, never)
    one, four = clip[:, :1].numpy(), [f.numpy() for f in features[4]]
    calls["library backbone, 1 frame, eager call"] = lambda: anytime.frame_model(
        one, training=False
    )
    calls["library backbone, 1 frame, predict_on_batch"] = lambda: (
        anytime.frame_model.predict_on_batch(one)
    )
    calls["library head, 4 frames, eager call"] = lambda: anytime.head_model(four, training=False)
    calls["library head, 4 frames, predict_on_batch"] = lambda: anytime.head_model.predict_on_batch(
        four
    )
    return calls


def main(argv=None):
    from benchmarks.tradeoff_latency import alternate, ms_stats

    args = parse_args(argv)
    rows = []
    for spec in args.backbones:
        backbone, size = spec.split(":")
        calls = _calls(backbone, int(size))
        times = alternate({k: (lambda _, f=f: f()) for k, f in calls.items()}, [None], args.repeats)
        for name, seconds in times.items():
            stats = ms_stats(seconds)
            rows.append({"backbone": spec, "call": name, "p50_ms": stats["p50_ms"],
                         "p95_ms": stats["p95_ms"]})  # fmt: skip
    print_table(rows, ["backbone", "call", "p50_ms", "p95_ms"])
    command = command_line(__file__, argv)
    write_json(args.name, {"command": command.strip(), "repeats": args.repeats, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
