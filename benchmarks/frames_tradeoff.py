"""The speed knob: test accuracy against frames and latency, and the anytime threshold to use (issue 15).

    python benchmarks/frames_tradeoff.py --seeds 3            # trains on the embedded data (3 seeds)
    python benchmarks/frames_tradeoff.py --seeds 3 --eval-clips 1000   # + 1000 val and test clips each
    python benchmarks/frames_tradeoff.py --model runs/NAME/best.keras --data data/ucf101_s1

For each T in `--frames`: the test top-1 (mAP for multi-label data) of the same weights with T frames
(the evaluation pipeline, `num_segments=T`), and the latency per clip of the exported SavedModel
(`serving_default`, p50/p95 over `--repeats` calls on a fixed clip) in-process and through the local
server over gRPC. Then the anytime sweep: each test clip's 8 TSN centres (the evaluation pipeline with
`num_segments=8`, exactly the coarse-to-fine candidates for K = 8) in coarse-to-fine order through
`keras_ispan.models.AnytimeClassifier` (probabilities after every prefix); for each check-point
schedule (`doubling`: after 1, 2, 4, 8 frames, the export's default; `every_frame`), stop criterion
(`top1`: the top-1 probability; `margin`: its margin over the second) and threshold the top-1, the
mean frames used and the latency of the exported `serve_anytime` (the schedule's and criterion's
export) called alternately with `serving_default` at 8 frames on the first `--latency-clips` clips.
Recommends the threshold, check points and criterion that keep top-1 within 1 point of fixed T = 8 at
the fewest mean frames, chosen on `--select-split` (val; the same sweep without latencies) and
reported on `--split` (test) with the paired difference to fixed T = 8 on the same clips and its
standard error (`benchmarks/tradeoff_eval.py`); exports the first model with them as its anytime
default and measures it over gRPC (requests without a threshold of their own) next to fixed T = 8 on
the same clips. `--eval-clips N` evaluates the embedded-data models on N fresh validation and N fresh
test clips of the same distribution (never training clips; `tradeoff_eval.eval_data_dir`) instead of
the dataset's 60 each. Trained runs are reused when their settings match (`OUT/runs/seed*`). `--latency-backbones mobilenet_v2:160 resnet50:224` (the
default) add untrained backbones whose cost dominates (`benchmarks/tradeoff_latency.backbone_latency`).
The served clips are the library's exactly (`tradeoff_latency.transport_clips`), so the signature uses
the frames the offline sweep counts (`served_mean_frames` next to `mean_frames`). Writes
`OUT/frames_tradeoff.json` and `OUT/frames_tradeoff.png`, prints the tables and the export command.
"""

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import tradeoff_latency as latency  # noqa: E402
from benchmarks.common import machine, print_table, study_run_overrides, timed  # noqa: E402
from keras_ispan.options import ANYTIME_CRITERIA as CRITERIA  # noqa: E402
from keras_ispan.options import CHECK_POINTS  # noqa: E402

FRAMES = (1, 2, 3, 4, 6, 8, 12, 16, 25)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.875, 0.9, 0.95, 0.99, 1.01)
SCHEDULES = CHECK_POINTS
CHOICES = tuple((s, c) for s in SCHEDULES for c in CRITERIA)
K = 8
OUT = pathlib.Path(__file__).resolve().parent / "results" / "frames_tradeoff"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a .keras classifier (with --data); default: train one")
    parser.add_argument("--data", help="a prepared dataset folder (with --model)")
    parser.add_argument("--split", default="test", help="the split reported")
    parser.add_argument(
        "--select-split",
        default="val",
        help="the split the threshold is chosen on (never the reported one unless the dataset "
        "lacks it: then --split, said in the JSON)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds to train without --model")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's)")
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    parser.add_argument("--repeats", type=int, default=30, help="latency calls per T")
    parser.add_argument(
        "--eval-clips",
        type=int,
        help="without --model: evaluate on this many fresh val and test clips of the embedded "
        "data's distribution (never training clips) instead of its 60 each",
    )
    parser.add_argument(
        "--latency-clips", type=int, default=60, help="clips of the anytime latency sweep"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument(
        "--latency-backbones",
        nargs="+",
        default=["mobilenet_v2:160", "resnet50:224"],
        help="BACKBONE:SIZE of untrained models whose backbone dominates the latency, or 'none'",
    )
    args = parser.parse_args(argv)
    if (args.model is None) != (args.data is None):
        parser.error("--model and --data go together (or neither: train on the embedded data)")
    if args.seeds < 1 or args.repeats < 2 or (args.epochs is not None and args.epochs < 1):
        parser.error("--seeds and --epochs must be >= 1, --repeats >= 2")
    if args.latency_clips < 1 or (args.eval_clips is not None and args.eval_clips < 6):
        parser.error(f"--latency-clips must be >= 1 and --eval-clips >= 6. Received: "
                     f"latency_clips={args.latency_clips}, eval_clips={args.eval_clips}")  # fmt: skip
    if args.eval_clips is not None and args.model:
        parser.error("--eval-clips generates embedded data: it goes without --model and --data")
    if K not in args.frames:
        parser.error(f"--frames must include {K} (the reference). Received: {args.frames}")
    if args.latency_backbones == ["none"]:
        args.latency_backbones = []
    bad = [spec for spec in args.latency_backbones if not _backbone_spec_ok(spec)]
    if bad:
        parser.error(f"--latency-backbones must be BACKBONE:SIZE entries or none. Received: {bad}")
    return args


def _backbone_spec_ok(spec):
    from keras_ispan.options import BACKBONE_NAMES

    name, _, size = spec.partition(":")
    return name in BACKBONE_NAMES and size.isdigit() and int(size) >= 32


def train_models(args, out):
    """`[(seed, model_path, data_dir)]`: one run per seed on the embedded data, reused when finished
    with the same settings (`_same_settings`); `data_dir` holds the larger evaluation splits with
    `--eval-clips`."""
    from benchmarks.tradeoff_eval import eval_data_dir
    from training.config.core import load_config
    from training.data import datasets
    from training.engine.run import run

    models = []
    for seed in range(args.seeds):
        name = f"seed{seed}" + (f"-{args.epochs}ep" if args.epochs else "")
        overrides = {
            "train.seed": seed,
            **study_run_overrides(out / "runs", name, overwrite=False),
            # the start the README's models were trained with (fit.py's default before 2026-11-30)
            "model.classifier_initializer": "glorot_uniform",
        }
        if args.epochs:
            overrides["train.epochs"] = args.epochs
        config = load_config(preset="synthetic", overrides=overrides)
        run_dir = out / "runs" / config.output.name
        if not (run_dir / "metrics.json").exists():
            run(config)
        else:
            _same_settings(run_dir, config)
        data = datasets.resolve_data_dir(config)
        if args.eval_clips:
            data = eval_data_dir(config, args.eval_clips)
        models.append((seed, run_dir / "best.keras", data))
    return models


def _same_settings(run_dir, config):
    """Raises `SystemExit` naming the first setting in which the finished run in `run_dir` differs
    from `config` (data, model, optimiser and training; not the paths, logging or outputs)."""
    import json

    saved = json.loads((run_dir / "config.json").read_text())
    wanted = json.loads(json.dumps(config.to_dict()))
    ignored = {"data.data_dir", "train.verbose", "train.steps_per_epoch", "train.validation_steps"}
    for section in ("data", "model", "optim", "train"):
        for key, value in wanted[section].items():
            if f"{section}.{key}" not in ignored and saved[section].get(key) != value:
                raise SystemExit(
                    f"frames_tradeoff.py: error: {run_dir} was trained with {section}.{key}="
                    f"{saved[section].get(key)!r}, not {value!r}: give another --out or remove it"
                )


def fixed_rows(model, make, frames, multi_label, serving_default, size, repeats):
    """Per T: the metrics of the evaluation pipeline and the SavedModel's latency on a fixed clip."""
    import tensorflow as tf

    from training.evaluation import multiview

    rows = multiview.frames_sweep(model, make, frames, multi_label=multi_label, log=lambda _: None)
    rng = np.random.default_rng(0)
    for row in rows:
        clip = tf.constant(rng.integers(0, 256, (1, row["frames"], size, size, 3), dtype=np.uint8))
        serving_default(frames=clip)
        stats = latency.ms_stats(timed(lambda c=clip: serving_default(frames=c), repeats))
        row.update(latency_p50_ms=stats["p50_ms"], latency_p95_ms=stats["p95_ms"])
    reference = next(r for r in rows if r["frames"] == K)
    for row in rows:
        row["latency_ratio_to_t8"] = row["latency_p50_ms"] / reference["latency_p50_ms"]
    return rows


def stop_frames(steps, threshold, schedule="doubling", criterion="top1"):
    """Frames used per clip at `threshold`: the first check point of `schedule` whose confidence
    (`criterion`) reaches it, else all. `steps`: `(clips, K, classes)`, the probabilities after
    every prefix."""
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_steps
    from keras_ispan.models.anytime import confidence

    points = np.asarray(coarse_to_fine_steps(steps.shape[1], schedule))
    confident = confidence(steps[:, points - 1], criterion) >= threshold
    first = np.where(confident.any(axis=1), confident.argmax(axis=1), len(points) - 1)
    return points[first]


def metric_of(scores, labels, multi_label):
    from training.evaluation.metrics import summarize

    result = summarize(scores, labels, multi_label=multi_label)
    return result["mAP" if multi_label else "top1"]


def threshold_rows(steps, labels, multi_label, thresholds, served):
    """Per schedule, criterion and threshold: the metric, the mean frames used, the share of clips
    per frames used, and the served latencies (`tradeoff_latency.served_sweep`; None: without)."""
    rows = []
    for schedule, criterion in CHOICES:
        for threshold in thresholds:
            used = stop_frames(steps, threshold, schedule, criterion)
            scores = steps[np.arange(len(used)), used - 1]
            rows.append({
                "schedule": schedule,
                "criterion": criterion,
                "threshold": float(threshold),
                "metric": metric_of(scores, labels, multi_label),
                "mean_frames": float(used.mean()),
                "stop_fractions": {int(n): float(np.mean(used == n)) for n in np.unique(used)},
                **(served[schedule, criterion, float(threshold)] if served else {}),
            })  # fmt: skip
    return rows


def recommend(rows, reference, tolerance=0.01):
    """The threshold with the fewest mean frames among those within `tolerance` of `reference`."""
    ok = [r for r in rows if r["metric"] >= reference - tolerance - 1e-12]
    if not ok:
        return None
    return min(ok, key=lambda r: (r["mean_frames"], -r["metric"], r["criterion"] != "top1",
                                  r["threshold"]))  # fmt: skip


def measure(model_path, data_dir, args):
    """The fixed-T rows and the threshold rows of one model, its served clips, and the reported
    split's per-clip probabilities after every prefix and labels (the last three not written)."""
    from benchmarks.tradeoff_eval import anytime_steps
    from keras_ispan.models import classifier_info, load_classifier
    from training.data import datasets
    from training.evaluation.multiview import _view_datasets, check_classes

    model = load_classifier(model_path)
    info = datasets.dataset_info(data_dir)
    check_classes(model, info, model_path)
    views = _view_datasets(model, data_dir, args.split, args.batch_size)

    def make(count):
        return views(count, 1, 1)

    size = classifier_info(model).image_size
    clips, steps, labels = anytime_steps(model, make, K, keep_clips=args.latency_clips)
    clips = latency.transport_clips(clips, classifier_info(model).transform)
    with tempfile.TemporaryDirectory() as tmp:
        signatures = {}
        for schedule, criterion in CHOICES:
            result = latency.export(model, tmp, f"tradeoff_{schedule}_{criterion}",
                                    check_points=schedule, criterion=criterion)  # fmt: skip
            signatures[schedule, criterion] = latency.load_signatures(result.version_dir)
        _, serving_default, _ = signatures["doubling", "top1"]
        fixed = fixed_rows(
            model, make, args.frames, info.multi_label, serving_default, size, args.repeats
        )
        served = latency.served_sweep(
            {k: v[1:] for k, v in signatures.items()}, clips, args.thresholds
        )
    sweep = threshold_rows(steps, labels, info.multi_label, args.thresholds, served)
    selected_on = args.select_split if info.counts.get(args.select_split, 0) else args.split
    select_steps, select_labels, selection = steps, labels, sweep
    if selected_on != args.split:
        select_views = _view_datasets(model, data_dir, selected_on, args.batch_size)
        _, select_steps, select_labels = anytime_steps(model, lambda c: select_views(c, 1, 1), K)
        selection = threshold_rows(
            select_steps, select_labels, info.multi_label, args.thresholds, None
        )
    metric = "mAP" if info.multi_label else "top1"
    for row in (*sweep, *selection):
        row[metric] = row.pop("metric", row.get(metric))
    result = {"model": str(_shown(model_path)), "data": str(_shown(data_dir)), "metric": metric,
              "clips": {args.split: len(labels), selected_on: len(select_labels)},
              "fixed": fixed, "anytime": sweep, "selected_on": selected_on,
              "fixed_t8_from_steps": metric_of(steps[:, -1], labels, info.multi_label),
              "selection_fixed_t8": metric_of(select_steps[:, -1], select_labels,
                                              info.multi_label),
              "selection": selection}  # fmt: skip
    return result, model, clips, (steps, labels)


def mean_rows(per_model, key, by):
    """Rows averaged over models (seeds), matched in order; the `by` keys and strings are kept,
    numbers averaged (with `_std` for several seeds), dicts of numbers averaged per key."""
    out = []
    for rows in zip(*(m[key] for m in per_model)):
        row = {name: rows[0][name] for name in by}
        for name, value in rows[0].items():
            if name in by or isinstance(value, str):
                row[name] = value
            elif isinstance(value, dict):
                keys = sorted({k for r in rows for k in r[name]})
                row[name] = {k: statistics.fmean(r[name].get(k, 0.0) for r in rows) for k in keys}
            elif isinstance(value, int | float):
                values = [r[name] for r in rows]
                row[name] = statistics.fmean(values)
                if len(values) > 1:
                    row[f"{name}_std"] = statistics.stdev(values)
        out.append(row)
    return out


def _at(rows, threshold, schedule="doubling", criterion="top1"):
    return next(r for r in rows if r["schedule"] == schedule and r["threshold"] == threshold
                and r["criterion"] == criterion)  # fmt: skip


def _correct(steps, labels, choice):
    """Per clip: whether anytime at `choice` (`{threshold, schedule, criterion}`) and fixed T = 8
    (all K frames) get the top-1 right (single-label data)."""
    used = stop_frames(steps, choice["threshold"], choice["schedule"], choice["criterion"])
    chosen = steps[np.arange(len(used)), used - 1].argmax(-1) == labels
    return chosen, steps[:, -1].argmax(-1) == labels


def per_seed(per_model, clip_data, metric, choice):
    """Per model: fixed T = 8's metric, the metric and mean frames at the recommended `choice`, the
    paired difference to fixed T = 8 on the same clips with its standard error (single-label), and
    the threshold it would recommend on its own (on its selection split, doubling, top1)."""
    from benchmarks.tradeoff_eval import paired_difference

    out = []
    for m, (steps, labels) in zip(per_model, clip_data):
        t8 = next(r for r in m["fixed"] if r["frames"] == K)[metric]
        own_rows = [{**r, "metric": r[metric]} for r in m["selection"]
                    if r["schedule"] == "doubling" and r["criterion"] == "top1"]  # fmt: skip
        own = recommend(own_rows, m["selection_fixed_t8"])
        row = {"seed": m["seed"], "fixed_t8": {metric: t8}, "own_recommended_threshold":
               own and own["threshold"]}  # fmt: skip
        if choice["threshold"] is not None:
            at = _at(m["anytime"], choice["threshold"], choice["schedule"], choice["criterion"])
            row["recommended"] = {**{k: choice[k] for k in ("threshold", "schedule", "criterion")},
                                  metric: at[metric], "mean_frames": at["mean_frames"],
                                  "latency_ratio_to_t8": at["latency_ratio_to_t8"]}  # fmt: skip
            if metric == "top1":
                row["paired"] = paired_difference(*_correct(steps, labels, choice))
        out.append(row)
    return out


def pooled(clip_data, choice):
    """The paired difference of the recommended choice to fixed T = 8 over all seeds, or None."""
    from benchmarks.tradeoff_eval import pooled_difference

    if choice["threshold"] is None or clip_data[0][1].ndim != 1:
        return None
    pairs = [_correct(steps, labels, choice) for steps, labels in clip_data]
    if len({len(c) for c, _ in pairs}) != 1:
        return None
    return pooled_difference([c for c, _ in pairs], [r for _, r in pairs])


def _recommendation(sweep, selection, metric, reference, choices=CHOICES):
    """The threshold, schedule and criterion chosen on the selection rows (fewest mean frames within
    1 point of fixed T = 8 there), reported with the sweep's (test) row of the same choice."""
    best = recommend([{**r, "metric": r[metric]} for r in selection
                      if (r["schedule"], r["criterion"]) in choices], reference)  # fmt: skip
    if best is None:
        return {"schedule": None, "criterion": None, "threshold": None, "mean_frames": None,
                metric: None}  # fmt: skip
    row = _at(sweep, best["threshold"], best["schedule"], best["criterion"])
    keys = ("threshold", "mean_frames", metric, "stop_fractions", "latency_ratio_to_t8",
            "served_mean_ms", "served_fixed_t8_mean_ms", "served_mean_frames")  # fmt: skip
    return {"schedule": best["schedule"], "criterion": best["criterion"],
            **{k: row[k] for k in keys},
            "selection": {metric: best[metric], "mean_frames": best["mean_frames"],
                          "fixed_t8": reference}}  # fmt: skip


def summary(per_model, clip_data, seconds):
    metric = per_model[0]["metric"]
    by = ("schedule", "criterion", "threshold")
    fixed = mean_rows(per_model, "fixed", ("frames",))
    sweep = mean_rows(per_model, "anytime", by)
    selection = mean_rows(per_model, "selection", by)
    select_t8 = statistics.fmean(m["selection_fixed_t8"] for m in per_model)
    t8 = next(r for r in fixed if r["frames"] == K)
    recommended = _recommendation(sweep, selection, metric, select_t8)
    doubling = tuple(c for c in CHOICES if c[0] == "doubling")
    return {
        "command": "python benchmarks/frames_tradeoff.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "seconds": seconds,
        "seeds": len(per_model),
        "metric": metric,
        "k": K,
        "clips": per_model[0]["clips"],
        "selected_on": sorted({m["selected_on"] for m in per_model}),
        "recommended": recommended,
        "recommended_paired_to_t8": pooled(clip_data, recommended),
        "recommended_doubling": _recommendation(sweep, selection, metric, select_t8, doubling),
        "recommended_top1": _recommendation(
            sweep, selection, metric, select_t8, tuple(c for c in CHOICES if c[1] == "top1")
        ),
        "chosen_on_the_reported_split": _recommendation(sweep, sweep, metric, t8[metric]),
        "fixed_t8": {metric: t8[metric], "latency_p50_ms": t8["latency_p50_ms"]},
        "latency_ratio_recommended_to_t8": recommended.get("latency_ratio_to_t8"),
        "per_seed": per_seed(per_model, clip_data, metric, recommended),
        "fixed_rows": fixed,
        "anytime_rows": sweep,
        "per_model": per_model,
    }


def plot(result, path):
    from training.evaluation.plots import _figure, _save

    metric = result["metric"]
    fig = _figure((6, 3.8))
    ax = fig.subplots()
    fixed, sweep = result["fixed_rows"], result["anytime_rows"]
    ax.plot([r["frames"] for r in fixed], [r[metric] for r in fixed], marker="o", label="fixed T")
    for (schedule, criterion), marker in zip(CHOICES, "sd^v"):
        rows = [r for r in sweep if (r["schedule"], r["criterion"]) == (schedule, criterion)]
        ax.plot([r["mean_frames"] for r in rows], [r[metric] for r in rows], marker=marker,
                label=f"anytime (K={K}, {schedule}, {criterion}), mean frames")  # fmt: skip
        for r in rows:
            ax.annotate(f"{r['threshold']:g}", (r["mean_frames"], r[metric]), fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frames per clip (T, or mean frames used)")
    ax.set_ylabel(f"test {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def print_tables(result):
    metric = result["metric"]
    print_table(result["fixed_rows"], ["frames", metric, "latency_p50_ms", "latency_p95_ms",
                                       "grpc_p50_ms", "grpc_p95_ms",
                                       "latency_ratio_to_t8"])  # fmt: skip
    print()
    print_table(result["anytime_rows"], ["schedule", "criterion", "threshold", metric,
                                         "mean_frames",
                                         "served_mean_ms", "served_fixed_t8_mean_ms",
                                         "latency_ratio_to_t8"])  # fmt: skip
    grpc = result.get("grpc")
    if grpc:
        a, f = grpc["anytime"], grpc["fixed_t8_same_clips"]
        print(f"\ngRPC (local server), the same clips: anytime at the exported default "
              f"{a['default_threshold_applied']:.3g}: p50 {a['p50_ms']:.1f} / p95 {a['p95_ms']:.1f} ms "
              f"({a['mean_frames']:.2f} mean frames); fixed T={K}: p50 {f['p50_ms']:.1f} / p95 "
              f"{f['p95_ms']:.1f} ms; ratio of means {grpc['latency_ratio_to_t8']:.2f}")  # fmt: skip
    for big in result.get("latency_backbones", []):
        print(f"\n{big['backbone']} at {big['image_size']} px (untrained, latency only, checks "
              f"{big['check_points']}, stops at threshold {big['threshold']}):")  # fmt: skip
        print_table(big["rows"], ["frames", "fixed_p50_ms", "anytime_to_n_p50_ms"])
        print(f"expected anytime at the recommended threshold: {big['expected_anytime_ms']:.1f} ms "
              f"vs fixed T={K} {big['fixed_t8_p50_ms']:.1f} ms "
              f"(ratio {big['expected_latency_ratio_to_t8']:.2f})")  # fmt: skip
    print(f"\nrecommended (chosen on {'/'.join(result['selected_on'])}): {result['recommended']}; "
          f"fixed T={K}: {result['fixed_t8']}")  # fmt: skip
    paired = result.get("recommended_paired_to_t8")
    if paired:
        print(f"paired difference to fixed T={K} on the same {paired['clips_per_seed']} clips x "
              f"{paired['seeds']} seeds: {100 * paired['difference']:+.2f} +- "
              f"{100 * paired['difference_se']:.2f} points (standard error)")  # fmt: skip
    print(f"export it with: {result['export_command']}")


def served_extras(result, first, args):
    """gRPC through the local server (the first model, exported with the recommended threshold as
    its default) and the backbone whose cost dominates; merged into `result`."""
    model, clips = first
    threshold = result["recommended"]["threshold"]
    threshold = 0.9 if threshold is None else threshold
    schedule = result["recommended"]["schedule"] or "doubling"
    criterion = result["recommended"]["criterion"] or "top1"
    grpc = latency.grpc_latency(
        model, clips, args.frames, threshold, schedule, args.repeats, criterion
    )
    by_frames = {r["frames"]: r for r in grpc.pop("fixed")}
    for row in result["fixed_rows"]:
        row.update({k: v for k, v in by_frames[row["frames"]].items() if k != "frames"})
    result["grpc"] = {"exported_default_threshold": threshold, "check_points": schedule,
                      "criterion": criterion, **grpc}  # fmt: skip
    classes, result["latency_backbones"] = int(model.output_shape[-1]), []
    choices = [result["recommended"]]
    if result["recommended_doubling"]["schedule"] not in (None, schedule):
        choices.append(result["recommended_doubling"])
    for spec in args.latency_backbones:
        for choice in choices:
            fractions = {int(k): v for k, v in (choice.get("stop_fractions") or {K: 1.0}).items()}
            big = latency.backbone_latency(
                spec, classes, fractions, args.repeats, choice["schedule"] or "doubling"
            )
            result["latency_backbones"].append({"threshold": choice["threshold"], **big})


def _shown(path):
    """`path` relative to the working folder when it lies inside it (commands to copy)."""
    import os

    path = pathlib.Path(path).resolve()
    home = pathlib.Path(os.environ.get("KERAS_ISPAN_HOME", "~/.keras_ispan")).expanduser()
    for base, shown in ((pathlib.Path.cwd(), None), (home.resolve(), "$KERAS_ISPAN_HOME")):
        try:
            relative = path.relative_to(base)
        except ValueError:
            continue
        return relative if shown is None else pathlib.PurePosixPath(shown, relative)
    return path


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
    per_model, clip_data, first = [], [], None
    for seed, path, data in models:
        measured, model, clips, steps = measure(path, data, args)
        per_model.append({"seed": seed, **measured})
        clip_data.append(steps)
        first = first or (model, clips)
    result = summary(per_model, clip_data, 0.0)
    threshold, schedule = result["recommended"]["threshold"], result["recommended"]["schedule"]
    result["export_command"] = (
        f"python serving/export.py --model {_shown(models[0][1])} --export-base models --name ispan"
        + ("" if threshold is None else f" --anytime-threshold {threshold:g}")
        + (" --anytime-check-points every_frame" if schedule == "every_frame" else "")
        + (" --anytime-criterion margin" if result["recommended"]["criterion"] == "margin" else "")
    )
    served_extras(result, first, args)
    result["seconds"] = time.perf_counter() - start
    write_json_atomic(out / "frames_tradeoff.json", result, indent=2)
    plot(result, out / "frames_tradeoff.png")
    print_tables(result)
    print(f"wrote {out / 'frames_tradeoff.json'} and .png")
    return result


if __name__ == "__main__":
    main()
