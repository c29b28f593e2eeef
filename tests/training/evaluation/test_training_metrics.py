"""Metrics (scikit-learn underneath) against hand-computed values, ties, absent classes and two classes."""

import numpy as np
import pytest
from sklearn import metrics as skm

from training.evaluation.metrics import (
    confusion_matrix,
    mean_average_precision,
    mean_class_accuracy,
    summarize,
    top_k_accuracy,
)


def test_top_k_by_hand():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = np.array([1, 1, 0, 2])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 4)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 4)
    assert top_k_accuracy(scores, labels, 3) == pytest.approx(1.0)
    assert top_k_accuracy(scores, labels, 10) == pytest.approx(1.0)  # clipped to num_classes


def test_top_k_matches_sklearn():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 12))
    labels = rng.integers(0, 12, size=200)
    for k in (1, 3, 5):
        expected = skm.top_k_accuracy_score(labels, scores, k=k, labels=np.arange(12))
        assert top_k_accuracy(scores, labels, k) == pytest.approx(expected)


def test_confusion_and_mean_class_accuracy_match_sklearn():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(150, 5))
    labels = rng.integers(0, 5, size=150)
    predicted = scores.argmax(axis=1)
    np.testing.assert_array_equal(
        confusion_matrix(predicted, labels, 5),
        skm.confusion_matrix(labels, predicted, labels=range(5)),
    )
    assert mean_class_accuracy(scores, labels) == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted)
    )


def test_mean_class_accuracy_by_hand_differs_from_top1():
    # Class 0: 3 clips all right; class 1: 1 clip wrong -> top-1 3/4, mean class accuracy (1 + 0) / 2.
    scores = np.array([[1.0, 0.0]] * 4)
    labels = np.array([0, 0, 0, 1])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(0.75)
    assert mean_class_accuracy(scores, labels) == pytest.approx(0.5)


def test_average_precision_by_hand_and_sklearn():
    # Ranked targets 1, 0, 1, 0: AP = (1/1 + 2/3) / 2.
    assert mean_average_precision(
        np.array([[0.9], [0.8], [0.7], [0.1]]), np.array([[1], [0], [1], [0]])
    ) == pytest.approx((1 + 2 / 3) / 2)
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(120, 7))
    scores[:10, 0] = 0.5  # ties
    targets = (rng.random(size=(120, 7)) < 0.3).astype(np.float32)
    targets[:, 6] = 0  # a class without positives is left out
    expected = np.mean([skm.average_precision_score(targets[:, c], scores[:, c]) for c in range(6)])
    assert mean_average_precision(scores, targets) == pytest.approx(expected)


def test_summarize_keys_and_errors():
    scores = np.eye(3)
    result = summarize(scores, np.array([0, 1, 2]), top_k=2)
    assert result["top1"] == 1.0 and result["top2"] == 1.0
    # top-k with k >= classes is 1 by definition: not reported
    assert set(summarize(scores, np.array([0, 1, 2]), top_k=3)) == {
        "top1", "mean_class_accuracy", "confusion_matrix", "num_clips"
    }  # fmt: skip
    assert result["confusion_matrix"] == np.eye(3, dtype=int).tolist()
    assert set(summarize(scores, np.eye(3), multi_label=True)) == {"mAP", "num_clips"}
    with pytest.raises(ValueError, match="same number of clips"):
        top_k_accuracy(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="multi-hot"):
        mean_average_precision(scores, np.array([0, 1, 2]))


def test_two_classes_and_absent_classes():
    scores = np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    assert top_k_accuracy(scores, np.array([1, 0, 0]), 1) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, np.array([1, 0, 0]), 2) == pytest.approx(1.0)
    # class 2 never occurs: it counts in neither the mean class accuracy nor the confusion rows
    three = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    assert mean_class_accuracy(three, np.array([0, 0])) == pytest.approx(0.5)
    assert confusion_matrix(np.array([0, 1]), np.array([0, 0]), 3).tolist() == [
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 0],
    ]
    assert np.isnan(mean_average_precision(np.ones((2, 2)), np.zeros((2, 2))))


def test_two_classes_small_margins_use_the_argmax():
    # Every clip predicts class 1 with a margin in [0, 1]: top-1 is the share of class-1 clips, as the
    # confusion matrix and mean class accuracy say (scikit-learn's binary form would threshold at 0.5).
    scores = np.array([[0.0, 0.3], [0.0, 0.2], [0.0, 0.9], [0.0, 0.8]])
    labels = np.array([0, 0, 1, 1])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(0.5)
    summary = summarize(scores, labels)
    assert summary["top1"] == pytest.approx(0.5)
    assert summary["mean_class_accuracy"] == pytest.approx(0.5)
    assert summary["confusion_matrix"] == [[0, 2], [0, 2]]
