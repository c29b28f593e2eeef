"""Layers of keras-ispan (backend-agnostic, `keras.ops` only)."""

from keras_ispan.layers.clip_flip import RandomClipFlip
from keras_ispan.layers.flow_preprocessing import FlowPreprocessing
from keras_ispan.layers.frame_resize import FrameResize
from keras_ispan.layers.frame_wise import FrameWise
from keras_ispan.layers.late_fusion import LateFusion
from keras_ispan.layers.outputs import ClassLogits, UniformSaliency
from keras_ispan.layers.preprocessing import PixelPreprocessing
from keras_ispan.layers.pyramid_attention import PyramidAttention

__all__ = [
    "ClassLogits",
    "FlowPreprocessing",
    "FrameResize",
    "FrameWise",
    "LateFusion",
    "PixelPreprocessing",
    "PyramidAttention",
    "RandomClipFlip",
    "UniformSaliency",
]
