"""The level-diversity loss of ISPAN (`l_attn`)."""

import keras
from keras import ops

from keras_ispan.regularizers.base import AttentionRegularizer


def diversity_loss(fused, levels):
    """`l_attn = sqrt(sum_j sum_m sum_k (1 - delta_{j,m,k}^2))`, averaged over the batch.

    `delta_{j,m,k} = |a_{m,k} - softmax(Y_j)_{m,k}|`: minimising it pushes the fused attention away
    from every single-level attention, so the levels attend to different things. With a softmax
    over many positions `delta` is small and the loss is nearly `sqrt(levels * d * positions)`,
    with a small gradient; this is the paper's form, kept as is.

    Args:
        fused: `(batch, positions, d)`, the fused attention `a` (softmax, before L2).
        levels: list of N tensors `(batch, positions, d)`, `softmax(Y_j)` for each level.

    Returns:
        Scalar tensor.
    """
    fused = ops.cast(fused, "float32")
    total = 0.0
    for level in levels:
        delta = fused - ops.cast(level, "float32")
        total = total + ops.sum(1.0 - ops.square(delta), axis=(1, 2))
    return ops.mean(ops.sqrt(ops.maximum(total, 0.0)))


@keras.saving.register_keras_serializable(package="keras_ispan")
class AttentionDiversityRegularizer(AttentionRegularizer):
    """The level-diversity regulariser of ISPAN (`l_attn`), times `weight`.

    Args:
        weight: non-negative float, the paper's `gamma`. Default `1e-3` (measured stable on a
            small prototype; the paper's value was not recoverable).

    Call arguments:
        fused: `(batch, positions, d)`, the fused attention before L2 normalisation.
        levels: list of `(batch, positions, d)`, the per-level softmax attentions.

    Returns:
        A scalar: `weight * diversity_loss(fused, levels)`.

    Example:

    >>> import numpy as np
    >>> reg = AttentionDiversityRegularizer(weight=1.0)
    >>> a = np.full((1, 4, 1), 0.25, dtype="float32")
    >>> round(float(reg(a, [a])), 4)   # identical maps: delta = 0, sqrt(4 positions * 1 row)
    2.0

    Reference: Du et al., ECCV 2018, the attention loss `l_attn`.
    """

    def __init__(self, weight=1e-3):
        super().__init__(weight)

    def __call__(self, fused, levels):
        return self.weight * diversity_loss(fused, levels)
