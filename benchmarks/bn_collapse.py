"""Why a model trained on hard data predicts one class at inference: the candidates, measured.

    python benchmarks/bn_collapse.py                      # 8 runs on the hard synthetic data (~15 min, 2 CPUs)
    python benchmarks/bn_collapse.py --epochs 2 --variants ispan   # a smoke run

Trains `small_cnn` heads on the embedded synthetic dataset at `data.synthetic_difficulty=hard` (64 px,
8 segments) with the synthetic preset's recipe, then measures on the best checkpoint, on the training
clips themselves, one candidate cause at a time:

- `logged`: the training accuracy Keras logged at the best epoch (training mode: batch statistics,
  dropout, random crops);
- `inference`: the same clips in inference mode (moving statistics) with the evaluation transform
  (centre crop of frames resized to `S * 256/224`);
- `inf_train_scale`: inference mode, evaluation crop of the whole frame (resize ratio 1: the scale
  of the training crops before issue 17, `data.crop_scale=1`): the crop-scale candidate alone;
- `batch_stats`: evaluation transform, batch norm on the batch's statistics (8 clips x 8 frames, as
  in training), dropout off: the batch-norm candidate alone;
- `precise_bn`: inference mode after `keras_ispan.models.precise_batch_norm` on the training clips;
- `majority`: the fraction of clips given the most predicted class in inference mode (1/6 when
  balanced); `test` and `test_precise`: test top-1 before and after precise BN.

The `*_before` variants train with the recipe before issue 17 (`train.precise_bn=false`,
`data.crop_scale=1`) and change one thing each: the head (`tsn`), the batch-norm momentum
(`momentum_099`, Keras' default; the synthetic preset uses 0.9). A first pass also changed the
attention's output scale (`model.attention_pooling=softmax`: `a X` instead of the `sqrt(P)`-scaled
`A X`), the losses (both off) and the learning rate (1e-3): `bn_collapse_first_pass.json`. The others use the fixed
recipe (precise BN before each validation, training crops at the evaluation's scale), one fix at a
time (`ispan_precise_bn_only`, `ispan_crop_scale_only`) and both. Writes
`benchmarks/results/bn_collapse.json`. Resumable: a finished run folder under `--out` is measured
again without training.
"""

import argparse
import dataclasses
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks.common import command_line, print_table, study_run_overrides, write_json  # noqa: E402

BEFORE = {"train.precise_bn": False, "data.crop_scale": 1.0}  # the recipe before issue 17
VARIANTS = {
    "ispan_before": BEFORE,
    "tsn_before": {**BEFORE, "model.head": "tsn"},
    "momentum_099_before": {**BEFORE, "model.bn_momentum": 0.99},
    "ispan_precise_bn_only": {"data.crop_scale": 1.0},
    "ispan_crop_scale_only": {"train.precise_bn": False},
    "ispan": {},
    "tsn": {"model.head": "tsn"},
    "momentum_099": {"model.bn_momentum": 0.99},
}
COLUMNS = [
    "variant", "best_epoch", "logged", "inference", "inf_train_scale", "batch_stats",
    "precise_bn", "majority", "test", "test_precise",
]  # fmt: skip


def accuracy(model, dataset, batch_stats=False):
    """Top-1 and the most predicted class's share; `batch_stats`: BN in training mode, no dropout
    (the moving statistics a training-mode call updates are restored afterwards)."""
    predicted, labels = [], []
    dropout = model.get_layer("dropout")
    rate, dropout.rate = dropout.rate, 0.0
    saved = [w.numpy().copy() for w in model.non_trainable_weights]
    try:
        for frames, y in dataset:
            logits = model(frames, training=batch_stats)
            predicted.append(np.argmax(np.asarray(logits), axis=-1))
            labels.append(np.asarray(y).reshape(-1))
    finally:
        dropout.rate = rate
        for weight, value in zip(model.non_trainable_weights, saved, strict=True):
            weight.assign(value)
    predicted, labels = np.concatenate(predicted), np.concatenate(labels)
    majority = np.bincount(predicted).max() / len(predicted)
    return float((predicted == labels).mean()), float(majority)


def measure(variant, args, out):
    from keras_ispan.models import load_classifier, precise_batch_norm
    from training.config.core import load_config
    from training.data import datasets
    from training.engine.run import run
    from training.evaluation import plots

    overrides = {
        "data.synthetic_difficulty": args.difficulty,
        # the start the README's table was measured with (fit.py's default before 2026-11-30)
        "model.classifier_initializer": "glorot_uniform",
        "train.epochs": args.epochs,
        "train.seed": args.seed,
        **study_run_overrides(out, f"{variant}-{args.difficulty}-s{args.seed}", overwrite=False),
        **VARIANTS[variant],
    }
    config = load_config(preset="synthetic", overrides=overrides)
    run_dir = out / config.output.name
    if not (run_dir / "metrics.json").is_file():  # resumable: a finished run is only measured
        run(config)
    data_dir = datasets.resolve_data_dir(config, log=None)
    config = config.replace(data=dataclasses.replace(config.data, cache=False))
    best = json.loads((run_dir / "metrics.json").read_text())["best_epoch"]
    logged = plots.read_csv_log(run_dir / "log.csv")["accuracy"][best - 1]
    model = load_classifier(run_dir / "best.keras")

    def train_clips(ratio=None):
        return datasets.eval_dataset(config, data_dir, "train", resize_ratio=ratio)

    inference, majority = accuracy(model, train_clips())
    row = {
        "variant": variant,
        "best_epoch": best,
        "logged": logged,
        "inference": inference,
        "test": accuracy(model, datasets.eval_dataset(config, data_dir, "test"))[0],
        "inf_train_scale": accuracy(model, train_clips(1.0))[0],
        "batch_stats": accuracy(model, train_clips(), batch_stats=True)[0],
        "majority": majority,
    }
    precise_batch_norm(model, train_clips())
    row["precise_bn"] = accuracy(model, train_clips())[0]
    row["test_precise"] = accuracy(model, datasets.eval_dataset(config, data_dir, "test"))[0]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--out", default="runs/bn_collapse", help="run folders")
    parser.add_argument("--name", default="bn_collapse", help="benchmarks/results/NAME.json")
    args = parser.parse_args(argv)
    rows = []
    for variant in args.variants:
        rows.append(measure(variant, args, pathlib.Path(args.out)))
        print_table(rows[-1:], COLUMNS)
    print_table(rows, COLUMNS)
    command = command_line(__file__, argv or None)
    write_json(args.name, {"command": command.strip(), "args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
