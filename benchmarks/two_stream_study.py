"""Two streams on the embedded data: RGB ISPAN, the flow stream and the two-stream model, 3 seeds.

    python benchmarks/two_stream_study.py                          # 5 variants x 3 seeds (see --help)
    python benchmarks/two_stream_study.py --seeds 1 --epochs 2 --variants motion-rgb   # a smoke run

On the motion variant (`data.synthetic_variant=motion`: classes differ only in the direction of motion,
same appearance) RGB ISPAN, being blind to frame order, should sit at chance while the flow stream
and the two-stream model (late fusion, TSN's RGB:flow = 1:1.5) rise far above it; on the appearance
dataset the two-stream model should not be worse than RGB alone. Same backbone (`small_cnn`), data and
budget for every variant; the best-on-validation checkpoint is evaluated on the test split (the
two-stream runs also report each stream alone). `<data>-fused_streams` is TSN's protocol without
training: the seed's trained RGB and flow models fused late (`two_stream_from_streams`, RGB:flow =
1:1.5) and evaluated on the same test split. Writes `OUT/runs.json` (resumable: finished runs are
read back), `OUT/study.json` and `OUT/study.md` (mean and standard deviation over seeds) and prints
the table.
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_ispan.io.atomic import write_json_atomic, write_text_atomic  # noqa: E402

VARIANTS = {
    "motion-rgb": ("motion", "rgb"),
    "motion-flow": ("motion", "flow"),
    "motion-two_stream": ("motion", "two_stream"),
    "appearance-rgb": ("appearance", "rgb"),
    "appearance-two_stream": ("appearance", "two_stream"),
}


def run_one(variant, seed, args, out):
    from training.config.core import load_config, parse_override
    from training.engine.run import run

    dataset, modality = VARIANTS[variant]
    overrides = {
        "data.synthetic_variant": dataset,
        "model.modality": modality,
        "train.epochs": args.epochs,
        "train.seed": seed,
        "train.verbose": 2,
        "output.tensorboard": False,
        "output.runs_dir": str(out / "runs"),
        "output.name": f"{variant}-s{seed}",
        **dict(parse_override(o) for o in args.set),
    }
    result = run(load_config(preset="synthetic", overrides=overrides))
    streams = result.metrics.get("streams", {})
    return {
        "variant": variant,
        "seed": seed,
        "top1": result.metrics["test"]["top1"],
        **{f"{s}_top1": streams[s]["top1"] for s in streams},
        "fit_seconds": result.metrics.get("fit_seconds"),
        "model": str(result.model_path),
    }


FUSED = {"motion-fused_streams": ("motion-rgb", "motion-flow")}


def fuse_trained(variant, seed, args, out):
    """The seed's trained RGB and flow streams fused late, evaluated on the test split (no training)."""
    from keras_ispan.models import load_classifier, two_stream_from_streams
    from training.config.core import load_config, parse_override
    from training.engine import datasets
    from training.evaluation import multiview

    rgb_name, flow_name = FUSED[variant]
    streams = [
        load_classifier(out / "runs" / f"{name}-s{seed}" / "best.keras")
        for name in (rgb_name, flow_name)
    ]
    model = two_stream_from_streams(*streams, fusion="late")
    overrides = {
        "data.synthetic_variant": VARIANTS[rgb_name][0],
        "model.modality": "two_stream",
        "train.seed": seed,
        **dict(parse_override(o) for o in args.set),
    }
    config = load_config(preset="synthetic", overrides=overrides)
    data_dir = datasets.resolve_data_dir(config)
    dataset = datasets.eval_dataset(config, data_dir, config.eval.split)
    test = multiview.evaluate(model, dataset, multi_label=False)
    alone = multiview.evaluate_streams(model, dataset, multi_label=False)
    return {
        "variant": variant,
        "seed": seed,
        "top1": test["top1"],
        **{f"{s}_top1": alone[s]["top1"] for s in alone},
    }


def summarize(runs, variants):
    rows = []
    for variant in variants:
        done = [r for r in runs if r["variant"] == variant]
        if not done:
            continue
        row = {"variant": variant, "seeds": len(done)}
        for key in ("top1", "rgb_top1", "flow_top1"):
            values = [r[key] for r in done if key in r]
            if values:
                row[key] = statistics.fmean(values)
                row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def markdown(rows):
    def cell(row, key):
        return f"{row[key]:.3f} ± {row[key + '_std']:.3f}" if key in row else "-"

    lines = [
        "| dataset, model | test top-1 | RGB stream alone | flow stream alone | seeds |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {cell(r, 'top1')} | {cell(r, 'rgb_top1')} | "
            f"{cell(r, 'flow_top1')} | {r['seeds']} |"
        )
    command = "python benchmarks/two_stream_study.py " + " ".join(sys.argv[1:])
    lines.append(f"\nCommand: `{command.strip()}`, {time.strftime('%Y-%m-%d', time.gmtime())}.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/two_stream_study")
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
    print(f"[study] {len(runs)} runs done, {len(todo)} to go -> {out}", flush=True)
    start = time.perf_counter()
    for i, (variant, seed) in enumerate(todo, 1):
        runs.append(run_one(variant, seed, args, out))
        write_json_atomic(ledger, runs, indent=2)
        rate = (time.perf_counter() - start) / i
        print(
            f"[study] {i}/{len(todo)} {variant} seed {seed}: top-1 {runs[-1]['top1']:.3f}; "
            f"ETA {rate * (len(todo) - i) / 60:.1f} min",
            flush=True,
        )
    for variant, needed in FUSED.items():
        for seed in range(args.seeds):
            have = {r["variant"] for r in runs if r["seed"] == seed}
            done = any(r["variant"] == variant and r["seed"] == seed for r in runs)
            if set(needed) <= have and not done:
                runs.append(fuse_trained(variant, seed, args, out))
                write_json_atomic(ledger, runs, indent=2)
                print(f"[study] {variant} seed {seed}: top-1 {runs[-1]['top1']:.3f}", flush=True)
    rows = summarize(runs, [*args.variants, *FUSED])
    write_json_atomic(out / "study.json", {"args": vars(args), "rows": rows}, indent=2)
    table = markdown(rows)
    write_text_atomic(out / "study.md", table)
    print(table)


if __name__ == "__main__":
    main()
