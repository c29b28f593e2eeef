"""How large are ISPAN's two losses, and their gradients, next to the cross-entropy? (issue 7)

    python benchmarks/loss_scales.py                 # 4 epochs, the three variants below
    python benchmarks/loss_scales.py --epochs 1 --probe-batches 1 --variants normalized  # smoke run
    python benchmarks/loss_scales.py --difficulty hard --seed 2 --epochs 3 --probe-batches 2 \
        --frames 8 --variants normalized --name loss_scales_hard_s2_glorot    # issue 17's probe

Variants: `normalized` (the defaults, `normalize_features=True`), `literal`
(`normalize_features=False`, the paper's Eq. 6), and `normalized_small_init` (the defaults with the
classifier's initial kernel divided by `sqrt(P)`, so that the initial logits have the scale of an
average-pooling head: isolates the cost of the `sqrt(P)` output scale at initialisation).

Trains the synthetic preset's ISPAN (`small_cnn`, `training.engine.run.run`) and, at initialisation and after
every epoch, measures on the same fixed training batches (training mode, batch-norm statistics restored
afterwards):

1. the cross-entropy, `beta * l_interactive` and `gamma * l_attn` (the attention layer's `losses`);
2. the gradient norm of each of the three terms, separately, with respect to the attention layer's
   kernels and to the backbone's trainable weights, and the cosine of each loss's gradient with the
   cross-entropy's (first probe batch); a loss the model trains without (`single`, a zero weight)
   is measured at its regulariser's default weight without being trained (a "shadow");
3. the attention's peakiness: the effective number of positions per row, `1 / sum_k a_k^2` (`a` is the
   softmax before the L2 normalisation), against `P = frames * h * w` (inference mode);
4. the output scale `mean_m ||(A X)_m|| / ||mean_k X_k||` (`sqrt(P)` for uniform attention, about 1 for
   one-hot attention), and, at initialisation and at the end, its change with the number of frames
   `T` for the same test clips, with the test top-1 at each `T` as trained and with the pooled
   features rescaled by `sqrt(T_train / T)` (the factor that undoes the `sqrt(P)` growth), and the
   test cross-entropy (`nll_raw`, `nll_rescaled`): a scalar scale leaves the argmax unchanged except
   through the classifier's bias, but not the probabilities;
5. the range of `l_attn` over training relative to its mean, and `sqrt(levels * d * P)`, its value
   when every `delta` is zero.

`--difficulty` and `--set key=value` change the data and the recipe (e.g.
`--set model.head=single model.classifier_initializer=zeros`). Prints tables and writes
`benchmarks/results/<--name>.json` (default `loss_scales.json`).
"""

import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from benchmarks.common import command_line, print_table, study_run_overrides, write_json  # noqa: E402
from keras_ispan.options import HEADS  # noqa: E402
from training.config.core import load_config, parse_override  # noqa: E402
from training.data import datasets  # noqa: E402

TERMS = ("ce", "interaction", "diversity")


def _norm(tensors):
    """Global L2 norm of a list of gradients (`None` counts as zero)."""
    squares = [float(ops.sum(ops.square(g))) for g in tensors if g is not None]
    return float(np.sqrt(sum(squares)))


def _cosine(first, second):
    """Cosine between two gradients given as lists of tensors (`None` counts as zero): below 0
    the term pushes the weights against the cross-entropy's descent direction."""
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    dot = sum(float(ops.sum(a * b)) for a, b in pairs)
    norms = _norm([a for a, _ in pairs]) * _norm([b for _, b in pairs])
    return dot / norms if norms > 0 else 0.0


def measure_terms(model, frames, labels, gradients=True):
    """The three loss terms of one training-mode call, and their gradient norms.

    Returns a dict with `ce`, `interaction` (`beta * l_interactive`), `diversity` (`gamma * l_attn`)
    and, with `gradients`, `grad_<term>_<attention|backbone>` and the cosine of each loss's
    gradient with the cross-entropy's, `cos_<term>_ce_<attention|backbone>`. A loss the model
    trains without (`shadow`) is measured at the regulariser's default weight. The model's
    non-trainable variables (batch-norm statistics) are restored afterwards.
    """
    from keras_ispan.regularizers import AttentionDiversityRegularizer, PCARegularizer

    layer = model.get_layer("pyramid_attention")
    # a loss the model trains without is measured at its default weight ("shadow"): set for this
    # eager call only (the compiled training step was traced without it and keeps it off)
    shadows = {
        "interaction_regularizer": PCARegularizer() if layer.interaction_regularizer is None else None,
        "diversity_regularizer": AttentionDiversityRegularizer()
        if layer.diversity_regularizer is None else None,
    }  # fmt: skip
    for name, shadow in shadows.items():
        if shadow is not None:
            setattr(layer, name, shadow)
    saved = [v.numpy() for v in model.non_trainable_variables]
    try:
        with tf.GradientTape(persistent=True) as tape:
            logits = model(frames, training=True)
            values = dict(zip(TERMS, [model.loss(labels, logits), *layer.losses], strict=True))
    finally:
        for name, shadow in shadows.items():
            if shadow is not None:
                setattr(layer, name, None)
    row = {k: float(v) for k, v in values.items()}
    row["shadow"] = [name for name, shadow in shadows.items() if shadow is not None]
    if gradients:
        groups = {
            "attention": list(layer.kernels),
            "backbone": list(model.get_layer("backbone").trainable_variables),
        }
        for group, variables in groups.items():
            grads = {term: tape.gradient(value, variables) for term, value in values.items()}
            for term in TERMS:
                row[f"grad_{term}_{group}"] = _norm(grads[term])
            for term in TERMS[1:]:
                row[f"cos_{term}_ce_{group}"] = _cosine(grads[term], grads["ce"])
    del tape
    for variable, value in zip(model.non_trainable_variables, saved, strict=True):
        variable.assign(value)
    return row


def probe_model(model):
    """A model from the same layers: `frames -> {"levels": [...], "pooled": (B, h, w, C)}`."""
    levels = model.get_layer("backbone").output
    pooled = model.get_layer("pyramid_attention").output[0]
    return keras.Model(model.input, {"levels": list(levels), "pooled": pooled})


def attention_and_scale(model, probe, frames):
    """`(a (B, P, d), scale ratio (B,))` in inference mode; `a` via the layer's own logits/fusion."""
    layer = model.get_layer("pyramid_attention")
    outputs = probe(frames, training=False)
    # the layer's levels: all of the backbone's for ISPAN, the anchor alone for single-level attention
    levels, pooled = outputs["levels"][-len(layer.kernels) :], outputs["pooled"]
    logits = [layer._level_logits(x, j) for j, x in enumerate(levels)]
    attention = ops.convert_to_numpy(ops.softmax(layer._fuse(logits), axis=1))
    anchor = ops.convert_to_numpy(levels[-1]).astype("float64")
    features = anchor.reshape(anchor.shape[0], -1, anchor.shape[-1])  # (B, P, C)
    rows = (
        ops.convert_to_numpy(pooled)
        .astype("float64")
        .reshape(anchor.shape[0], -1, anchor.shape[-1])
    )
    mean_norm = np.linalg.norm(features.mean(axis=1), axis=-1)  # (B,)
    ratio = np.linalg.norm(rows, axis=-1).mean(axis=-1) / np.maximum(mean_norm, 1e-12)
    return attention, ratio


def peakiness(attention):
    """Mean effective number of positions per row, `1 / sum_k a_k^2`, for `a` `(B, P, d)`."""
    return float(np.mean(1.0 / np.sum(np.square(attention.astype("float64")), axis=1)))


def snapshot(model, probe, batches, epoch):
    """One row of the per-epoch table: loss terms (mean over batches), gradients, peakiness, scale."""
    terms = [measure_terms(model, f, y, gradients=(i == 0)) for i, (f, y) in enumerate(batches)]
    row = {"epoch": epoch}
    for key in terms[0]:
        if key == "shadow":
            row[key] = terms[0][key]
            continue
        row[key] = float(np.mean([t[key] for t in terms if key in t]))
    row["l_attn_batches"] = [t["diversity"] for t in terms]
    frames = batches[0][0]
    attention, ratio = attention_and_scale(model, probe, frames)
    positions = attention.shape[1]
    row.update(
        positions=positions,
        effective_positions=peakiness(attention),
        effective_fraction=peakiness(attention) / positions,
        scale_ratio=float(ratio.mean()),
        scale_over_sqrt_p=float(ratio.mean() / np.sqrt(positions)),
    )
    return row


def frames_scale_sweep(model, probe, config, data_dir, counts, accuracy):
    """Output scale (first test batch) and, with `accuracy`, test top-1 raw and rescaled, per `T`."""
    pool, dense = model.get_layer("spatial_pool"), model.get_layer("classifier")
    train_frames = config.data.num_segments
    rows = []
    for count in counts:
        dataset = datasets.eval_dataset(config, data_dir, "test", num_segments=count)
        row = {"frames": count}
        sums = {"top1_raw": 0, "top1_rescaled": 0, "nll_raw": 0.0, "nll_rescaled": 0.0}
        total = 0
        for i, (frames, labels) in enumerate(dataset):
            if i == 0:
                attention, ratio = attention_and_scale(model, probe, frames)
                row.update(
                    positions=attention.shape[1],
                    effective_positions=peakiness(attention),
                    scale_ratio=float(ratio.mean()),
                    scale_over_sqrt_p=float(ratio.mean() / np.sqrt(attention.shape[1])),
                )
            if not accuracy:
                break
            pooled = pool(probe(frames, training=False)["pooled"])
            labels = labels.numpy()
            for key, factor in (("raw", 1.0), ("rescaled", np.sqrt(train_frames / count))):
                logits = ops.convert_to_numpy(dense(pooled * factor)).astype("float64")
                sums[f"top1_{key}"] += int(np.sum(logits.argmax(-1) == labels))
                shifted = logits - logits.max(-1, keepdims=True)
                log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
                sums[f"nll_{key}"] -= float(log_probs[np.arange(len(labels)), labels].sum())
            total += len(labels)
        if accuracy:
            row.update({k: v / total for k, v in sums.items()})
        rows.append(row)
    return rows


def initial_cross_entropy(config, batches, heads=HEADS):
    """Cross-entropy at initialisation (training mode, mean over `batches`) of each head, built by
    `training.engine.run.build_model` with the run's seed: the side-by-side reference for the ISPAN row."""
    import dataclasses

    from training.engine.optim import build_loss
    from training.engine.run import build_model

    info = datasets.dataset_info(datasets.resolve_data_dir(config))
    loss = build_loss(info.multi_label, config.optim.label_smoothing)
    rows = []
    for head in heads:
        keras.utils.set_random_seed(config.train.seed)
        model = build_model(
            dataclasses.replace(config, model=dataclasses.replace(config.model, head=head)), info
        )
        values = [float(loss(y, model(f, training=True))) for f, y in batches]
        logits = [ops.convert_to_numpy(model(f, training=False)) for f, _ in batches[:1]]
        rows.append(
            {"head": head, "ce_init": float(np.mean(values)),
             "logit_std_init_inference": float(np.std(logits[0]))}
        )  # fmt: skip
    return rows


class LossScaleProbe(keras.callbacks.Callback):
    """Takes a `snapshot` at the start of training and after every epoch; the frames sweep of the
    output scale at the start and at the end."""

    def __init__(self, batches, config, data_dir, counts, small_init=False, log=print):
        super().__init__()
        self.small_init = small_init
        self.batches, self.config, self.data_dir, self.counts = batches, config, data_dir, counts
        self.log = log
        self.rows, self.sweeps = [], {}

    def _snapshot(self, epoch):
        start = time.perf_counter()
        row = snapshot(self.model, self._probe, self.batches, epoch)
        self.rows.append(row)
        self.log(
            f"[probe] epoch {epoch}: ce {row['ce']:.3f}, beta*l_int {row['interaction']:.4g}, "
            f"gamma*l_attn {row['diversity']:.4g}, eff. positions {row['effective_positions']:.1f}"
            f"/{row['positions']}, scale {row['scale_ratio']:.2f} ({time.perf_counter() - start:.0f} s)"
        )

    def on_train_begin(self, logs=None):
        self._probe = probe_model(self.model)
        if self.small_init:
            positions = (
                self.config.data.num_segments * self.model.get_layer("pyramid_attention").units
            )
            dense = self.model.get_layer("classifier")
            dense.kernel.assign(dense.kernel / np.sqrt(positions))
        self._snapshot(0)
        self.sweeps["init"] = frames_scale_sweep(
            self.model, self._probe, self.config, self.data_dir, self.counts, accuracy=False
        )

    def on_epoch_end(self, epoch, logs=None):
        self._snapshot(epoch + 1)
        self.rows[-1]["logs"] = {k: float(v) for k, v in (logs or {}).items()}

    def on_train_end(self, logs=None):
        self.sweeps["final"] = frames_scale_sweep(
            self.model, self._probe, self.config, self.data_dir, self.counts, accuracy=True
        )


VARIANTS = {
    "normalized": {"normalize": True, "small_init": False},
    "literal": {"normalize": False, "small_init": False},
    "normalized_small_init": {"normalize": True, "small_init": True},
}


def study(variant, args, runs_dir):
    """Trains one ISPAN run with the probe; returns `{"variant", "epochs", "sweeps", ...}`."""
    from training.engine.run import run

    normalize, small_init = VARIANTS[variant]["normalize"], VARIANTS[variant]["small_init"]
    overrides = {
        "model.normalize_features": normalize,
        # the start its variants are defined against (fit.py's default before 2026-11-30; `--set
        # model.classifier_initializer=...` measures another)
        "model.classifier_initializer": "glorot_uniform",
        "train.epochs": args.epochs,
        "train.seed": args.seed,
        **study_run_overrides(runs_dir, f"loss-scales-{variant}-{args.difficulty}-s{args.seed}"),
        "data.synthetic_difficulty": args.difficulty,
        **dict(parse_override(o) for o in args.set),
    }
    config = load_config(preset="synthetic", overrides=overrides)
    data_dir = datasets.resolve_data_dir(config)
    keras.utils.set_random_seed(args.seed)
    train, _ = datasets.make_datasets(config, data_dir)
    batches = [(f, y) for f, y in train.take(args.probe_batches)]
    reference = initial_cross_entropy(config, batches)
    probe = LossScaleProbe(batches, config, data_dir, args.frames, small_init=small_init)
    result = run(config, extra_callbacks=[probe])
    layer_model = result.model.get_layer("pyramid_attention")
    d = layer_model.units
    levels = len(layer_model.kernels)
    gamma = config.model.diversity_weight or 1e-3  # a shadow loss is measured at the default
    l_attn = np.array([r["diversity"] for r in probe.rows]) / gamma
    positions = probe.rows[0]["positions"]
    return {
        "variant": variant,
        "normalize_features": normalize,
        "classifier_init_over_sqrt_p": small_init,
        "beta": config.model.interaction_weight,
        "gamma": config.model.diversity_weight,
        "levels": levels,
        "d": d,
        "positions": positions,
        "l_attn_if_delta_zero": float(np.sqrt(levels * d * positions)),
        "l_attn_range_over_mean": float(np.ptp(l_attn) / np.mean(l_attn)),
        "l_attn_values": l_attn.tolist(),
        "test": result.metrics.get("test", {}).get("top1"),
        "initial_cross_entropy_by_head": reference,
        "epochs": probe.rows,
        "sweeps": probe.sweeps,
    }


def print_study(entry):
    print(
        f"\n{entry['variant']} (normalize_features={entry['normalize_features']}, classifier "
        f"init / sqrt(P): {entry['classifier_init_over_sqrt_p']}): beta={entry['beta']:g}, "
        f"gamma={entry['gamma']:g}, N={entry['levels']}, d={entry['d']}, P={entry['positions']}, "
        f"test top-1 {entry['test']}"
    )
    rows = [{k: v for k, v in r.items() if not isinstance(v, list | dict)} for r in entry["epochs"]]
    print_table(rows, ["epoch", "ce", "interaction", "diversity", "effective_positions",
                       "effective_fraction", "scale_ratio", "scale_over_sqrt_p"])  # fmt: skip
    print("gradient norms (first probe batch): attention kernels | backbone")
    print_table(rows, ["epoch", *(f"grad_{t}_attention" for t in TERMS),
                       *(f"grad_{t}_backbone" for t in TERMS)])  # fmt: skip
    print("cosine of each loss's gradient with the cross-entropy's (first probe batch)")
    print_table(rows, ["epoch", *(f"cos_{t}_ce_{g}" for t in TERMS[1:]
                                  for g in ("attention", "backbone"))])  # fmt: skip
    print(
        f"l_attn: {entry['l_attn_values'][0]:.4f} at init, range/mean over training "
        f"{entry['l_attn_range_over_mean']:.2e}; sqrt(N d P) = {entry['l_attn_if_delta_zero']:.4f}"
    )
    print("cross-entropy at initialisation, same batches and seed, by head:")
    print_table(
        entry["initial_cross_entropy_by_head"], ["head", "ce_init", "logit_std_init_inference"]
    )
    for when, sweep in entry["sweeps"].items():
        print(f"frames sweep ({when}):")
        print_table(sweep, ["frames", "positions", "effective_positions", "scale_ratio",
                            "scale_over_sqrt_p", "top1_raw", "top1_rescaled", "nll_raw",
                            "nll_rescaled"])  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--probe-batches", type=int, default=4)
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--difficulty", default="default", choices=["default", "hard"],
        help="data.synthetic_difficulty (the accuracy study's two settings)",
    )  # fmt: skip
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    parser.add_argument(
        "--runs-dir", default=None, help="keep the run folders here (default: temp)"
    )
    parser.add_argument("--name", default="loss_scales", help="benchmarks/results/<name>.json")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.probe_batches < 1 or min(args.frames) < 1:
        parser.error(
            f"--epochs, --probe-batches and --frames must be >= 1. Received: {args.epochs}, "
            f"{args.probe_batches}, {args.frames}"
        )
    start = time.perf_counter()
    entries = []
    with tempfile.TemporaryDirectory(prefix="loss_scales_") as tmp:
        runs_dir = pathlib.Path(args.runs_dir or tmp)
        for variant in args.variants:
            entries.append(study(variant, args, runs_dir))
    for entry in entries:
        print_study(entry)
    command = command_line(__file__, argv)
    write_json(
        args.name,
        {
            "benchmark": "loss_scales",
            "command": command.strip(),
            "settings": vars(args),
            "wall_time_s": time.perf_counter() - start,
            "studies": entries,
        },
    )


if __name__ == "__main__":
    main()
