"""Per-stream temperature scaling of a two-stream model, fitted on held-out clips.

Late fusion adds the streams' logits (TSN), so a stream counts in proportion to its confidence. A
stream that cannot know the answer can still be confident: on classes that differ only in motion the
RGB stream is at chance with logit margins of about 8 where the flow stream's are about 0.3, and it
drowns the flow stream (`benchmarks/two_stream_study.py`). Temperature scaling (Guo et al., "On
Calibration of Modern Neural Networks", ICML 2017) divides each stream's logits by the `T` that
minimises its cross-entropy on the validation split: a stream at chance gets a large `T` (its
logits shrink towards 0), an informative one keeps its say. The temperatures go into the model's
`LateFusion` layer (`keras_ispan.models.set_stream_temperatures`), so the saved and exported model
fuses calibrated logits.

scikit-learn's `CalibratedClassifierCV` calibrates its own estimators (sigmoid or isotonic per class,
which changes each stream's ranking of the classes); temperature scaling is one scalar per stream, so
it is fitted here with `scipy.optimize.minimize_scalar` (SciPy: a scikit-learn dependency) on the
negative log-likelihood computed with `scipy.special`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy import optimize, special

__all__ = ["TEMPERATURE_RANGE", "calibrate_two_stream", "fit_temperature", "stream_logits"]

TEMPERATURE_RANGE = (0.05, 1000.0)
"""The temperatures searched (a stream at chance ends near the upper bound: its logits / 1000)."""


def _nll(logits: np.ndarray, labels: np.ndarray, multi_label: bool) -> float:
    if multi_label:  # sigmoid cross-entropy, mean over clips and classes
        return float(
            -np.mean(labels * special.log_expit(logits) + (1 - labels) * special.log_expit(-logits))
        )
    log_p = special.log_softmax(logits, axis=1)
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))


def fit_temperature(logits, labels, *, multi_label: bool = False) -> float:
    """The temperature `T` in `TEMPERATURE_RANGE` minimising the mean cross-entropy of `logits / T`.

    Args:
        logits: `(clips, classes)` one stream's logits on held-out clips.
        labels: `(clips,)` class indices, or `(clips, classes)` 0/1 with `multi_label`.
        multi_label: sigmoid cross-entropy instead of softmax.

    Returns:
        `T > 0` (float), searched on `log T` by bounded Brent's method.

    Raises:
        ValueError: logits not 2-D, labels of another length, or no clips.
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or len(logits) == 0 or len(labels) != len(logits):
        raise ValueError(
            "`logits` must be (clips, classes) with clips >= 1 and one label per clip. "
            f"Received: logits.shape={logits.shape}, labels.shape={labels.shape}"
        )
    labels = labels.astype(np.float64) if multi_label else labels.astype(np.int64).reshape(-1)
    low, high = np.log(TEMPERATURE_RANGE)
    found = optimize.minimize_scalar(
        lambda log_t: _nll(logits / np.exp(log_t), labels, multi_label),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def stream_logits(model, dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each stream's logits of a two-stream `model` on `dataset` (`({"rgb", "flow"}, labels)`
    batches; inputs `(batch, K, S, S, C)`, or `(batch, views, ...)` whose logits are averaged over
    views): `({"rgb": (clips, classes), "flow": ...}, labels)`."""
    from keras_ispan.models import stream_classifier

    streams = {s: stream_classifier(model, s) for s in ("rgb", "flow")}
    out = {s: [] for s in streams}
    all_labels = []
    for inputs, labels in dataset:
        for s, stream in streams.items():
            x = tf.convert_to_tensor(inputs[s])
            views = int(x.shape[1]) if x.shape.rank == 6 else 1
            x = tf.reshape(x, [-1, *x.shape[-4:]])
            logits = np.asarray(stream(x, training=False), np.float64)
            out[s].append(logits.reshape(-1, views, logits.shape[-1]).mean(axis=1))
        all_labels.append(np.asarray(labels))
    if not all_labels:
        raise ValueError("The calibration dataset is empty.")
    return {s: np.concatenate(v) for s, v in out.items()}, np.concatenate(all_labels)


def calibrate_two_stream(model, dataset, *, multi_label: bool = False) -> dict[str, float]:
    """Fits each stream's temperature on `dataset` (the validation split) and sets them in `model`'s
    `LateFusion` layer (`set_stream_temperatures`). Returns `{"rgb": T_rgb, "flow": T_flow}`.

    Raises:
        ValueError: a model without late fusion (`"concat"`), or an empty dataset.
    """
    from keras_ispan.models import set_stream_temperatures

    logits, labels = stream_logits(model, dataset)
    temperatures = {
        s: fit_temperature(v, labels, multi_label=multi_label) for s, v in logits.items()
    }
    set_stream_temperatures(model, (temperatures["rgb"], temperatures["flow"]))
    return temperatures
