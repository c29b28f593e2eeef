"""Attention regularisers of ISPAN, added by `PyramidAttention` with `add_loss`."""

from keras_ispan.regularizers.base import AttentionRegularizer, get
from keras_ispan.regularizers.diversity import AttentionDiversityRegularizer, diversity_loss
from keras_ispan.regularizers.pca import PCARegularizer, interaction_loss

__all__ = [
    "AttentionDiversityRegularizer",
    "AttentionRegularizer",
    "PCARegularizer",
    "diversity_loss",
    "get",
    "interaction_loss",
]
