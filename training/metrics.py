"""Classification metrics in NumPy: top-k accuracy, mean class accuracy, confusion matrix, mAP.

All functions take scores `(num_clips, num_classes)` (logits or probabilities: only their order matters) and
labels: integer class ids `(num_clips,)` for single-label, or multi-hot `(num_clips, num_classes)` for
multi-label.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "average_precision",
    "confusion_matrix",
    "mean_average_precision",
    "mean_class_accuracy",
    "summarize",
    "top_k_accuracy",
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
    """Fraction of clips whose label is among the `k` highest scores (ties broken by the lower class id).

    Args:
        scores: `(num_clips, num_classes)`.
        labels: `(num_clips,)` integer class ids.
        k: clipped to the number of classes.
    """
    scores, labels = _check(scores, labels)
    if len(labels) == 0:
        return float("nan")
    k = max(1, min(int(k), scores.shape[1]))
    # Stable sort of negated scores: equal scores keep the lower class id first.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == labels.reshape(-1, 1), axis=1)))


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """`(num_classes, num_classes)` int64 counts; row = true class, column = predicted class."""
    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in `labels` of the per-class top-1 recall."""
    scores, labels = _check(scores, labels)
    matrix = confusion_matrix(np.argmax(scores, axis=1), labels, scores.shape[1])
    support = matrix.sum(axis=1)
    present = support > 0
    if not np.any(present):
        return float("nan")
    return float(np.mean(np.diag(matrix)[present] / support[present]))


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Average precision of one class: mean of the precision at the rank of each positive.

    Ties are resolved pessimistically-free as in scikit-learn: tied scores form one threshold.
    Returns NaN when the class has no positive.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    targets = np.asarray(targets).reshape(-1) > 0
    positives = int(targets.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, targets = scores[order], targets[order]
    # Indices of the last element of each group of equal scores (thresholds).
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    true_pos = np.cumsum(targets)[last]
    predicted = last + 1
    precision = true_pos / predicted
    recall_step = np.diff(np.r_[0, true_pos]) / positives
    return float(np.sum(precision * recall_step))


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over classes with at least one positive of `average_precision` (Charades mAP)."""
    scores, targets = _check(scores, targets)
    if targets.shape != scores.shape:
        raise ValueError(
            "multi-label targets must be multi-hot (num_clips, num_classes). "
            f"Received: targets.shape={targets.shape}, scores.shape={scores.shape}"
        )
    values = [average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def summarize(
    scores: np.ndarray, labels: np.ndarray, multi_label: bool = False, top_k: int = 5
) -> dict[str, object]:
    """All metrics of one evaluation as a JSON-ready dict.

    Single-label: `top1`, `top{k}`, `mean_class_accuracy`, `confusion_matrix` (nested lists), `num_clips`.
    Multi-label: `mAP`, `num_clips`.
    """
    scores, labels = _check(scores, labels)
    if multi_label:
        return {"mAP": mean_average_precision(scores, labels), "num_clips": int(len(scores))}
    labels = labels.astype(np.int64).reshape(-1)
    return {
        "top1": top_k_accuracy(scores, labels, 1),
        f"top{top_k}": top_k_accuracy(scores, labels, top_k),
        "mean_class_accuracy": mean_class_accuracy(scores, labels),
        "confusion_matrix": confusion_matrix(
            np.argmax(scores, axis=1), labels, scores.shape[1]
        ).tolist(),
        "num_clips": int(len(scores)),
    }
