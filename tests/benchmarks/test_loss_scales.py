"""The measurements of `benchmarks/loss_scales.py` on uniform attention, where they are known exactly."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from benchmarks import loss_scales  # noqa: E402
from keras_ispan.models import build_classifier  # noqa: E402
from training.engine.optim import build_loss  # noqa: E402

pytestmark = pytest.mark.tf_only

BETA, GAMMA, FRAMES = 1e-2, 1e-1, 2


@pytest.fixture(scope="module")
def uniform_model():
    """32x32 frames: anchor 2x2 (d = 4), 3 levels, P = 2 frames * 4; zero kernels -> uniform `a`."""
    keras.utils.set_random_seed(0)
    model = build_classifier(
        3, image_size=32, dropout=0.0, interaction_weight=BETA, diversity_weight=GAMMA
    )
    layer = model.get_layer("pyramid_attention")
    for kernel in layer.kernels:
        kernel.assign(np.zeros(kernel.shape, "float32"))
    model.compile(loss=build_loss(False, 0.0))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, FRAMES, 32, 32, 3)).astype("float32")
    labels = np.array([0, 2], "int32")
    return model, frames, labels


def test_peakiness_and_scale_of_uniform_attention(uniform_model):
    model, frames, _ = uniform_model
    probe = loss_scales.probe_model(model)
    attention, ratio = loss_scales.attention_and_scale(model, probe, frames)
    positions = FRAMES * 4
    assert attention.shape == (2, positions, 4)
    np.testing.assert_allclose(loss_scales.peakiness(attention), positions, rtol=1e-5)
    # A = 1 / sqrt(P): every row of A X is sqrt(P) times the mean local feature.
    np.testing.assert_allclose(ratio, np.sqrt(positions), rtol=1e-4)
    one_hot = np.zeros((1, positions, 4))
    one_hot[0, :4, :] = np.eye(4)
    assert loss_scales.peakiness(one_hot) == pytest.approx(1.0)


def test_terms_match_numpy_and_restore_batch_norm(uniform_model):
    model, frames, labels = uniform_model
    before = [v.numpy().copy() for v in model.non_trainable_variables]
    row = loss_scales.measure_terms(model, frames, labels)
    for variable, value in zip(model.non_trainable_variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)
    # Reference values from the training-mode forward pass (no dropout: deterministic).
    probe = loss_scales.probe_model(model)
    anchor = probe(frames, training=True)["levels"][-1].numpy().astype("float64")
    logits = model(frames, training=True).numpy().astype("float64")
    for variable, value in zip(model.non_trainable_variables, before, strict=True):
        variable.assign(value)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    np.testing.assert_allclose(row["ce"], -log_probs[[0, 1], labels].mean(), rtol=1e-4)
    d, positions = 4, FRAMES * 4
    # Uniform rows: every off-diagonal (a_m . a_m')^2 is 1; energy = d P ||mean of unit X||^2.
    x = anchor.reshape(2, positions, -1)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    energy = d * positions * np.sum(x.mean(axis=1) ** 2, axis=-1)
    np.testing.assert_allclose(row["interaction"], BETA * np.mean(d * (d - 1) - energy), rtol=1e-4)
    # Every level's softmax equals the fused one: delta = 0, l_attn = sqrt(N d P), zero gradient.
    np.testing.assert_allclose(row["diversity"], GAMMA * np.sqrt(3 * d * positions), rtol=1e-5)
    assert row["grad_diversity_attention"] < 1e-6
    assert row["grad_ce_attention"] > 1e-4 and row["grad_ce_backbone"] > 1e-4


def test_a_loss_the_model_trains_without_is_measured_as_a_shadow(uniform_model):
    """The same weights without the interaction loss: measured at the default weight (1e-4), then
    switched off again."""
    model, frames, labels = uniform_model
    without = build_classifier(
        3, image_size=32, dropout=0.0, interaction_weight=0.0, diversity_weight=GAMMA
    )
    without.set_weights(model.get_weights())
    without.compile(loss=build_loss(False, 0.0))
    full = loss_scales.measure_terms(model, frames, labels, gradients=False)
    shadow = loss_scales.measure_terms(without, frames, labels, gradients=False)
    assert full["shadow"] == [] and shadow["shadow"] == ["interaction_regularizer"]
    np.testing.assert_allclose(shadow["interaction"], full["interaction"] * 1e-4 / BETA, rtol=1e-4)
    assert without.get_layer("pyramid_attention").interaction_regularizer is None
    without(frames, training=True)
    assert len(without.losses) == 1  # only the diversity loss trains


def test_gradient_cosine_by_hand():
    first = [np.array([1.0, 0.0], "float32"), None]
    second = [np.array([1.0, 1.0], "float32"), np.array([3.0], "float32")]
    assert loss_scales._cosine(first, second) == pytest.approx(1 / 2**0.5)
    assert loss_scales._cosine(first, [-x if x is not None else None for x in first]) == -1.0
    assert loss_scales._cosine([None], [None]) == 0.0
