"""The level-diversity loss of ISPAN (`l_attn`): the paper's form and a scale-free variant."""

import keras
from keras import ops

from keras_ispan.options import DIVERSITY_FORMS
from keras_ispan.regularizers.base import AttentionRegularizer


def diversity_loss(fused, levels, form="paper"):
    """`l_attn = sqrt(sum_j sum_m sum_k (1 - delta_{j,m,k}^2))`, averaged over the batch.

    `delta_{j,m,k} = |a_{m,k} - softmax(Y_j)_{m,k}|`: minimising it pushes the fused attention away
    from every single-level attention, so the levels attend to different things. With a softmax
    over many positions `delta` is small and the loss is nearly `sqrt(levels * d * positions)`,
    with a small gradient (measured: 1e-5 of the cross-entropy's, `benchmarks/loss_scales.py`); this
    is the paper's form (`form="paper"`), kept as is.

    `form="cosine"` is the scale-free variant: the mean, over the batch, the `d` attention rows and
    the `N` levels, of the cosine similarity between the fused map `a_m` and the level's map
    `softmax(Y_j)_m` over the positions, `a_m . s_jm / (||a_m|| ||s_jm||)`. Both maps are
    non-negative, so it lies in `[0, 1]` (1: the same map up to scale) whatever the number of
    positions, levels or rows, and its gradient does not vanish when the maps are spread over many
    positions; minimising it makes the fused map differ from each level's, the paper's intent.

    Args:
        fused: `(batch, positions, d)`, the fused attention `a` (softmax, before L2).
        levels: list of N tensors `(batch, positions, d)`, `softmax(Y_j)` for each level.
        form: `"paper"` or `"cosine"`.

    Returns:
        Scalar tensor.
    """
    if form not in DIVERSITY_FORMS:
        raise ValueError(f"`form` must be one of {DIVERSITY_FORMS}. Received: form={form!r}")
    fused = ops.cast(fused, "float32")
    if form == "cosine":
        return _cosine_loss(fused, levels)
    total = 0.0
    for level in levels:
        delta = fused - ops.cast(level, "float32")
        total = total + ops.sum(1.0 - ops.square(delta), axis=(1, 2))
    return ops.mean(ops.sqrt(ops.maximum(total, 0.0)))


def _cosine_loss(fused, levels):
    def unit(x):  # L2-normalised over the positions
        return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=1, keepdims=True), 1e-12))

    fused = unit(fused)
    cosines = [ops.sum(fused * unit(ops.cast(level, "float32")), axis=1) for level in levels]
    return ops.mean(ops.stack(cosines, axis=0))


@keras.saving.register_keras_serializable(package="keras_ispan")
class AttentionDiversityRegularizer(AttentionRegularizer):
    """The level-diversity regulariser of ISPAN (`l_attn`), times `weight`.

    Args:
        weight: non-negative float, the paper's `gamma`. Default `1e-3` (measured stable on a
            small prototype; the paper's value was not recoverable).
        form: `"paper"` (default: `l_attn` as published, nearly constant) or `"cosine"` (the
            scale-free variant in `[0, 1]`; see `diversity_loss`).

    Call arguments:
        fused: `(batch, positions, d)`, the fused attention before L2 normalisation.
        levels: list of `(batch, positions, d)`, the per-level softmax attentions.

    Returns:
        A scalar: `weight * diversity_loss(fused, levels, form)`.

    Raises:
        ValueError: a negative `weight` or an unknown `form`.

    Example:

    >>> import numpy as np
    >>> reg = AttentionDiversityRegularizer(weight=1.0)
    >>> a = np.full((1, 4, 1), 0.25, dtype="float32")
    >>> round(float(reg(a, [a])), 4)   # identical maps: delta = 0, sqrt(4 positions * 1 row)
    2.0

    Reference: Du et al., ECCV 2018, the attention loss `l_attn`.
    """

    def __init__(self, weight=1e-3, form="paper"):
        super().__init__(weight)
        if form not in DIVERSITY_FORMS:
            raise ValueError(f"`form` must be one of {DIVERSITY_FORMS}. Received: form={form!r}")
        self.form = form

    def __call__(self, fused, levels):
        return self.weight * diversity_loss(fused, levels, self.form)

    def get_config(self):
        return {**super().get_config(), "form": self.form}
