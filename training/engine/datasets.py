"""The bridge from a `TrainConfig` to the data engineer's pipeline: dataset folder, `PipelineConfig`s,
train/validation/evaluation datasets (also used by the tuner)."""

from __future__ import annotations

import math
import pathlib

from training.config.core import TrainConfig

__all__ = [
    "dataset_info",
    "eval_steps",
    "eval_dataset",
    "make_datasets",
    "pipeline_config",
    "resolve_data_dir",
    "steps_per_epoch",
    "synthetic_config",
    "training_resize",
    "validation_split",
]


# `data.synthetic_<key>` -> the `SyntheticConfig` field it sets.
_SYNTHETIC_FIELDS = {
    "classes": "num_classes", "train": "train", "val": "val", "test": "test",
    "frames": "num_frames", "size": "image_size", "seed": "seed",
}  # fmt: skip


def synthetic_config(config: TrainConfig):
    """The `keras_ispan.data.synthetic.SyntheticConfig` described by the `data.synthetic_*` keys (object sizes are
    scaled from the generator's 112-pixel defaults to `synthetic_size`)."""
    from keras_ispan.data.synthetic import SyntheticConfig

    data = config.data
    scale = data.synthetic_size / SyntheticConfig.image_size
    return SyntheticConfig(
        **{field: getattr(data, f"synthetic_{key}") for key, field in _SYNTHETIC_FIELDS.items()},
        target_size=max(4, round(SyntheticConfig.target_size * scale)),
        distractor_size=max(3, round(SyntheticConfig.distractor_size * scale)),
    )


def resolve_data_dir(config: TrainConfig, log=print) -> pathlib.Path:
    """The dataset folder of `config`: `data.data_dir` (must exist), or the synthetic dataset, generated once
    by `keras_ispan.data.synthetic.generate_synthetic_dataset` into its cache folder (`$KERAS_ISPAN_HOME/datasets`)
    and reused while its settings are unchanged."""
    if config.data.data_dir is not None:
        path = pathlib.Path(config.data.data_dir).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"Dataset folder not found: {path} (data.data_dir). Create one with "
                "`python training/prepare.py`, or leave data.data_dir unset for the synthetic dataset."
            )
        return path.resolve()
    from keras_ispan.data.synthetic import generate_synthetic_dataset

    return pathlib.Path(
        generate_synthetic_dataset(None, synthetic_config(config), log=log)
    ).resolve()


def dataset_info(data_dir):
    """`keras_ispan.data.pipeline.read_dataset_info` (classes, multi_label, counts)."""
    from keras_ispan.data.pipeline import read_dataset_info

    return read_dataset_info(data_dir)


def validation_split(info, config: TrainConfig) -> str | None:
    """`data.val_split` when the dataset has it, else `data.test_split`, else `None`."""
    for split in (config.data.val_split, config.data.test_split):
        if info.counts.get(split, 0) > 0 or any(info.path.glob(f"{split}-*-of-*.tfrecord")):
            return split
    return None


def steps_per_epoch(info, config: TrainConfig) -> int:
    """Training batches per epoch (`train.steps_per_epoch`, or the train split's clip count / batch)."""
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    count = int(info.counts.get(config.data.train_split, 0))
    if count <= 0:
        raise ValueError(
            f"Dataset {info.path} has no clips in split {config.data.train_split!r}. "
            f"Received: counts={info.counts}"
        )
    return max(1, math.ceil(count / config.data.batch_size))


def eval_steps(info, config: TrainConfig, split: str) -> int:
    """Evaluation batches covering `split` once."""
    count = int(info.counts.get(split, 0))
    return max(1, math.ceil(count / (config.data.eval_batch_size or config.data.batch_size)))


def pipeline_config(
    config: TrainConfig,
    info,
    *,
    training: bool,
    num_segments: int | None = None,
    crops: int = 1,
    num_clips: int = 1,
    batch_size: int | None = None,
):
    """The `keras_ispan.data.pipeline.PipelineConfig` for training (random TSN sampling, augmentation) or evaluation."""
    from keras_ispan.data.pipeline import PipelineConfig

    data = config.data
    eval_batch = data.eval_batch_size or data.batch_size
    kwargs = {
        "num_segments": num_segments or data.num_segments,
        "image_size": data.image_size,
        "batch_size": batch_size or (data.batch_size if training else eval_batch),
        "training": training,
        "multi_label": info.multi_label,
        "num_classes": info.num_classes,
        "cache": data.cache,
        "shuffle_buffer": data.shuffle_buffer,
        "seed": config.train.seed,
        "label_source": data.label_source,
        "reader": data.reader,
    }
    resize = training_resize(config) if training else "pipeline"
    # with the resize in the model, the model flips too (`with_frame_resize(model, flip=data.flip)`)
    kwargs.update(resize=resize, flip=data.flip and resize == "pipeline")
    if not training:
        kwargs.update(crops=crops, num_clips=num_clips)
    if training and not data.scale_jitter:
        kwargs.update(scales=(1.0,), max_distort=0)
    return PipelineConfig(**kwargs)


def training_resize(config: TrainConfig) -> str:
    """`data.resize` resolved: `auto` is `model` when a GPU is visible (the resize then runs there),
    else `pipeline` (on a CPU-only machine moving it to the model saves nothing)."""
    if config.data.resize != "auto":
        return config.data.resize
    import tensorflow as tf

    return "model" if tf.config.list_physical_devices("GPU") else "pipeline"


def make_datasets(config: TrainConfig, data_dir=None):
    """`(train_dataset, validation_dataset or None)` of `(frames (batch, K, S, S, 3), labels)` for `config`."""
    from keras_ispan.data.pipeline import make_dataset

    data_dir = data_dir or resolve_data_dir(config)
    info = dataset_info(data_dir)
    train = make_dataset(
        data_dir, config.data.train_split, pipeline_config(config, info, training=True)
    )
    split = validation_split(info, config)
    val = None
    if split is not None:
        val = make_dataset(data_dir, split, pipeline_config(config, info, training=False))
    return train, val


def eval_dataset(
    config: TrainConfig,
    data_dir,
    split: str,
    *,
    num_segments=None,
    crops=1,
    num_clips=1,
    resize_ratio=None,
):
    """The deterministic evaluation dataset of `split`: `(frames, labels)`, frames
    `(batch, views, K, S, S, 3)` when `crops * num_clips > 1`, else `(batch, K, S, S, 3)`.

    `resize_ratio`: the evaluation transform's ratio recorded in the model
    (`keras_ispan.models.classifier_info(model).transform`); None keeps the pipeline's default."""
    import dataclasses

    from keras_ispan.data.pipeline import make_dataset

    info = dataset_info(data_dir)
    settings = pipeline_config(
        config,
        info,
        training=False,
        num_segments=num_segments or config.eval.num_segments,
        crops=crops,
        num_clips=num_clips,
    )
    if resize_ratio is not None:
        settings = dataclasses.replace(settings, resize_ratio=float(resize_ratio))
    return make_dataset(data_dir, split, settings)
