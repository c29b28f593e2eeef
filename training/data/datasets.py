"""What training adds to the library's input pipeline (also used by the tuner): the dataset folder (or
the synthetic dataset), the validation split carved from `train`, the values of the `PipelineConfig`
fields the `data.` keys leave to the engine (`training.config.data.SET_BY_ENGINE`), the datasets and
their step counts."""

from __future__ import annotations

import functools
import math
import pathlib

from training.config.core import TrainConfig

__all__ = [
    "CARVED_SPLIT",
    "carved_holdout",
    "dataset_info",
    "eval_steps",
    "eval_dataset",
    "make_datasets",
    "pipeline_config",
    "resolve_data_dir",
    "needs_flow",
    "steps_per_epoch",
    "synthetic_config",
    "training_clips",
    "training_resize",
    "validation_split",
]


def synthetic_config(config: TrainConfig):
    """The embedded dataset's config of the `data.synthetic_*` keys: a
    `keras_ispan.data.synthetic.SyntheticConfig`, or a `keras_ispan.data.synthetic_motion.MotionConfig`
    for `data.synthetic_variant=motion` (`training.config.data.DataConfig.synthetic_config`)."""
    return config.data.synthetic_config()


def needs_flow(config: TrainConfig) -> bool:
    """Whether the model of `config` reads optical flow (`model.modality` `flow` or `two_stream`)."""
    return getattr(config.model, "modality", "rgb") != "rgb"


def resolve_data_dir(config: TrainConfig, log=print, flow: bool | None = None) -> pathlib.Path:
    """The dataset folder of `config`: `data.data_dir` (must exist), or the synthetic dataset, generated once
    by `keras_ispan.data.synthetic.generate_synthetic_dataset` (or `synthetic_motion.generate_motion_dataset`)
    into its cache folder (`$KERAS_ISPAN_HOME/datasets`) and reused while its settings are unchanged.

    With `flow` (None: `needs_flow(config)`) the synthetic dataset gets optical flow, added once
    (`keras_ispan.data.add_flow`, Farneback); a given `data.data_dir` is left as it is (the pipeline
    names the command that adds flow to it)."""
    if config.data.data_dir is not None:
        path = pathlib.Path(config.data.data_dir).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"Dataset folder not found: {path} (data.data_dir). Create one with "
                "`python training/prepare.py`, or leave data.data_dir unset for the synthetic dataset."
            )
        return path.resolve()
    from keras_ispan.data.add_flow import add_flow_to_dataset
    from keras_ispan.data.pipeline import read_dataset_info
    from keras_ispan.data.synthetic import generate_synthetic_dataset
    from keras_ispan.data.synthetic_motion import MotionConfig, generate_motion_dataset

    synthetic = synthetic_config(config)
    generate = generate_motion_dataset if isinstance(synthetic, MotionConfig) else None
    generate = generate or generate_synthetic_dataset
    path = pathlib.Path(generate(None, synthetic, log=log)).resolve()
    if (needs_flow(config) if flow is None else flow) and not read_dataset_info(path).flow:
        add_flow_to_dataset(path, log=log)
    return path


def dataset_info(data_dir):
    """`keras_ispan.data.pipeline.read_dataset_info` (classes, multi_label, counts)."""
    from keras_ispan.data.pipeline import read_dataset_info

    return read_dataset_info(data_dir)


CARVED_SPLIT = "train-holdout"  # the validation split carved from `train` at load time
HOLDOUT_FRACTION = 0.1  # of the training clips, at least 1, leaving at least 1 to train on
HOLDOUT_SEED = 0  # fixed: the same clips every run, whatever `train.seed`


def _has_split(info, split) -> bool:
    return info.counts.get(split, 0) > 0 or any(info.path.glob(f"{split}-*-of-*.tfrecord"))


def validation_split(info, config: TrainConfig) -> str | None:
    """The split the best epoch is selected on: `data.val_split` when the dataset has it, else
    `CARVED_SPLIT` (clips of `data.train_split` held out by `carved_holdout`, never the test
    split), else `None` (a training split too small to carve from)."""
    if _has_split(info, config.data.val_split):
        return config.data.val_split
    if carved_holdout(info, config) is not None:
        return CARVED_SPLIT
    return None


def carved_holdout(info, config: TrainConfig) -> tuple | None:
    """`(fraction, seed, count)` of the validation split carved from `data.train_split` when the
    dataset has no `data.val_split`: the `count = clip(round(0.1 N), 1, N - 1)` clips of lowest
    hashed video id (`keras_ispan.data.pipeline.holdout_bucket`), selected by `fraction`; None when
    the split has fewer than 2 clips."""
    return _carved(str(info.path), config.data.train_split, config.data.reader)


@functools.lru_cache(maxsize=16)
def _carved(path: str, split: str, reader: str) -> tuple | None:
    from keras_ispan.data.pipeline import PipelineConfig, clip_buckets, holdout_fraction

    if not any(pathlib.Path(path).glob(f"{split}-*-of-*.tfrecord")):
        return None
    buckets = clip_buckets(path, split, PipelineConfig(training=False, reader=reader), HOLDOUT_SEED)
    if len(buckets) < 2:
        return None
    count = min(len(buckets) - 1, max(1, round(HOLDOUT_FRACTION * len(buckets))))
    return holdout_fraction(buckets, count), HOLDOUT_SEED, count


def _source(info, config: TrainConfig, split: str) -> tuple:
    """`(split on disk, holdout or None)` of a split name (`CARVED_SPLIT` included)."""
    if split != CARVED_SPLIT:
        return split, None
    carved = carved_holdout(info, config)
    if carved is None:
        raise ValueError(
            f"Dataset {info.path} has no {config.data.train_split!r} clips to carve a validation "
            f"split from. Received: split={split!r}"
        )
    return config.data.train_split, (carved[0], carved[1], "keep")


def steps_per_epoch(info, config: TrainConfig) -> int:
    """Training batches per epoch (`train.steps_per_epoch`, or the train split's clip count / batch)."""
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    count = training_clip_count(info, config)
    if count <= 0:
        raise ValueError(
            f"Dataset {info.path} has no clips in split {config.data.train_split!r}. "
            f"Received: counts={info.counts}"
        )
    return max(1, math.ceil(count / config.data.batch_size))


def training_clip_count(info, config: TrainConfig) -> int:
    """The clips trained on: `data.train_split`'s, less those carved out for validation."""
    count = int(info.counts.get(config.data.train_split, 0))
    if count > 0 and validation_split(info, config) == CARVED_SPLIT:
        count -= carved_holdout(info, config)[2]
    return count


def eval_steps(info, config: TrainConfig, split: str) -> int:
    """Evaluation batches covering `split` (`CARVED_SPLIT` included) once."""
    if split == CARVED_SPLIT:
        count = carved_holdout(info, config)[2]
    else:
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
    holdout: tuple | None = None,
):
    """The `keras_ispan.data.pipeline.PipelineConfig` for training (random TSN sampling, augmentation)
    or evaluation: the `data.` keys, and the fields they leave to the engine (`SET_BY_ENGINE`) from
    the dataset, `train.seed`, the arguments (`holdout`: `PipelineConfig.holdout`) and `data.resize`,
    `data.flip`, `data.scale_jitter` resolved."""
    data = config.data
    resize = training_resize(config) if training else "pipeline"
    values = {
        "training": training,
        "num_segments": num_segments or data.num_segments,
        "batch_size": batch_size
        or (data.batch_size if training else data.eval_batch_size or data.batch_size),
        "multi_label": info.multi_label,
        "num_classes": info.num_classes,
        "seed": config.train.seed,
        "holdout": holdout,
        "resize": resize,
        # with the resize in the model, the model flips too (`with_frame_resize(model, flip=data.flip)`)
        "flip": data.flip and resize == "pipeline",
    }
    if (
        config.model.modality != "rgb"
    ):  # PipelineConfig(modality, flow_length) of the model's streams
        values.update(modality=config.model.modality, flow_length=config.model.flow_length)
    if not training:
        values.update(crops=crops, num_clips=num_clips)
    if training and not data.scale_jitter:  # one scale: by default the evaluation crop's
        scale = data.crop_scale or 1.0 / data.PIPELINE.resize_ratio
        values.update(scales=(scale,), max_distort=0)
    return data.pipeline_config(**values)


def training_resize(config: TrainConfig) -> str:
    """`data.resize` resolved: `auto` is `model` when a GPU is visible (the resize then runs there),
    else `pipeline` (on a CPU-only machine moving it to the model saves nothing). Flow and two-stream
    models always resize in the pipeline, whose flip negates the flipped x-flow (`data.resize=model`
    with them is a `ValueError`, not silently changed)."""
    if config.model.modality != "rgb":  # flow flips change the x sign: the pipeline's flip does it
        if config.data.resize == "model":
            raise ValueError(
                "data.resize=model resizes and flips RGB frames in the model; flow and two-stream "
                "models resize in the pipeline, whose flip negates x-flow: use data.resize=auto or "
                f"pipeline. Received: data.resize='model', model.modality='{config.model.modality}'"
            )
        return "pipeline"
    if config.data.resize != "auto":
        return config.data.resize
    import tensorflow as tf

    return "model" if tf.config.list_physical_devices("GPU") else "pipeline"


def make_datasets(config: TrainConfig, data_dir=None, log=print):
    """`(train_dataset, validation_dataset or None)` of `(frames (batch, K, S, S, 3), labels)` for `config`.

    Without a `data.val_split` split the validation dataset is `CARVED_SPLIT`: clips held out of the
    training split (and excluded from training), never the test split; `log` says so in one line."""
    from keras_ispan.data.pipeline import make_dataset

    data_dir = data_dir or resolve_data_dir(config)
    info = dataset_info(data_dir)
    split = validation_split(info, config)
    train_holdout = None
    if split == CARVED_SPLIT:
        fraction, seed, count = carved_holdout(info, config)
        train_holdout = (fraction, seed, "drop")
        log(
            f"[data] WARNING: {info.path} has no {config.data.val_split!r} split: the best epoch is "
            f"selected on {count} clips carved from {config.data.train_split!r} ({fraction:.0%} by "
            f"a hash of the video id, seed {seed}; excluded from training), never on "
            f"{config.data.test_split!r}. Give the dataset a val split: `prepare.py --val-fraction`."
        )
    elif split is None:
        log(
            f"[data] WARNING: {info.path} has no {config.data.val_split!r} split and too few "
            f"{config.data.train_split!r} clips to carve one: no validation, the last epoch is kept."
        )
    settings = pipeline_config(config, info, training=True, holdout=train_holdout)
    train = make_dataset(data_dir, config.data.train_split, settings)
    val = None
    if split is not None:
        source, holdout = _source(info, config, split)
        val = make_dataset(
            data_dir, source, pipeline_config(config, info, training=False, holdout=holdout)
        )
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
    """The deterministic evaluation dataset of `split` (`CARVED_SPLIT` included): `(frames, labels)`, frames
    `(batch, views, K, S, S, 3)` when `crops * num_clips > 1`, else `(batch, K, S, S, 3)`.

    `resize_ratio`: the evaluation transform's ratio recorded in the model
    (`keras_ispan.models.classifier_info(model).transform`); None keeps the pipeline's default."""
    import dataclasses

    from keras_ispan.data.pipeline import make_dataset

    info = dataset_info(data_dir)
    source, holdout = _source(info, config, split)
    settings = pipeline_config(
        config,
        info,
        training=False,
        num_segments=num_segments or config.eval.num_segments,
        crops=crops,
        num_clips=num_clips,
        holdout=holdout,
    )
    if resize_ratio is not None:
        settings = dataclasses.replace(settings, resize_ratio=float(resize_ratio))
    return make_dataset(data_dir, source, settings)


def training_clips(config: TrainConfig, data_dir):
    """The clips trained on (a carved validation holdout excluded) under the evaluation transform:
    `data.num_segments` frames at the segment centres, centre crop, uncached, `(frames, labels)`
    batches. What `train.precise_bn` estimates on and the train-split check of `run()` evaluates."""
    import dataclasses

    from keras_ispan.data.pipeline import make_dataset

    info = dataset_info(data_dir)
    holdout = None
    if validation_split(info, config) == CARVED_SPLIT:
        fraction, seed, _ = carved_holdout(info, config)
        holdout = (fraction, seed, "drop")
    uncached = config.replace(data=dataclasses.replace(config.data, cache=False))
    settings = pipeline_config(
        uncached, info, training=False, num_segments=config.data.num_segments, holdout=holdout
    )
    return make_dataset(data_dir, config.data.train_split, settings)
