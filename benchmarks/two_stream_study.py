"""Two streams on the embedded data: RGB ISPAN, the flow stream and the two-stream model, 3 seeds.

    python benchmarks/two_stream_study.py                          # 5 variants x 3 seeds (see --help)
    python benchmarks/two_stream_study.py --no-train               # the tables of the finished runs
    python benchmarks/two_stream_study.py --seeds 1 --epochs 2 --variants motion-rgb   # a smoke run

On the motion variant (`data.synthetic_variant=motion`: classes differ only in the direction of motion,
same appearance) RGB ISPAN, being blind to frame order, should sit at chance while the flow stream
and the two-stream model rise far above it; on the appearance dataset the two-stream model should not
be worse than RGB alone. Same backbone (`small_cnn`), data and budget for every variant; the
best-on-validation checkpoint is evaluated on the test split (the two-stream runs, trained jointly
with late fusion RGB:flow = 1:1.5 and calibrated at the end, `model.stream_calibration=temperature`,
as the study of 2026-11-30 ran them; `--set model.stream_calibration=none` for TSN's uncalibrated
fusion; they also report each stream alone).

Then, without training, every fusion of `benchmarks/two_stream_fusions.py` (TSN's logits,
probabilities, per-stream temperatures fitted on the validation split, weights fitted on it) is
compared on the same streams: each joint model's, and `motion-fused_streams`, the seed's separately
trained RGB and flow models (`two_stream_from_streams`, TSN's protocol). Writes `OUT/runs.json`
(resumable: finished runs are read back), `OUT/fusions.json`, `OUT/study.json` and `OUT/study.md`
(mean and standard deviation over seeds, each seed's value in brackets) and prints the tables.
`--no-train` only compares the fusions of the finished runs and writes the tables.
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks.common import study_run_overrides  # noqa: E402
from benchmarks.two_stream_fusions import FUSIONS as FUSION_NAMES  # noqa: E402
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
        **study_run_overrides(
            out / "runs", f"{variant}-s{seed}", overwrite=False, frames_sweep=True
        ),
        **({"model.stream_calibration": "temperature"} if modality == "two_stream" else {}),
        # the start the README's study was measured with (fit.py's default before 2026-11-30)
        "model.classifier_initializer": "glorot_uniform",
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


# fusion comparisons (`two_stream_fusions.compare`): name -> the trained runs whose streams are fused
FUSED = {
    "motion-two_stream": ("motion-two_stream",),
    "motion-fused_streams": ("motion-rgb", "motion-flow"),
    "appearance-two_stream": ("appearance-two_stream",),
}


def compare_fusions(name, seed, args, out):
    """Every fusion candidate of the seed's trained streams (a jointly trained model, or the separately
    trained RGB and flow models fused late), evaluated on the test split: no training."""
    from benchmarks.two_stream_fusions import compare
    from keras_ispan.models import load_classifier, two_stream_from_streams
    from training.config.core import load_config, parse_override

    models = [
        load_classifier(out / "runs" / f"{run}-s{seed}" / "best.keras") for run in FUSED[name]
    ]
    model = models[0] if len(models) == 1 else two_stream_from_streams(*models, fusion="late")
    overrides = {
        "data.synthetic_variant": VARIANTS[FUSED[name][0]][0],
        "model.modality": "two_stream",
        "train.seed": seed,
        **dict(parse_override(o) for o in args.set),
    }
    config = load_config(preset="synthetic", overrides=overrides)
    return {"variant": name, "seed": seed, **compare(model, config)}


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


def _fusions(runs, args, out):
    ledger = out / "fusions.json"
    fusions = json.loads(ledger.read_text()) if ledger.exists() else []
    for name, needed in FUSED.items():
        for seed in range(args.seeds):
            have = {r["variant"] for r in runs if r["seed"] == seed}
            done = any(r["variant"] == name and r["seed"] == seed for r in fusions)
            if set(needed) <= have and not done:
                fusions.append(compare_fusions(name, seed, args, out))
                write_json_atomic(ledger, fusions, indent=2)
                top1 = ", ".join(f"{f} {fusions[-1][f]:.3f}" for f in FUSION_NAMES)
                print(f"[study] {name} seed {seed}: {top1}", flush=True)
    return fusions


def summarize_fusions(fusions):
    rows = []
    for name in FUSED:
        done = sorted((r for r in fusions if r["variant"] == name), key=lambda r: r["seed"])
        if not done:
            continue
        row = {"variant": name, "seeds": [r["seed"] for r in done]}
        for key in (*FUSION_NAMES, "temperature_model_top1"):
            values = [r[key] for r in done]
            row[key] = statistics.fmean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            row[f"{key}_per_seed"] = values
        row["temperatures"] = [r["temperatures"] for r in done]
        row["temperature_confusion"] = [r["temperature_confusion"] for r in done]
        rows.append(row)
    return rows


def fusion_markdown(rows):
    lines = [
        "| streams fused | " + " | ".join(FUSION_NAMES) + " | seeds |",
        "|---|" + "---|" * (len(FUSION_NAMES) + 1),
    ]
    for r in rows:
        cells = " | ".join(
            f"{r[f]:.3f} ± {r[f + '_std']:.3f} ({', '.join(f'{v:.3f}' for v in r[f + '_per_seed'])})"
            for f in FUSION_NAMES
        )
        lines.append(f"| {r['variant']} | {cells} | {len(r['seeds'])} |")
    return "\n".join(lines) + "\n"


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
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="train nothing: compare the fusions of the finished runs and write the tables",
    )
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
    if args.no_train:
        todo = []
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
    fusions = _fusions(runs, args, out)
    rows = summarize(runs, list(VARIANTS))
    fusion_rows = summarize_fusions(fusions)
    write_json_atomic(
        out / "study.json", {"args": vars(args), "rows": rows, "fusions": fusion_rows}, indent=2
    )
    table = markdown(rows) + "\n" + fusion_markdown(fusion_rows)
    write_text_atomic(out / "study.md", table)
    print(table)


if __name__ == "__main__":
    main()
