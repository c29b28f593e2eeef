"""The fusion candidates of `benchmarks/two_stream_study.py` against hand computations: TSN's logits and
probabilities, and the two fitted on validation silencing a confident stream at chance."""

import numpy as np

from benchmarks.two_stream_fusions import fused_scores

RNG = np.random.default_rng(5)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _streams(n):
    """RGB: confident (margin 16) and unrelated to the labels; flow: right, with margin 1."""
    labels = RNG.integers(0, 2, n)
    rgb = np.where(RNG.integers(0, 2, n)[:, None] == np.arange(2), 8.0, -8.0)
    flow = np.where(labels[:, None] == np.arange(2), 0.5, -0.5)
    return {"rgb": rgb, "flow": flow}, labels


def test_tsn_fusions_by_hand():
    test = {"rgb": np.array([[2.0, 0.0]]), "flow": np.array([[0.0, 1.0]])}
    np.testing.assert_allclose(fused_scores("logits", test, test, np.array([0])), [[0.8, 0.6]])
    expected = 0.4 * _softmax(test["rgb"]) + 0.6 * _softmax(test["flow"])
    np.testing.assert_allclose(fused_scores("probabilities", test, test, np.array([0])), expected)


def test_fitted_fusions_silence_a_confident_stream_at_chance():
    val, val_labels = _streams(200)
    test, test_labels = _streams(100)
    tsn = (fused_scores("logits", val, test, val_labels).argmax(1) == test_labels).mean()
    assert tsn < 0.75  # the RGB stream's margin of 16 outvotes flow's 1 on about half the clips
    for name in ("temperature", "val_weights"):
        top1 = (fused_scores(name, val, test, val_labels).argmax(1) == test_labels).mean()
        assert top1 == 1.0, name
