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
    pooled, _ = PyramidAttention(
        interaction_regularizer=interaction,
        diversity_regularizer=diversity,
        return_attention=True,
        kernel_regularizer=kernel_regularizer,
        name="pyramid_attention",
        **attention,
    )(levels)
    x = keras.layers.GlobalAveragePooling2D(name="spatial_pool")(pooled)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return _classifier(num_classes, kernel_regularizer, classifier_initializer)(x)


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
    x = _classifier(num_classes, kernel_regularizer, classifier_initializer)(x)
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
    return _classifier(num_classes, kernel_regularizer, classifier_initializer)(x)


def _classifier(num_classes, kernel_regularizer, initializer):
    """The last `Dense` layer, named `classifier`, with its kernel initialised by `initializer`."""
    return keras.layers.Dense(
        num_classes,
        kernel_initializer=initializer,
        kernel_regularizer=kernel_regularizer,
        name="classifier",
    )
