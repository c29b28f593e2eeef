"""The interaction (PCA) loss of ISPAN, Eq. (6) of the paper."""

import keras
from keras import ops

from keras_ispan.regularizers.base import AttentionRegularizer


def interaction_loss(attention, features, normalize_features=True):
    """Eq. (6): `-SUM((A X X^T A^T) o I) + SUMSQ((A A^T) o (1 - I))`, averaged over the batch.

    Equivalently `-||A X||_F^2 + sum_{m != m'} (a_m . a_m')^2`: the variance of the features
    projected on the d attention rows goes up, while the rows are pushed towards orthogonality
    (the PCA constraint `S S^T = I` as an off-diagonal penalty; the diagonal is 1 by the L2
    normalisation of the rows).

    Args:
        attention: `A`, `(batch, positions, d)`: column m is the L2-normalised attention row m.
        features: `X`, `(batch, positions, channels)`: the anchor level's local features.
        normalize_features: L2-normalise each local feature (row of `X`) first. This bounds the
            first term (`||A X||_F^2 <= d * positions`), so the backbone cannot lower the loss
            by inflating its features.

    Returns:
        Scalar tensor.
    """
    attention = ops.cast(attention, "float32")
    features = ops.cast(features, "float32")
    if normalize_features:
        features = features / ops.sqrt(
            ops.maximum(ops.sum(ops.square(features), axis=-1, keepdims=True), 1e-12)
        )
    projected = ops.einsum("bpd,bpc->bdc", attention, features)  # A X, (batch, d, channels)
    energy = ops.sum(ops.square(projected), axis=(1, 2))
    gram = ops.einsum("bpd,bpe->bde", attention, attention)  # A A^T, (batch, d, d)
    d = ops.shape(gram)[-1]
    off_diagonal = gram * (1.0 - ops.eye(d, dtype=gram.dtype))
    orthogonality = ops.sum(ops.square(off_diagonal), axis=(1, 2))
    return ops.mean(orthogonality - energy)


@keras.saving.register_keras_serializable(package="keras_ispan")
class PCARegularizer(AttentionRegularizer):
    """The PCA-inspired interaction regulariser of ISPAN (Eq. 6), times `weight`.

    Args:
        weight: non-negative float, the paper's `beta`. Default `1e-4`: measured on a small
            prototype, `1e-3` let this term dominate the cross-entropy (about -14 against 1.8).
        normalize_features: bool, default `True`. Computes the energy term on L2-normalised
            local features, which keeps it bounded (`<= d * positions`); with `False` (the
            paper's literal form) it is unbounded below in the feature scale and the backbone can
            lower the loss by inflating its activations.

    Call arguments:
        attention: `(batch, positions, d)`, the L2-normalised attention `A` (transposed).
        features: `(batch, positions, channels)`, the anchor level's local features `X`.

    Returns:
        A scalar: `weight * interaction_loss(attention, features)`.

    Example:

    >>> import numpy as np
    >>> reg = PCARegularizer(weight=1.0)
    >>> a = np.eye(4, 2, dtype="float32")[None]   # two orthonormal rows over 4 positions
    >>> x = np.ones((1, 4, 3), dtype="float32")
    >>> round(float(reg(a, x)), 4)                 # -(1 + 1): unit features, no overlap
    -2.0

    Reference: Du et al., "Interaction-aware Spatio-temporal Pyramid Attention Networks for
    Action Classification", ECCV 2018, Eq. (6).
    """

    def __init__(self, weight=1e-4, normalize_features=True):
        super().__init__(weight)
        if not isinstance(normalize_features, bool):
            raise ValueError(
                f"`normalize_features` must be a bool. Received: normalize_features={normalize_features!r}"
            )
        self.normalize_features = normalize_features

    def __call__(self, attention, features):
        return self.weight * interaction_loss(attention, features, self.normalize_features)

    def get_config(self):
        return {**super().get_config(), "normalize_features": self.normalize_features}
