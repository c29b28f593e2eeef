"""The classifier a run trains: built from the config (one stream or two) and compiled."""

from __future__ import annotations

import pathlib

import keras

from training.config.core import TrainConfig
from training.data import datasets
from training.engine import optim
from training.engine import streams as streams_lib

__all__ = ["build_compiled_model", "build_model", "check_label_kind", "compile_model"]


# `model.*` keys passed to `build_classifier` under the same name.
_CLASSIFIER_KEYS = (
    "backbone", "head", "dropout", "downsample", "fusion", "bias", "attention_pooling",
    "interaction_weight", "diversity_weight", "normalize_features", "diversity_form",
    "classifier_initializer",
)  # fmt: skip


def build_model(config: TrainConfig, info) -> keras.Model:
    """The (uncompiled) classifier of `config` for the dataset described by `info` (its classes): one
    stream (`model.modality` `rgb` or `flow`) or both fused (`two_stream`)."""
    from keras_ispan.models import build_classifier, two_stream_from_streams

    model_cfg = config.model
    weights = model_cfg.weights_argument
    if weights not in (None, "imagenet") and not pathlib.Path(weights).is_file():
        raise FileNotFoundError(f"Backbone weights file not found: {weights} (model.weights)")
    common = dict(
        num_classes=info.num_classes,
        levels=list(model_cfg.levels) if model_cfg.levels else None,
        image_size=config.data.image_size,
        num_frames=config.data.num_segments,
        multi_label=info.multi_label,
        class_names=list(info.classes),
        **{name: getattr(model_cfg, name) for name in _CLASSIFIER_KEYS},
    )
    streams = []
    if model_cfg.modality in ("rgb", "two_stream"):
        name = "rgb" if model_cfg.modality == "two_stream" else None
        streams.append(build_classifier(weights=weights, name=name, **common))
    if model_cfg.modality in ("flow", "two_stream"):
        # cross-modality initialisation from the RGB stream's backbone (or from `weights`)
        flow_weights = (streams[0] if streams else weights) if weights else None
        name = "flow" if model_cfg.modality == "two_stream" else None
        flow = build_classifier(
            weights=flow_weights, modality="flow", flow_length=model_cfg.flow_length, name=name,
            **common,
        )  # fmt: skip
        streams.append(flow)
    for stream in streams:
        optim.freeze_layers(stream, model_cfg)
    if model_cfg.modality != "rgb":  # how the dataset's flow was computed, for inference
        streams_lib.record_flow_settings(streams[-1], info)
    if len(streams) == 1:
        return streams[0]
    return two_stream_from_streams(
        *streams, fusion=model_cfg.stream_fusion, stream_weights=model_cfg.stream_weights,
        dropout=model_cfg.dropout,
    )  # fmt: skip


def compile_model(
    model: keras.Model, config: TrainConfig, info, steps_per_epoch: int
) -> keras.Model:
    """Compiles with the configured optimiser and schedule, (sigmoid) cross-entropy and metrics. The ISPAN
    layer's regularisers are added by the layer itself (`add_loss`, training only)."""
    model.compile(
        optimizer=optim.build_optimizer(config.optim, steps_per_epoch, config.train.epochs),
        loss=optim.build_loss(info.multi_label, config.optim.label_smoothing),
        metrics=optim.build_metrics(info.multi_label, info.num_classes),
        jit_compile=False,
    )
    return model


def build_compiled_model(config: TrainConfig) -> keras.Model:
    """`config -> compiled model` for the tuner: resolves the dataset, builds, freezes and compiles."""
    info = datasets.dataset_info(datasets.resolve_data_dir(config))
    check_label_kind(config, info)
    model = build_model(config, info)
    return compile_model(model, config, info, datasets.steps_per_epoch(info, config))


def check_label_kind(config: TrainConfig, info) -> None:
    if config.model.multi_label != info.multi_label:
        raise ValueError(
            f"Dataset {info.path} is {'multi' if info.multi_label else 'single'}-label but "
            f"model.multi_label={str(config.model.multi_label).lower()}. "
            f"Received: model.multi_label={config.model.multi_label}"
        )
