"""Inference-mode checks of a trained model: one-class collapse and the train/inference accuracy gap.

A model whose batch-norm statistics (or anything else) differ between training and inference can
reach a good training accuracy and still give one class to most clips in inference mode (issue 17).
`run()` checks it after training, cheaply: the best checkpoint on the training split once, centre
view, next to the accuracy Keras logged at the best epoch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["one_class_share", "one_class_warning", "train_split_check"]


def one_class_share(confusion) -> tuple[int, float, float]:
    """`(class, share of the predictions, share of the labels)` of the most predicted class.

    Args:
        confusion: `(num_classes, num_classes)` counts, rows true classes, columns predicted
            (`training.evaluation.metrics.confusion_matrix`).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    total = max(confusion.sum(), 1.0)
    predicted = confusion.sum(axis=0)
    top = int(np.argmax(predicted))
    return top, float(predicted[top] / total), float(confusion[top].sum() / total)


def one_class_warning(confusion, split: str, class_names) -> str | None:
    """A warning line when one class takes most of the predictions of `split`, else None.

    Fires when the most predicted class gets more than half of the clips and at least halfway from
    its share of the labels to all of them (`share >= (label_share + 1) / 2`): on 6 balanced classes
    above 58 %, on 2 balanced classes at 75 % or more.
    """
    top, share, label_share = one_class_share(confusion)
    if share <= 0.5 or share < (label_share + 1.0) / 2.0:
        return None
    clips = int(np.asarray(confusion).sum())
    return (
        f"[run] WARNING: split {split!r}: the model predicts class {class_names[top]!r} for "
        f"{share:.0%} of its {clips} clips (that class is {label_share:.0%} of the labels): it has "
        "collapsed towards one class in inference mode. See docs/training.md#collapse-at-inference "
        "(train.precise_bn, model.partial_bn, data.synthetic_difficulty)."
    )


def train_split_check(result: dict, logged_accuracy: float | None) -> dict:
    """The `train_split` entry of `metrics.json`: inference-mode top-1 on the training clips next to the
    training accuracy logged at the best epoch, and their gap (logged minus inference)."""
    inference = float(result["top1"])
    gap = None if logged_accuracy is None else float(logged_accuracy) - inference
    return {
        "inference_top1": inference,
        "logged_accuracy_at_best_epoch": logged_accuracy,
        "gap": gap,
        "num_clips": result["num_clips"],
        "majority_share": one_class_share(result["confusion_matrix"])[1],
    }
