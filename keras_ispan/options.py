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
- `STREAMS`: the modalities of one stream of a two-stream model (`build_classifier(modality=...)`,
  `keras_ispan.models.two_stream`, per-stream evaluation).
- `STREAM_FUSIONS`: `two_stream_from_streams(fusion=...)` (the config's `model.stream_fusion`).
- `CLASSIFIER_INITIALIZERS`: the initial kernel of a classifier's last `Dense` layer
  (`build_classifier(classifier_initializer=...)`, the config's `model.classifier_initializer`).
- `DIVERSITY_FORMS`: the diversity regulariser's `form` (the config's `model.diversity_form`).
- `FLOW_METHODS`: `keras_ispan.io.flow` (`prepare.py --flow-method`).
- `CHECK_POINTS`: the named schedules of anytime inference (`keras_ispan.io.coarse_to_fine`,
  `serving/export.py --anytime-check-points`).
- `ANYTIME_CRITERIA`: what anytime inference's threshold applies to: the top-1 probability or its
  margin over the second (`keras_ispan.models.anytime`, `serving/export.py --anytime-criterion`,
  `--criterion` of `predict.py` and `client.py`).
- `INCOMPLETE_POLICIES`: what conversion does with a truncated video (`prepare.py --incomplete`).
- `SYNTHETIC_VARIANTS`: the embedded dataset's variants: `appearance` (`keras_ispan.data.synthetic`)
  and `motion` (`keras_ispan.data.synthetic_motion`: classes differ only in the direction of motion);
  `synthetic.py --variant`, the config's `data.synthetic_variant`.
- `STREAM_CALIBRATIONS`: how a trained two-stream model's late fusion is calibrated (the config's
  `model.stream_calibration`): `none` (TSN: logits fused as they are; the default) or
  `temperature` (each stream's temperature fitted on the validation split,
  `training.evaluation.calibration`).
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
STREAMS = ("rgb", "flow")
STREAM_FUSIONS = ("late", "learned", "concat")
LR_SCHEDULES = ("constant", "step", "cosine")  # keras_ispan.models.WarmupSchedule's kinds
CLASSIFIER_INITIALIZERS = ("zeros", "glorot_uniform", "glorot_over_sqrt_p")
DIVERSITY_FORMS = ("paper", "cosine")
FLOW_METHODS = ("farneback", "tvl1")
CHECK_POINTS = ("doubling", "every_frame")
ANYTIME_CRITERIA = ("top1", "margin")
INCOMPLETE_POLICIES = ("keep", "skip")
SYNTHETIC_VARIANTS = ("appearance", "motion")
STREAM_CALIBRATIONS = ("none", "temperature")
