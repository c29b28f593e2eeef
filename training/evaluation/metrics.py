"""Classification metrics from scikit-learn: top-k accuracy, mean class accuracy, confusion matrix, mAP.

All functions take scores `(num_clips, num_classes)` (logits or probabilities: only their order matters) and
labels: integer class ids `(num_clips,)` for single-label, or multi-hot `(num_clips, num_classes)` for
multi-label.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "confusion_matrix",
    "mean_average_precision",
    "mean_class_accuracy",
    "summarize",
    "top_k_accuracy",
    "top_k_reported",
]


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(
            f"scores must be (num_clips, num_classes). Received: scores.shape={scores.shape}"
        )
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(
            "scores and labels must have the same number of clips. "
            f"Received: scores.shape={scores.shape}, labels.shape={labels.shape}"
        )
    return scores, labels


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of clips whose label is among the `k` highest scores (`sklearn.metrics.top_k_accuracy_score`).

    Args:
        scores: `(num_clips, num_classes)`.
        labels: `(num_clips,)` integer class ids.
        k: clipped to the number of classes.
    """
    from sklearn.metrics import top_k_accuracy_score

    scores, labels = _check(scores, labels)
    if len(labels) == 0:
        return float("nan")
    num_classes = scores.shape[1]
    k = max(1, min(int(k), num_classes))
    if k == num_classes:
        return 1.0
    if num_classes == 2:
        # k == 1 here. scikit-learn's binary form thresholds one score at 0.5 when every score lies in
        # [0, 1] (read as probabilities), which misreads small logit margins: take the argmax instead.
        return float(np.mean(np.argmax(scores, axis=1) == labels))
    return float(top_k_accuracy_score(labels, scores, k=k, labels=np.arange(num_classes)))


def top_k_reported(k: int, num_classes: int) -> bool:
    """Whether top-`k` accuracy says anything: `k` < `num_classes` (else every label is in the top `k`
    and it is 1 by definition). `summarize`, the training metrics and the tables follow it."""
    return int(k) < int(num_classes)


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """`(num_classes, num_classes)` int64 counts; row = true class, column = predicted class."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    matrix = sklearn_confusion_matrix(labels, predicted, labels=np.arange(num_classes))
    return matrix.astype(np.int64)


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in `labels` of the per-class top-1 recall
    (`sklearn.metrics.balanced_accuracy_score`)."""
    from sklearn.metrics import balanced_accuracy_score

    scores, labels = _check(scores, labels)
    if len(labels) == 0:
        return float("nan")
    return float(balanced_accuracy_score(labels, np.argmax(scores, axis=1)))


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over classes with at least one positive of the average precision (Charades mAP;
    `sklearn.metrics.average_precision_score` per class)."""
    from sklearn.metrics import average_precision_score

    scores, targets = _check(scores, targets)
    if targets.shape != scores.shape:
        raise ValueError(
            "multi-label targets must be multi-hot (num_clips, num_classes). "
            f"Received: targets.shape={targets.shape}, scores.shape={scores.shape}"
        )
    targets = targets > 0
    present = np.flatnonzero(targets.any(axis=0))
    if present.size == 0:
        return float("nan")
    values = [average_precision_score(targets[:, c], scores[:, c]) for c in present]
    return float(np.mean(values))


def summarize(
    scores: np.ndarray, labels: np.ndarray, multi_label: bool = False, top_k: int = 5
) -> dict[str, object]:
    """All metrics of one evaluation as a JSON-ready dict.

    Single-label: `top1`, `top{k}` (only when `k` < the number of classes: with `k` >= classes every
    label is in the top k, so it would always be 1), `mean_class_accuracy`, `confusion_matrix` (nested
    lists), `num_clips`. Multi-label: `mAP`, `num_clips`.
    """
    scores, labels = _check(scores, labels)
    if multi_label:
        return {"mAP": mean_average_precision(scores, labels), "num_clips": int(len(scores))}
    labels = labels.astype(np.int64).reshape(-1)
    top_k_entry = {}
    if top_k_reported(top_k, scores.shape[1]):
        top_k_entry = {f"top{top_k}": top_k_accuracy(scores, labels, top_k)}
    return {
        "top1": top_k_accuracy(scores, labels, 1),
        **top_k_entry,
        "mean_class_accuracy": mean_class_accuracy(scores, labels),
        "confusion_matrix": confusion_matrix(
            np.argmax(scores, axis=1), labels, scores.shape[1]
        ).tolist(),
        "num_clips": int(len(scores)),
    }
