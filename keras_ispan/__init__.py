"""keras-ispan: Interaction-aware Spatio-temporal Pyramid Attention Networks in Keras 3."""

__version__ = "0.1.0"
