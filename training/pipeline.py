"""The tf.data input pipeline over the dataset format of `training/records.py`.

`make_dataset(data_dir, split, config)` yields `(frames, labels)`:
- frames uint8 `(batch, K, S, S, 3)`; with multi-view evaluation (`num_clips * crops > 1`)
  `(batch, views, K, S, S, 3)`, views clip-major (`view = clip * crops + crop`);
- labels int32 `(batch,)`, or multi-hot float32 `(batch, num_classes)` for multi-label datasets.

Stages: shard files (shuffled for training) -> parallel interleave of unbuffered local TFRecord reads
-> optional `cache` of the serialized records -> shuffle (training) -> per clip, in one parallel map:
parse the record's context only, TSN sampling, cut the sampled frames' JPEG bytes out of the record at
the offsets of its `frame_index` (`training/clip_record.py`; older records without one are parsed
whole), decode of those frames only, augmentation (training) or centre/multi crops (evaluation),
the target (`label_source`) -> batch -> optional tf.data service -> prefetch. Randomness is stateless,
seeded per clip from `Dataset.random`, so a fixed `seed` gives the same stream whatever the
parallelism; evaluation has no randomness at all. Normalisation lives in the model: frames stay uint8
in [0, 255].

Performance (`python benchmarks/input_pipeline.py --repeats 3`, 2 shared CPU cores, K=8, 224 crops of
256p frames, CPU ms per clip, bound = decoding the K JPEGs = 2.8 ms): reading a whole record (~4 MB
for 300 frames) + the context parse + cutting out K frames costs 2.1 ms (2.6 ms with a parse of every
frame, as before the frame index); the training transform alone on the K JPEGs in memory (crop-window
decode + bilinear resize + flip) costs 5.3 ms, of which the resize ~1.4 ms (no TensorFlow resize is
cheaper at every crop size: `benchmarks/resize_and_reads.py`): that transform caps any pipeline doing
this augmentation on the CPU at ~0.54 of the bound. Measured: 0.37 CPU (0.31 wall) uncached, 0.53 with
`cache=True`, 0.50 for a dataset converted with `--fps 8`.
"""

import dataclasses
import json
import pathlib

import tensorflow as tf

from keras_ispan.io.frames_tf import DEFAULT_RESIZE_RATIO
from training import augment
from training.clip_record import clip_target, read_clip
from training.records import LABEL_SOURCES, SPLITS, shard_pattern

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What `read_dataset_info` finds in a dataset folder."""

    path: pathlib.Path
    classes: tuple
    multi_label: bool
    counts: dict
    num_shards: dict
    metadata: dict

    @property
    def num_classes(self):
        return len(self.classes)


def read_dataset_info(data_dir):
    """Reads `labels.txt` and `metadata.json` of a dataset folder; errors name the folder."""
    path = pathlib.Path(data_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"Dataset folder not found: {path}")
    labels, meta = path / "labels.txt", path / "metadata.json"
    missing = [p.name for p in (labels, meta) if not p.is_file()]
    if missing:
        raise ValueError(
            f"{path} is not a keras-ispan dataset: missing {', '.join(missing)}. Create one with "
            "`python training/prepare.py` or `python training/synthetic.py --output DIR`."
        )
    classes = tuple(line.strip() for line in labels.read_text().splitlines() if line.strip())
    try:
        metadata = json.loads(meta.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{meta} is not valid JSON: {e}") from e
    if not classes:
        raise ValueError(f"{labels} lists no class.")
    if list(metadata.get("classes", classes)) != list(classes):
        raise ValueError(f"{labels} and {meta} disagree on the classes.")
    return DatasetInfo(
        path=path,
        classes=classes,
        multi_label=bool(metadata.get("multi_label", False)),
        counts=dict(metadata.get("counts", {})),
        num_shards=dict(metadata.get("num_shards", {})),
        metadata=metadata,
    )


def _positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Input pipeline settings.

    Attributes:
        num_segments: `K` frames sampled per clip (TSN segments).
        image_size: `S`, the square crop side.
        batch_size: clips per global batch (divided by the replicas when `make_dataset` gets an
            `input_context`).
        training: random TSN sampling + augmentation and shuffling, else deterministic evaluation.
        multi_label, num_classes: None takes them from the dataset's metadata; a value must agree.
        crops: evaluation crops per clip, 1 (centre), 3 or 10 (see `eval_crops`).
        num_clips: evaluation temporal views per clip.
        cache: False, True (memory) or a file path prefix; caches the serialized records (before
            shuffling, sampling and augmentation).
        shuffle_buffer: clips in the shuffle buffer (training).
        seed: None, or an int that makes the training stream reproducible (order included).
        scales, max_distort, flip: TSN multi-scale crop and horizontal flip (training).
        resize_ratio: evaluation short side / `S` before the centre crop.
        data_service: None, or a tf.data service dispatcher address (`"grpc://host:port"`).
        drop_remainder: drop the last incomplete batch. repeat: repeat forever (after shuffling).
        dct_method: `tf.io.decode_jpeg` DCT method (`""` default, `"INTEGER_FAST"`).
        label_source: `"video"` (the record's labels) or `"frames"` (multi-label datasets with timed
            actions: the actions under the sampled frames, see `clip_record.clip_target`).
    """

    num_segments: int = 8
    image_size: int = 112
    batch_size: int = 8
    training: bool = True
    multi_label: bool | None = None
    num_classes: int | None = None
    crops: int = 1
    num_clips: int = 1
    cache: bool | str = False
    shuffle_buffer: int = 512
    seed: int | None = None
    scales: tuple = (1.0, 0.875, 0.75, 0.66)
    max_distort: int = 1
    flip: bool = True
    resize_ratio: float = DEFAULT_RESIZE_RATIO
    data_service: str | None = None
    drop_remainder: bool = False
    repeat: bool = False
    dct_method: str = ""
    label_source: str = "video"

    def __post_init__(self):
        for name in ("num_segments", "image_size", "batch_size", "num_clips", "shuffle_buffer"):
            _positive(name, getattr(self, name))
        if self.num_classes is not None:
            _positive("num_classes", self.num_classes)
        if self.crops not in (1, 3, 10):
            raise ValueError(f"`crops` must be 1, 3 or 10. Received: crops={self.crops!r}")
        if self.training and (self.crops != 1 or self.num_clips != 1):
            raise ValueError(
                "Multi-view (`crops`, `num_clips`) is for evaluation only. "
                f"Received: crops={self.crops}, num_clips={self.num_clips}, training=True"
            )
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        if not self.scales or not all(0.0 < s <= 1.0 for s in self.scales):
            raise ValueError(f"`scales` must be values in (0, 1]. Received: scales={self.scales}")
        if not isinstance(self.max_distort, int) or self.max_distort < 0:
            raise ValueError(
                f"`max_distort` must be >= 0. Received: max_distort={self.max_distort}"
            )
        if not self.resize_ratio >= 1.0:
            raise ValueError(
                f"`resize_ratio` must be >= 1. Received: resize_ratio={self.resize_ratio}"
            )
        if self.label_source not in LABEL_SOURCES:
            raise ValueError(
                f"`label_source` must be one of {LABEL_SOURCES}. "
                f"Received: label_source={self.label_source!r}"
            )
        if self.data_service is not None and not isinstance(self.data_service, str):
            raise ValueError(f"`data_service` must be an address. Received: {self.data_service!r}")

    @property
    def num_views(self):
        return 1 if self.training else self.num_clips * self.crops


def _split_files(info, split):
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    files = sorted(str(p) for p in info.path.glob(shard_pattern(split)))
    if not files:
        raise ValueError(
            f"No {split} shards ({split}-*-of-*.tfrecord) in dataset folder {info.path}"
        )
    return files


def _resolve(info, config):
    multi_label = info.multi_label if config.multi_label is None else config.multi_label
    num_classes = info.num_classes if config.num_classes is None else config.num_classes
    if multi_label != info.multi_label or num_classes != info.num_classes:
        raise ValueError(
            f"PipelineConfig disagrees with dataset {info.path} ({info.num_classes} classes, "
            f"multi_label={info.multi_label}). Received: num_classes={config.num_classes}, "
            f"multi_label={config.multi_label}"
        )
    if config.label_source == "frames" and not multi_label:
        raise ValueError(
            f"label_source='frames' needs a multi-label dataset with timed actions; {info.path} is "
            "single-label. Received: label_source='frames'"
        )
    return num_classes, multi_label


def make_dataset(data_dir, split, config, *, input_context=None):
    """The `tf.data.Dataset` of `(frames, labels)` batches for `split` (see module docstring).

    Args:
        data_dir: a dataset folder (`training/prepare.py` or `training/synthetic.py` output).
        split: `"train"`, `"val"` or `"test"`.
        config: a `PipelineConfig`.
        input_context: an optional `tf.distribute.InputContext`: shards are split across input
            pipelines by file; otherwise tf.data auto-sharding (`AUTO`) applies under a strategy.
    """
    info = read_dataset_info(data_dir)
    num_classes, multi_label = _resolve(info, config)
    files = _split_files(info, split)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    deterministic = not config.training or config.seed is not None
    if config.training:
        ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    # local files (the OS caches them) are read without TFRecordDataset's own buffer: one copy less of
    # each multi-MB record (about a fifth of the read's CPU time); remote file systems keep the buffer
    buffer_size = None if "://" in str(info.path) else 0
    ds = ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, buffer_size=buffer_size),
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )

    if config.cache:  # the serialized records: reading a cached clip parses only its context
        ds = ds.cache("" if config.cache is True else str(config.cache))
    k, s = config.num_segments, config.image_size

    def target(info, indices):
        return clip_target(info, indices, num_classes, multi_label, config.label_source)

    if config.training:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
        if config.repeat:
            ds = ds.repeat()
        seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))
        kw = dict(scales=config.scales, max_distort=config.max_distort, flip=config.flip)

        def transform(serialized, seed):
            clip, info = read_clip(serialized)
            frames, indices = augment.train_clip(
                clip, k, s, seed, dct_method=config.dct_method, return_indices=True, **kw
            )
            return frames, target(info, indices)

        ds = ds.map(transform, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    else:
        if config.repeat:
            ds = ds.repeat()
        views = config.num_views

        def transform(serialized):
            clip, info = read_clip(serialized)
            frames, indices = augment.eval_clip(
                clip, k, s, num_clips=config.num_clips, crops=config.crops,
                resize_ratio=config.resize_ratio, dct_method=config.dct_method,
                return_indices=True,
            )  # fmt: skip
            return (frames[0] if views == 1 else frames), target(info, indices)

        ds = ds.map(transform, num_parallel_calls=AUTOTUNE)
    batch = config.batch_size
    if input_context is not None:
        batch = input_context.get_per_replica_batch_size(batch)
    ds = ds.batch(batch, drop_remainder=config.drop_remainder, num_parallel_calls=AUTOTUNE)
    if config.data_service:
        ds = ds.apply(
            tf.data.experimental.service.distribute(
                processing_mode="parallel_epochs", service=config.data_service
            )
        )
    options = tf.data.Options()
    options.deterministic = deterministic
    if input_context is not None:
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(AUTOTUNE)
