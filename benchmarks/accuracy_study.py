"""The accuracy study: what ISPAN's parts are worth on the embedded synthetic dataset.

    python benchmarks/accuracy_study.py                     # all variants, 3 seeds (see --help)
    python benchmarks/accuracy_study.py --seeds 1 --epochs 2 --variants tsn ispan3   # a smoke run

Trains the same backbone (`small_cnn`) with the same budget and the same data for each head
variant and seed, evaluates the best-on-validation checkpoint on the held-out `test` split, and
writes `OUT/study.json`, `OUT/study.md` (mean and standard deviation of top-1 and mean class
accuracy), `OUT/study.png`, and the frames sweep (T = 1, 2, 4, 8, 16) of the best ISPAN model:
`OUT/frames_sweep.json` and `.png`. Resumable: finished runs are read back from `OUT/runs.json`,
an interrupted run resumes from its own backup (`training.engine.run.run`).
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_ispan.io.atomic import write_text_atomic  # noqa: E402
from keras_ispan.models import load_classifier  # noqa: E402
from training.config.core import load_config, parse_override  # noqa: E402
from training.engine import datasets
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
}


def base_overrides(args):
    """The shared budget: same data, backbone, epochs and evaluation for every variant."""
    return {
        "train.epochs": args.epochs,
        "train.verbose": 2,
        "output.tensorboard": False,
        "eval.frames_sweep": [],
        **dict(parse_override(o) for o in args.set),
    }


def run_one(variant, seed, args, out):
    from training.engine.run import run

    overrides = {
        **base_overrides(args),
        **VARIANTS[variant],
        "train.seed": seed,
        "output.runs_dir": str(out / "runs"),
        "output.name": f"{variant}-s{seed}",
    }
    config = load_config(preset="synthetic", overrides=overrides)
    result = run(config)
    test = result.metrics["test"]
    return {
        "variant": variant,
        "seed": seed,
        "top1": test["top1"],
        "mean_class_accuracy": test["mean_class_accuracy"],
        "best_val": result.metrics.get("best_val_accuracy"),
        "model": str(result.model_path),
        "fit_seconds": result.metrics.get("fit_seconds"),
    }


def summarize(runs):
    rows = []
    for variant in VARIANTS:
        done = [r for r in runs if r["variant"] == variant]
        if not done:
            continue
        row = {"variant": variant, "description": DESCRIPTIONS[variant], "seeds": len(done)}
        for key in ("top1", "mean_class_accuracy"):
            values = [r[key] for r in done]
            row[key] = statistics.fmean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def markdown(rows, args):
    lines = [
        "| head | top-1 (mean ± std) | mean class acc. (mean ± std) | seeds |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['description']} (`{r['variant']}`) | {r['top1']:.3f} ± {r['top1_std']:.3f} | "
            f"{r['mean_class_accuracy']:.3f} ± {r['mean_class_accuracy_std']:.3f} | {r['seeds']} |"
        )
    command = "python benchmarks/accuracy_study.py " + " ".join(sys.argv[1:])
    lines.append(f"\nCommand: `{command.strip()}`, {time.strftime('%Y-%m-%d', time.gmtime())}.")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    names = [r["variant"] for r in rows]
    ax.bar(names, [r["top1"] for r in rows], yerr=[r["top1_std"] for r in rows], capsize=3)
    ax.set_ylabel("test top-1")
    ax.tick_params(axis="x", rotation=40)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_best_ispan(runs, rows, args, out):
    candidates = [r for r in rows if r["variant"].startswith("ispan")]
    if not candidates:
        return None
    best_variant = max(candidates, key=lambda r: r["top1"])["variant"]
    best_run = max((r for r in runs if r["variant"] == best_variant), key=lambda r: r["top1"])
    config = load_config(preset="synthetic", overrides=base_overrides(args))
    data_dir = datasets.resolve_data_dir(config)
    model = load_classifier(best_run["model"])

    def make(num_segments):
        segment_config = load_config(
            preset="synthetic",
            overrides={**base_overrides(args), "eval.num_segments": num_segments},
        )
        return datasets.eval_dataset(segment_config, data_dir, "test", crops=1, num_clips=1)

    sweep = multiview.frames_sweep(model, make, args.frames_sweep, multi_label=False)
    multiview.write_json(out / "frames_sweep.json", {"run": best_run, "rows": sweep})
    plots.plot_frames_sweep(sweep, out / "frames_sweep.png")
    return {"run": best_run, "rows": sweep}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--frames-sweep", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--out", default="benchmarks/results/accuracy_study")
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        parser.error(f"--seeds and --epochs must be >= 1. Received: {args.seeds}, {args.epochs}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / "runs.json"
    runs = json.loads(ledger.read_text()) if ledger.exists() else []
    todo = [
        (v, s)
        for s in range(args.seeds)
        for v in args.variants
        if not any(r["variant"] == v and r["seed"] == s for r in runs)
    ]
    print(f"[study] {len(runs)} runs done, {len(todo)} to go -> {out}")
    start = time.perf_counter()
    for i, (variant, seed) in enumerate(todo, 1):
        runs.append(run_one(variant, seed, args, out))
        multiview.write_json(ledger, runs)
        rate = (time.perf_counter() - start) / i
        print(
            f"[study] {i}/{len(todo)} {variant} seed {seed}: top-1 {runs[-1]['top1']:.3f}; "
            f"ETA {rate * (len(todo) - i) / 60:.1f} min"
        )
    rows = summarize([r for r in runs if r["variant"] in args.variants])
    sweep = sweep_best_ispan(runs, rows, args, out)
    multiview.write_json(
        out / "study.json", {"args": vars(args), "rows": rows, "frames_sweep": sweep}
    )
    table = markdown(rows, args)
    write_text_atomic(out / "study.md", table)
    plot(rows, out / "study.png")
    print(table)


if __name__ == "__main__":
    main()
