"""Fusion candidates for a two-stream model's trained streams, compared on the same logits (no training).

Used by `benchmarks/two_stream_study.py`. Each stream's logits are computed once on the validation
and the test split (`training.evaluation.calibration.stream_logits`); every candidate fuses them with
TSN's RGB:flow = 1:1.5 unless it fits its own weights on the validation split:

- `logits`: TSN's fusion as trained (`LateFusion`, temperatures 1);
- `probabilities`: the weighted average of the streams' softmax probabilities (TSN's "scores" read
  as probabilities);
- `temperature`: each stream's logits divided by its temperature fitted on the validation split
  (`model.stream_calibration=temperature`, `fit_temperature`);
- `val_weights`: the RGB weight `a` (flow `1 - a`) of the fused logits fitted on the validation split
  by cross-entropy (bounded Brent's method; `a = 0` is flow alone).

The `temperature` candidate is also run through the model itself (`calibrate_two_stream`, then
`multiview.evaluate`: what `fit.py` does), and its top-1 must equal the NumPy one.
"""

import numpy as np
from scipy import optimize, special

FUSIONS = ("logits", "probabilities", "temperature", "val_weights")
TSN = (1.0, 1.5)


def _nll(logits, labels):
    return float(-np.mean(special.log_softmax(logits, axis=1)[np.arange(len(labels)), labels]))


def fused_scores(name, val, test, val_labels):
    """Test scores `(clips, classes)` of fusion `name` from stream logits `{"rgb", "flow"}`."""
    from training.evaluation.calibration import fit_temperature

    w_rgb, w_flow = TSN[0] / sum(TSN), TSN[1] / sum(TSN)
    if name == "logits":
        return w_rgb * test["rgb"] + w_flow * test["flow"]
    if name == "probabilities":
        return w_rgb * special.softmax(test["rgb"], 1) + w_flow * special.softmax(test["flow"], 1)
    if name == "temperature":
        t = {s: fit_temperature(val[s], val_labels) for s in ("rgb", "flow")}
        return w_rgb * test["rgb"] / t["rgb"] + w_flow * test["flow"] / t["flow"]
    if name == "val_weights":
        a = optimize.minimize_scalar(
            lambda a: _nll(a * val["rgb"] + (1 - a) * val["flow"], val_labels),
            bounds=(0.0, 1.0),
            method="bounded",
        ).x
        return a * test["rgb"] + (1 - a) * test["flow"]
    raise ValueError(f"Unknown fusion. Received: name={name!r}")


def compare(model, config, multi_label=False):
    """Test top-1 (and confusion matrix) of every fusion of `model`'s streams, and the model's own
    top-1 after `calibrate_two_stream` (which changes `model`'s temperatures)."""
    from training.data import datasets
    from training.evaluation import metrics, multiview
    from training.evaluation.calibration import calibrate_two_stream, stream_logits

    data_dir = datasets.resolve_data_dir(config)
    info = datasets.dataset_info(data_dir)
    val_ds = datasets.eval_dataset(config, data_dir, datasets.validation_split(info, config))
    test_ds = datasets.eval_dataset(config, data_dir, config.eval.split)
    val, val_labels = stream_logits(model, val_ds)
    test, test_labels = stream_logits(model, test_ds)
    val_labels, test_labels = val_labels.astype(np.int64), test_labels.astype(np.int64)
    result = {}
    for name in FUSIONS:
        scores = fused_scores(name, val, test, val_labels)
        summary = metrics.summarize(scores, test_labels, multi_label=multi_label)
        result[name] = summary["top1"]
        result[f"{name}_confusion"] = summary["confusion_matrix"]
    temperatures = calibrate_two_stream(model, val_ds, multi_label=multi_label)
    result["temperature_model_top1"] = multiview.evaluate(model, test_ds, multi_label=multi_label)[
        "top1"
    ]
    result["temperatures"] = temperatures
    return result
