"""keras-ispan: Interaction-aware Spatio-temporal Pyramid Attention Networks in Keras 3."""

from keras_ispan import layers, models, regularizers
from keras_ispan.layers import FrameResize, FrameWise, PyramidAttention, RandomClipFlip
from keras_ispan.layers.outputs import ClassLogits, UniformSaliency
from keras_ispan.layers.preprocessing import PixelPreprocessing
from keras_ispan.regularizers import AttentionDiversityRegularizer, PCARegularizer

__version__ = "0.1.0"

__all__ = [
    "AttentionDiversityRegularizer",
    "ClassLogits",
    "FrameResize",
    "FrameWise",
    "PCARegularizer",
    "PixelPreprocessing",
    "PyramidAttention",
    "RandomClipFlip",
    "UniformSaliency",
    "layers",
    "models",
    "regularizers",
]
