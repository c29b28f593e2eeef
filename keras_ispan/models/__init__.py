"""Model builders: backbones as pyramids, ISPAN and baseline heads, export variants."""

from keras_ispan.models.anytime import AnytimeClassifier, AnytimeResult
from keras_ispan.models.backbones import (
    BACKBONES,
    BackboneSpec,
    build_backbone,
    get_backbone_spec,
    pyramid_model,
)
from keras_ispan.models.batch_norm import batch_norm_layers, precise_batch_norm
from keras_ispan.models.classifier import build_classifier, export_outputs_model
from keras_ispan.models.flow import cross_modality_init, flow_backbone
from keras_ispan.models.heads import HEADS
from keras_ispan.models.recipe import SparseCrossEntropy, WarmupSchedule
from keras_ispan.models.resizing import with_frame_resize
from keras_ispan.models.saving import (
    ClassifierInfo,
    classifier_info,
    load_classifier,
    set_flow_settings,
)
from keras_ispan.models.small_cnn import small_cnn
from keras_ispan.models.two_stream import (
    build_two_stream,
    is_two_stream,
    set_stream_temperatures,
    stream_classifier,
    two_stream_from_streams,
)

__all__ = [
    "AnytimeClassifier",
    "AnytimeResult",
    "BACKBONES",
    "HEADS",
    "BackboneSpec",
    "ClassifierInfo",
    "SparseCrossEntropy",
    "WarmupSchedule",
    "batch_norm_layers",
    "build_backbone",
    "build_classifier",
    "build_two_stream",
    "classifier_info",
    "cross_modality_init",
    "export_outputs_model",
    "flow_backbone",
    "get_backbone_spec",
    "is_two_stream",
    "load_classifier",
    "precise_batch_norm",
    "pyramid_model",
    "set_flow_settings",
    "set_stream_temperatures",
    "small_cnn",
    "stream_classifier",
    "two_stream_from_streams",
    "with_frame_resize",
]
