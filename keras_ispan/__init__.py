"""keras-ispan: Interaction-aware Spatio-temporal Pyramid Attention Networks in Keras 3.

The subpackages that need Keras (`layers`, `models`, `regularizers`) and the public layer names are
loaded on first use (PEP 562), so `import keras_ispan.io.atomic` or `keras_ispan.io.transform` does not
import Keras; `from keras_ispan import PyramidAttention` works as before.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("layers", "models", "regularizers")
_NAMES = {
    "AttentionDiversityRegularizer": "keras_ispan.regularizers",
    "ClassLogits": "keras_ispan.layers.outputs",
    "FlowPreprocessing": "keras_ispan.layers",
    "FrameResize": "keras_ispan.layers",
    "FrameWise": "keras_ispan.layers",
    "LateFusion": "keras_ispan.layers",
    "PCARegularizer": "keras_ispan.regularizers",
    "PixelPreprocessing": "keras_ispan.layers.preprocessing",
    "PyramidAttention": "keras_ispan.layers",
    "RandomClipFlip": "keras_ispan.layers",
    "UniformSaliency": "keras_ispan.layers.outputs",
}

__all__ = sorted(_NAMES) + list(_SUBPACKAGES)


def __getattr__(name):
    if name in _SUBPACKAGES:
        value = importlib.import_module(f"keras_ispan.{name}")
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'keras_ispan' has no attribute {name!r}")
    globals()[name] = value  # loaded once
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
