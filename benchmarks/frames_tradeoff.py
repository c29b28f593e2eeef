"""The speed knob: test accuracy against frames and latency, and the anytime threshold to use (issue 15).

    python benchmarks/frames_tradeoff.py                      # trains on the embedded data (1 seed)
    python benchmarks/frames_tradeoff.py --seeds 3            # the issue's claim needs 3 seeds
    python benchmarks/frames_tradeoff.py --model runs/NAME/best.keras --data data/ucf101_s1

For each T in `--frames`: the test top-1 (mAP for multi-label data) of the same weights with T frames
(the evaluation pipeline, `num_segments=T`), and the latency per clip of the exported SavedModel
in-process (`tf.saved_model.load`, `serving_default`, p50/p95 over `--repeats` calls on a fixed clip).
Then the anytime sweep: each test clip's 8 TSN centres (the evaluation pipeline with `num_segments=8`,
exactly the coarse-to-fine candidates for K = 8) in coarse-to-fine order through
`keras_ispan.models.AnytimeClassifier`; for each threshold the top-1, the mean frames used and the mean
latency (the library's, and the exported `serve_anytime` signature's on the same clips, next to
`serving_default` with 8 frames on the same clips). Recommends the threshold that keeps top-1 within
1 point of fixed T = 8 at the fewest mean frames. Writes `OUT/frames_tradeoff.json` and
`OUT/frames_tradeoff.png` and prints the tables. Not measured: latency through the local server over
gRPC (`benchmarks/serving.py` measures that path at 8 frames).
"""

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.common import machine, print_table  # noqa: E402

FRAMES = (1, 2, 3, 4, 6, 8, 12, 16, 25)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01)
K = 8
OUT = pathlib.Path(__file__).resolve().parent / "results" / "frames_tradeoff"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a .keras classifier (with --data); default: train one")
    parser.add_argument("--data", help="a prepared dataset folder (with --model)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, default=1, help="seeds to train without --model")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's)")
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    parser.add_argument("--repeats", type=int, default=30, help="latency calls per T")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    if (args.model is None) != (args.data is None):
        parser.error("--model and --data go together (or neither: train on the embedded data)")
    if args.seeds < 1 or args.repeats < 2 or (args.epochs is not None and args.epochs < 1):
        parser.error("--seeds and --epochs must be >= 1, --repeats >= 2")
    if K not in args.frames:
        parser.error(f"--frames must include {K} (the reference). Received: {args.frames}")
    return args


def train_models(args, out):
    """`[(seed, model_path, data_dir)]`: one run per seed on the embedded data, reused when finished."""
    from training.config.core import load_config
    from training.engine import datasets
    from training.engine.run import run

    models = []
    for seed in range(args.seeds):
        overrides = {
            "train.seed": seed,
            "train.verbose": 2,
            "output.tensorboard": False,
            "eval.frames_sweep": [],
            "output.runs_dir": str(out / "runs"),
            "output.name": f"seed{seed}" + (f"-{args.epochs}ep" if args.epochs else ""),
        }
        if args.epochs:
            overrides["train.epochs"] = args.epochs
        config = load_config(preset="synthetic", overrides=overrides)
        run_dir = out / "runs" / config.output.name
        if not (run_dir / "metrics.json").exists():
            run(config)
        models.append((seed, run_dir / "best.keras", datasets.resolve_data_dir(config)))
    return models


def percentiles(times_s):
    ms = np.asarray(times_s) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def timed_calls(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def export_signatures(model, tmp):
    """The exported SavedModel's `serving_default` and `serve_anytime`, loaded in-process."""
    import tensorflow as tf

    from keras_ispan.export.saved_model import ExportOptions, export_model

    result = export_model(
        model, tmp, name="tradeoff", options=ExportOptions(warmup_num_frames=(1,))
    )
    loaded = tf.saved_model.load(str(result.version_dir))
    return loaded, loaded.signatures["serving_default"], loaded.signatures["serve_anytime"]


def fixed_rows(model, make, frames, multi_label, serving_default, size, repeats):
    """Per T: the metrics of the evaluation pipeline and the SavedModel's latency on a fixed clip."""
    import tensorflow as tf

    from training.evaluation import multiview

    rows = multiview.frames_sweep(model, make, frames, multi_label=multi_label, log=lambda _: None)
    rng = np.random.default_rng(0)
    for row in rows:
        clip = tf.constant(rng.integers(0, 256, (1, row["frames"], size, size, 3), dtype=np.uint8))
        p50, p95 = percentiles(timed_calls(lambda c=clip: serving_default(frames=c), repeats))
        row.update(latency_p50_ms=p50, latency_p95_ms=p95)
    reference = next(r for r in rows if r["frames"] == K)
    for row in rows:
        row["latency_ratio_to_t8"] = row["latency_p50_ms"] / reference["latency_p50_ms"]
    return rows


def anytime_steps(model, make):
    """Each test clip's 8 frames (uint8, coarse-to-fine order), its probabilities after each step
    (`AnytimeResult.step_probabilities`, threshold > 1), the library's time per step, and the labels."""
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_segments
    from keras_ispan.models import AnytimeClassifier

    anytime = AnytimeClassifier(model)
    order = coarse_to_fine_segments(K)
    clips, steps, step_ms, labels = [], [], [], []
    for frames, batch_labels in make(K):
        for clip, label in zip(np.asarray(frames), np.asarray(batch_labels)):
            clip = clip[order]
            result = anytime.predict(clip, threshold=2.0, order=np.arange(len(clip)))
            clips.append(np.clip(np.round(clip), 0, 255).astype(np.uint8))
            steps.append(result.step_probabilities)
            step_ms.append(result.latency_ms / result.frames_used)
            labels.append(label)
    return clips, np.stack(steps), np.asarray(step_ms), np.stack(labels)


def stop_steps(steps, threshold):
    """The number of frames used per clip at `threshold` (the first confident step, else all)."""
    from keras_ispan.models.anytime import confidence

    confident = confidence(steps) >= threshold
    return np.where(confident.any(axis=1), confident.argmax(axis=1) + 1, steps.shape[1])


def metric_of(scores, labels, multi_label):
    from training.evaluation.metrics import summarize

    result = summarize(scores, labels, multi_label=multi_label)
    return result["mAP" if multi_label else "top1"]


def threshold_rows(steps, step_ms, labels, clips, args, multi_label, signatures):
    """Per threshold: the metric, the mean frames used, the library's mean latency (from its per-step
    time) and the `serve_anytime` latency measured on the same clips."""
    import tensorflow as tf

    serving_default, serve_anytime = signatures
    fixed = [
        timed_calls(lambda c=c: serving_default(frames=tf.constant(c[None])), 1, 1)[0]
        for c in clips
    ]
    rows = []
    for threshold in args.thresholds:
        used = stop_steps(steps, threshold)
        scores = steps[np.arange(len(used)), used - 1]
        t = tf.constant(threshold, tf.float32)
        served = [
            timed_calls(lambda c=c, t=t: serve_anytime(frames=tf.constant(c[None]), threshold=t), 1, 1)[0]
            for c in clips
        ]  # fmt: skip
        rows.append({
            "threshold": float(threshold),
            "metric": metric_of(scores, labels, multi_label),
            "mean_frames": float(used.mean()),
            "library_mean_ms": float((used * step_ms).mean()),
            "served_mean_ms": float(np.mean(served) * 1e3),
            "served_fixed_t8_mean_ms": float(np.mean(fixed) * 1e3),
            "latency_ratio_to_t8": float(np.mean(served) / np.mean(fixed)),
        })  # fmt: skip
    return rows


def recommend(rows, reference, tolerance=0.01):
    """The threshold with the fewest mean frames among those within `tolerance` of `reference`."""
    ok = [r for r in rows if r["metric"] >= reference - tolerance - 1e-12]
    if not ok:
        return None
    return min(ok, key=lambda r: (r["mean_frames"], -r["metric"], r["threshold"]))


def measure(model_path, data_dir, args):
    """The fixed-T rows and the threshold rows of one model."""
    from keras_ispan.models import classifier_info, load_classifier
    from training.engine import datasets
    from training.evaluation.multiview import _view_datasets, check_classes

    model = load_classifier(model_path)
    info = datasets.dataset_info(data_dir)
    check_classes(model, info, model_path)
    views = _view_datasets(model, data_dir, args.split, args.batch_size)

    def make(count):
        return views(count, 1, 1)

    size = classifier_info(model).image_size
    with tempfile.TemporaryDirectory() as tmp:
        _, serving_default, serve_anytime = export_signatures(model, tmp)
        fixed = fixed_rows(
            model, make, args.frames, info.multi_label, serving_default, size, args.repeats
        )
        clips, steps, step_ms, labels = anytime_steps(model, make)
        sweep = threshold_rows(
            steps, step_ms, labels, clips, args, info.multi_label, (serving_default, serve_anytime)
        )
    metric = "mAP" if info.multi_label else "top1"
    for row in sweep:
        row[metric] = row.pop("metric")
    return {"model": str(model_path), "data": str(data_dir), "metric": metric,
            "fixed": fixed, "anytime": sweep}  # fmt: skip


def mean_rows(per_model, key, by):
    """Rows averaged over models (seeds), matched on `by`."""
    out = []
    for rows in zip(*(m[key] for m in per_model)):
        row = {by: rows[0][by]}
        for name, value in rows[0].items():
            if name != by and isinstance(value, int | float):
                values = [r[name] for r in rows]
                row[name] = statistics.fmean(values)
                if len(values) > 1:
                    row[f"{name}_std"] = statistics.stdev(values)
        out.append(row)
    return out


def summary(per_model, args, seconds):
    metric = per_model[0]["metric"]
    fixed = mean_rows(per_model, "fixed", "frames")
    sweep = mean_rows(per_model, "anytime", "threshold")
    t8 = next(r for r in fixed if r["frames"] == K)
    best = recommend([{**r, "metric": r[metric]} for r in sweep], t8[metric])
    recommended = {"threshold": None, "mean_frames": None, metric: None}
    if best is not None:
        recommended = {
            "threshold": best["threshold"],
            "mean_frames": best["mean_frames"],
            metric: best[metric],
            "latency_ratio_to_t8": best["latency_ratio_to_t8"],
            "served_mean_ms": best["served_mean_ms"],
        }
    return {
        "command": "python benchmarks/frames_tradeoff.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "seconds": seconds,
        "seeds": len(per_model),
        "metric": metric,
        "k": K,
        "recommended": recommended,
        "fixed_t8": {metric: t8[metric], "latency_p50_ms": t8["latency_p50_ms"]},
        "latency_ratio_recommended_to_t8": recommended.get("latency_ratio_to_t8"),
        "fixed_rows": fixed,
        "anytime_rows": sweep,
        "per_model": per_model,
        "not_measured": "latency through the local server over gRPC",
    }


def plot(result, path):
    from training.evaluation.plots import _figure, _save

    metric = result["metric"]
    fig = _figure((6, 3.8))
    ax = fig.subplots()
    fixed, sweep = result["fixed_rows"], result["anytime_rows"]
    ax.plot([r["frames"] for r in fixed], [r[metric] for r in fixed], marker="o", label="fixed T")
    ax.plot([r["mean_frames"] for r in sweep], [r[metric] for r in sweep], marker="s",
            label=f"anytime (K={K}), mean frames")  # fmt: skip
    for r in sweep:
        ax.annotate(f"{r['threshold']:g}", (r["mean_frames"], r[metric]), fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frames per clip (T, or mean frames used)")
    ax.set_ylabel(f"test {metric}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def print_tables(result):
    metric = result["metric"]
    print_table(result["fixed_rows"], ["frames", metric, "latency_p50_ms", "latency_p95_ms",
                                       "latency_ratio_to_t8"])  # fmt: skip
    print()
    print_table(result["anytime_rows"], ["threshold", metric, "mean_frames", "library_mean_ms",
                                         "served_mean_ms", "latency_ratio_to_t8"])  # fmt: skip
    print(f"\nrecommended: {result['recommended']}; fixed T={K}: {result['fixed_t8']}")


def main(argv=None):
    from keras_ispan.io.atomic import write_json_atomic

    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.model:
        models = [(None, pathlib.Path(args.model), pathlib.Path(args.data))]
    else:
        models = train_models(args, out)
    per_model = [{"seed": seed, **measure(path, data, args)} for seed, path, data in models]
    result = summary(per_model, args, time.perf_counter() - start)
    write_json_atomic(out / "frames_tradeoff.json", result, indent=2)
    plot(result, out / "frames_tradeoff.png")
    print_tables(result)
    print(f"wrote {out / 'frames_tradeoff.json'} and .png")
    return result


if __name__ == "__main__":
    main()
