"""The accuracy study: what ISPAN's parts are worth on the embedded synthetic dataset.

    python benchmarks/accuracy_study.py                     # all variants, 3 seeds (see --help)
    python benchmarks/accuracy_study.py --seeds 1 --epochs 2 --variants tsn ispan3   # a smoke run
    python benchmarks/accuracy_study.py --difficulty default hard --test-clips 300 \
        --variants tsn gap single ispan3 --seeds 3          # the powered study (README)

Trains the same backbone (`small_cnn`) with the same budget and the same data for each head
variant, seed and difficulty (`data.synthetic_difficulty`), evaluates the best-on-validation
checkpoint on the held-out `test` split (`--test-clips` clips), and writes `OUT/study.json`,
`OUT/study.md` and `OUT/study.png`: per difficulty and variant the mean top-1, its standard error
over seeds, the paired difference to TSN (same seed, same data: the mean and standard error of the
per-seed differences), the binomial standard error of one run's top-1 on the test clips, and the
inference-mode check of `run()` (largest gap between the logged training accuracy and the training
clips' top-1 in inference mode; largest share of one class in the test predictions). The frames
sweep (T = 1, 2, 4, 8, 16) of the best ISPAN model: `OUT/frames_sweep.json` and `.png`
(`--frames-sweep` with no value skips it). Resumable: finished runs are read back from
`OUT/runs.json`, an interrupted run resumes from its own backup (`training.engine.run.run`).
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks.common import study_run_overrides  # noqa: E402
from keras_ispan.data.synthetic import DIFFICULTIES  # noqa: E402
from keras_ispan.io.atomic import write_text_atomic  # noqa: E402
from keras_ispan.models import load_classifier  # noqa: E402
from training.config.core import load_config, parse_override  # noqa: E402
from training.data import datasets
from training.evaluation import multiview, plots  # noqa: E402

VARIANTS = {
    "tsn": {"model.head": "tsn"},
    "gap": {"model.head": "gap"},
    "single": {"model.head": "single"},
    "ispan2": {"model.levels": ["block3_out", "block4_out"]},
    "ispan3": {},
    "ispan3_no_interaction": {"model.interaction_weight": 0.0},
    "ispan3_no_diversity": {"model.diversity_weight": 0.0},
    "ispan3_mean": {"model.fusion": "mean"},
    "ispan3_max": {"model.fusion": "max"},
    "ispan3_weighted": {"model.fusion": "weighted"},
    "single_softmax_pool": {"model.head": "single", "model.attention_pooling": "softmax"},
    "ispan3_softmax_pool": {"model.attention_pooling": "softmax"},
    "ispan3_cosine_diversity": {"model.diversity_form": "cosine", "model.diversity_weight": 0.1},
    "ispan3_zero_init": {"model.classifier_initializer": "zeros"},
    "ispan3_scaled_init": {"model.classifier_initializer": "glorot_over_sqrt_p"},
    "single_scaled_init": {
        "model.head": "single",
        "model.classifier_initializer": "glorot_over_sqrt_p",
    },
}
DESCRIPTIONS = {
    "tsn": "TSN average consensus",
    "gap": "average pooling over frames and positions",
    "single": "single-level attention, no losses",
    "ispan2": "ISPAN, 2 levels, both losses",
    "ispan3": "ISPAN, 3 levels, both losses (sum fusion)",
    "ispan3_no_interaction": "ISPAN 3 levels, no interaction loss",
    "ispan3_no_diversity": "ISPAN 3 levels, no diversity loss",
    "ispan3_mean": "ISPAN 3 levels, mean fusion",
    "ispan3_max": "ISPAN 3 levels, max fusion",
    "ispan3_weighted": "ISPAN 3 levels, weighted fusion",
    "single_softmax_pool": "single-level attention, softmax pooling `a X`",
    "ispan3_softmax_pool": "ISPAN 3 levels, both losses, softmax pooling `a X`",
    "ispan3_cosine_diversity": "ISPAN 3 levels, scale-free (cosine) diversity loss, weight 0.1",
    "ispan3_zero_init": "ISPAN, 3 levels, both losses, zero-initialised classifier",
    "ispan3_scaled_init": "ISPAN, 3 levels, both losses, classifier Glorot / sqrt(P)",
    "single_scaled_init": "single-level attention, no losses, classifier Glorot / sqrt(P)",
}
# runs recorded before `model.classifier_initializer` existed used Keras' Glorot initialiser (the default)
INIT_BEFORE_FIX = "glorot_uniform"
BASELINE = "tsn"


def base_overrides(args, difficulty="default"):
    """The shared budget: same data, backbone, epochs and evaluation for every variant."""
    return {
        "data.synthetic_difficulty": difficulty,
        "data.synthetic_test": args.test_clips,
        "train.epochs": args.epochs,
        # the start every variant without its own was measured with (fit.py's default before 2026-11-30)
        "model.classifier_initializer": INIT_BEFORE_FIX,
        **dict(parse_override(o) for o in args.set),
    }


def run_one(variant, seed, difficulty, args, out):
    from training.engine.run import run

    overrides = {
        **base_overrides(args, difficulty),
        **VARIANTS[variant],
        "train.seed": seed,
        **study_run_overrides(out / "runs", f"{variant}-{difficulty}-s{seed}", overwrite=False),
    }
    config = load_config(preset="synthetic", overrides=overrides)
    result = run(config)
    test = result.metrics["test"]
    check = result.metrics.get("train_split", {})
    predicted = [sum(column) for column in zip(*test["confusion_matrix"], strict=True)]
    return {
        "variant": variant,
        "seed": seed,
        "difficulty": difficulty,
        "top1": test["top1"],
        "mean_class_accuracy": test["mean_class_accuracy"],
        "test_clips": test["num_clips"],
        "test_majority_share": max(predicted) / max(sum(predicted), 1),
        "best_val": result.metrics.get("best_val_accuracy"),
        "best_epoch": result.metrics.get("best_epoch"),
        "train_inference_top1": check.get("inference_top1"),
        "train_logged_accuracy": check.get("logged_accuracy_at_best_epoch"),
        "train_gap": check.get("gap"),
        "model": str(result.model_path),
        "fit_seconds": result.metrics.get("fit_seconds"),
        "classifier_initializer": config.model.classifier_initializer,
    }


def _mean_se(values):
    """Mean and standard error of the mean (0 for one value)."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return mean, se


def summarize(runs):
    """One row per (difficulty, variant): mean, standard deviation and standard error over seeds,
    the paired difference to `BASELINE` over the seeds both have, and the inference-mode check."""
    rows = []
    for difficulty in dict.fromkeys(r.get("difficulty", "default") for r in runs):
        here = [r for r in runs if r.get("difficulty", "default") == difficulty]
        baseline = {r["seed"]: r["top1"] for r in here if r["variant"] == BASELINE}
        for variant in VARIANTS:
            done = [r for r in here if r["variant"] == variant]
            if not done:
                continue
            row = {"difficulty": difficulty, "variant": variant,
                   "description": DESCRIPTIONS[variant], "seeds": len(done)}  # fmt: skip
            for key in ("top1", "mean_class_accuracy"):
                values = [r[key] for r in done]
                row[key], row[f"{key}_se"] = _mean_se(values)
                row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            clips = done[0].get("test_clips") or 0
            row["binomial_se"] = (row["top1"] * (1 - row["top1"]) / clips) ** 0.5 if clips else None
            paired = [r["top1"] - baseline[r["seed"]] for r in done if r["seed"] in baseline]
            if paired and variant != BASELINE:
                row["diff_vs_tsn"], row["diff_vs_tsn_se"] = _mean_se(paired)
                row["diff_vs_tsn_per_seed"] = paired
            gaps = [r["train_gap"] for r in done if r.get("train_gap") is not None]
            row["max_train_gap"] = max(gaps) if gaps else None
            row["max_test_majority_share"] = max(r.get("test_majority_share", 0) for r in done)
            inits = {r.get("classifier_initializer", INIT_BEFORE_FIX) for r in done}
            row["classifier_initializer"] = "+".join(sorted(inits))
            rows.append(row)
    return rows


def _cell(value, se, signed=False):
    if value is None:
        return "n/a"
    return f"{value:+.3f} ± {se:.3f}" if signed else f"{value:.3f} ± {se:.3f}"


def markdown(rows, args):
    lines = [
        "| difficulty | head | test top-1 (mean ± s.e.) | vs TSN, paired (mean ± s.e.) | per seed "
        "| binomial s.e. of one run | max train gap | max one-class share (test) | seeds "
        "| classifier init |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_seed = ", ".join(f"{d:+.3f}" for d in r.get("diff_vs_tsn_per_seed", []))
        gap = "n/a" if r["max_train_gap"] is None else f"{r['max_train_gap']:+.3f}"
        lines.append(
            f"| {r['difficulty']} | {r['description']} (`{r['variant']}`) | "
            f"{_cell(r['top1'], r['top1_se'])} | "
            f"{_cell(r.get('diff_vs_tsn'), r.get('diff_vs_tsn_se', 0), True) if r['variant'] != BASELINE else '-'} | "
            f"{per_seed or '-'} | {r['binomial_se'] or 0:.3f} | {gap} | "
            f"{r['max_test_majority_share']:.2f} | {r['seeds']} | "
            f"{r.get('classifier_initializer', INIT_BEFORE_FIX)} |"
        )
    command = "python benchmarks/accuracy_study.py " + " ".join(sys.argv[1:])
    lines.append(f"\nCommand: `{command.strip()}`, {time.strftime('%Y-%m-%d', time.gmtime())}.")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib.pyplot as plt

    difficulties = list(dict.fromkeys(r["difficulty"] for r in rows))
    fig, axes = plt.subplots(
        1, len(difficulties), figsize=(5 * len(difficulties), 3.8), squeeze=False
    )
    for ax, difficulty in zip(axes[0], difficulties, strict=True):
        here = [r for r in rows if r["difficulty"] == difficulty]
        names = [r["variant"] for r in here]
        ax.bar(names, [r["top1"] for r in here], yerr=[r["top1_se"] for r in here], capsize=3)
        ax.set_title(f"difficulty {difficulty} (± s.e. over seeds)")
        ax.set_ylabel("test top-1")
        ax.tick_params(axis="x", rotation=40)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_best_ispan(runs, rows, args, out):
    candidates = [r for r in rows if r["variant"].startswith("ispan")]
    if not candidates or not args.frames_sweep:
        return None
    best = max(candidates, key=lambda r: r["top1"])
    best_run = max(
        (r for r in runs if r["variant"] == best["variant"]
         and r.get("difficulty", "default") == best["difficulty"]),
        key=lambda r: r["top1"],
    )  # fmt: skip
    config = load_config(preset="synthetic", overrides=base_overrides(args, best["difficulty"]))
    data_dir = datasets.resolve_data_dir(config)
    model = load_classifier(best_run["model"])

    def make(num_segments):
        segment_config = load_config(
            preset="synthetic",
            overrides={
                **base_overrides(args, best["difficulty"]),
                "eval.num_segments": num_segments,
            },
        )
        return datasets.eval_dataset(segment_config, data_dir, "test", crops=1, num_clips=1)

    sweep = multiview.frames_sweep(model, make, args.frames_sweep, multi_label=False)
    multiview.write_json(out / "frames_sweep.json", {"run": best_run, "rows": sweep})
    plots.plot_frames_sweep(sweep, out / "frames_sweep.png")
    return {"run": best_run, "rows": sweep}


def parse_args(argv=None):
    """The study's command line (`--help`); `--seeds`, `--epochs`, `--test-clips` checked >= 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--frames-sweep", type=int, nargs="*", default=[1, 2, 4, 8, 16])
    parser.add_argument(
        "--difficulty", nargs="+", default=["default"], choices=sorted(DIFFICULTIES),
        help="data.synthetic_difficulty settings, each with every variant and seed",
    )  # fmt: skip
    parser.add_argument("--test-clips", type=int, default=180, help="data.synthetic_test")
    parser.add_argument(
        "--summarize-only", action="store_true",
        help="train nothing: tabulate the finished runs of OUT/runs.json for --variants and --difficulty",
    )  # fmt: skip
    parser.add_argument("--out", default="benchmarks/results/accuracy_study")
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1 or args.test_clips < 1:
        parser.error(
            "--seeds, --epochs and --test-clips must be >= 1. "
            f"Received: {args.seeds}, {args.epochs}, {args.test_clips}"
        )
    return args


def main(argv=None):
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / "runs.json"
    runs = json.loads(ledger.read_text()) if ledger.exists() else []
    todo = [
        (v, s, d)
        for s in range(args.seeds)
        for d in args.difficulty
        for v in args.variants
        if not any(
            r["variant"] == v and r["seed"] == s and r.get("difficulty", "default") == d
            for r in runs
        )
    ]
    if args.summarize_only:
        todo = []
    print(f"[study] {len(runs)} runs done, {len(todo)} to go -> {out}")
    start = time.perf_counter()
    for i, (variant, seed, difficulty) in enumerate(todo, 1):
        runs.append(run_one(variant, seed, difficulty, args, out))
        multiview.write_json(ledger, runs)
        rate = (time.perf_counter() - start) / i
        print(
            f"[study] {i}/{len(todo)} {variant} {difficulty} seed {seed}: top-1 "
            f"{runs[-1]['top1']:.3f}; ETA {rate * (len(todo) - i) / 60:.1f} min"
        )
    rows = summarize(
        [
            r
            for r in runs
            if r["variant"] in args.variants and r.get("difficulty", "default") in args.difficulty
        ]
    )
    sweep = sweep_best_ispan(runs, rows, args, out)
    multiview.write_json(
        out / "study.json", {"args": vars(args), "rows": rows, "frames_sweep": sweep}
    )
    table = markdown(rows, args)
    write_text_atomic(out / "study.md", table)
    if rows:
        plot(rows, out / "study.png")
    print(table)


if __name__ == "__main__":
    main()
