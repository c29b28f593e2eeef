"""Classification heads over the pyramid levels: ISPAN and the baselines it is compared with."""

import keras

from keras_ispan.layers import FrameWise, PyramidAttention
from keras_ispan.options import HEADS  # noqa: F401 (re-exported)
from keras_ispan.regularizers import AttentionDiversityRegularizer, PCARegularizer


def attention_head(
    levels,
    *,
    head,
    attention,
    losses,
    dropout,
    num_classes,
    kernel_regularizer=None,
    classifier_initializer="glorot_uniform",
    num_frames=None,
):
    """ISPAN (`"ispan"`: all levels, both losses) or single-level attention (`"single"`).

    Args:
        levels: list of `(batch, frames, h_j, w_j, c_j)` feature maps, shallow to deep.
        head: `"ispan"` or `"single"`.
        attention: `PyramidAttention`'s `downsample`, `fusion`, `bias` and `pooling`, as a dict.
        losses: `(interaction_weight, diversity_weight, normalize_features, diversity_form)`: the
            weights of `PCARegularizer` and `AttentionDiversityRegularizer` (0 disables one), the
            former's `normalize_features` and the latter's `form`; ignored by `"single"`.
        dropout, num_classes, kernel_regularizer, classifier_initializer: the classifier's
            (`build_classifier`).
        num_frames: the training frames `T`, or None; only `"glorot_over_sqrt_p"` reads it
            (`classifier_kernel_initializer`).

    Returns `(batch, num_classes)` logits. The attention layer is named `pyramid_attention`; its
    second output is the saliency map.
    """
    interaction_weight, diversity_weight, normalize_features, diversity_form = losses
    if head == "single":
        levels = levels[-1:]
        interaction, diversity = None, None
    else:
        interaction = (
            PCARegularizer(interaction_weight, normalize_features) if interaction_weight else None
        )
        diversity = (
            AttentionDiversityRegularizer(diversity_weight, diversity_form)
            if diversity_weight
            else None
        )
    layer = PyramidAttention(
        interaction_regularizer=interaction,
        diversity_regularizer=diversity,
        return_attention=True,
        kernel_regularizer=kernel_regularizer,
        name="pyramid_attention",
        **attention,
    )
    pooled, _ = layer(levels)
    x = keras.layers.GlobalAveragePooling2D(name="spatial_pool")(pooled)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    positions = layer.units * (num_frames or 1) if layer.pooling == "l2" else 1
    initializer = classifier_kernel_initializer(classifier_initializer, positions)
    return _classifier(num_classes, kernel_regularizer, initializer)(x)


def tsn_head(
    anchor,
    *,
    dropout,
    num_classes,
    kernel_regularizer=None,
    classifier_initializer="glorot_uniform",
):
    """TSN average consensus: per-frame pooled features, per-frame scores, averaged over frames."""
    x = FrameWise(keras.layers.GlobalAveragePooling2D(), name="frame_pool")(anchor)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    initializer = classifier_kernel_initializer(classifier_initializer, 1)
    x = _classifier(num_classes, kernel_regularizer, initializer)(x)
    return keras.layers.GlobalAveragePooling1D(name="consensus")(x)


def gap_head(
    anchor,
    *,
    dropout,
    num_classes,
    kernel_regularizer=None,
    classifier_initializer="glorot_uniform",
):
    """Global average pooling over frames and positions, then one classifier."""
    x = keras.layers.GlobalAveragePooling3D(name="clip_pool")(anchor)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    initializer = classifier_kernel_initializer(classifier_initializer, 1)
    return _classifier(num_classes, kernel_regularizer, initializer)(x)


def classifier_kernel_initializer(name, positions):
    """The Keras initialiser of the classifier's kernel for `build_classifier(classifier_initializer=name)`.

    Args:
        name: a value of `keras_ispan.options.CLASSIFIER_INITIALIZERS`.
        positions: `P`, the positions the head's `l2` attention pooling sums over (1 for heads
            without it: TSN, GAP, `softmax` pooling).

    `"glorot_over_sqrt_p"` is Glorot-uniform (Glorot & Bengio, AISTATS 2010) with its limit divided
    by `sqrt(P)`, i.e. `VarianceScaling(scale=1 / P, mode="fan_avg", distribution="uniform")`: the
    `l2` pooling `A X` returns `sqrt(P)` times the mean feature under the near-uniform initial
    attention (`PyramidAttention`), so the initial logits get the scale a Glorot classifier has
    over an average-pooling head. With `P = 1` it equals `"glorot_uniform"`.

    Raises:
        ValueError: `positions` below 1.
    """
    if name != "glorot_over_sqrt_p":
        return name
    if positions < 1:
        raise ValueError(f"`positions` must be >= 1. Received: positions={positions!r}")
    return keras.initializers.VarianceScaling(
        scale=1.0 / positions, mode="fan_avg", distribution="uniform"
    )


def _classifier(num_classes, kernel_regularizer, initializer):
    """The last `Dense` layer, named `classifier`, with its kernel initialised by `initializer`."""
    return keras.layers.Dense(
        num_classes,
        kernel_initializer=initializer,
        kernel_regularizer=kernel_regularizer,
        name="classifier",
    )
