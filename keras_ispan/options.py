"""The choice lists of the library's options, in one place and without Keras.

The layers and models check their arguments against these tuples, the experiment config
(`training.config`) validates against them without importing Keras or TensorFlow, and the tuner
(`training.tuning.hypermodel`) searches over them. `keras_ispan.models.backbones` asserts that its
registry's keys equal `BACKBONE_NAMES`.

- `BACKBONE_NAMES`: the keys of `keras_ispan.models.BACKBONES`, in registry order.
- `HEADS`: the classifier heads of `keras_ispan.models.build_classifier`.
- `DOWNSAMPLE_MODES`, `FUSION_MODES`, `BIAS_MODES`, `POOLING_MODES`: `PyramidAttention`'s
  `downsample`, `fusion`, `bias` and `pooling` (the config's `model.attention_pooling`).
- `PREPROCESSING_MODES`: `PixelPreprocessing`'s `mode` (a backbone's pixel scaling).
- `MODALITIES`: what a classifier sees: RGB frames, stacked optical flow, or both
  (`build_classifier(modality=...)`, `build_two_stream`; the config's `model.modality`).
- `STREAM_FUSIONS`: `two_stream_from_streams(fusion=...)` (the config's `model.stream_fusion`).
- `CLASSIFIER_INITIALIZERS`: the initial kernel of a classifier's last `Dense` layer
  (`build_classifier(classifier_initializer=...)`, the config's `model.classifier_initializer`).
"""

BACKBONE_NAMES = (
    "small_cnn",
    "resnet50",
    "resnet101",
    "resnet152",
    "inception_v3",
    "mobilenet_v2",
    "efficientnet_b0",
)
HEADS = ("ispan", "single", "tsn", "gap")
DOWNSAMPLE_MODES = ("avg", "max", "bilinear")
FUSION_MODES = ("sum", "mean", "max", "weighted")
BIAS_MODES = ("position", "row", "none")
POOLING_MODES = ("l2", "softmax")
PREPROCESSING_MODES = ("caffe", "tf", "torch", "unit", "none")
MODALITIES = ("rgb", "flow", "two_stream")
STREAM_FUSIONS = ("late", "learned", "concat")
CLASSIFIER_INITIALIZERS = ("zeros", "glorot_uniform", "glorot_over_sqrt_p")
