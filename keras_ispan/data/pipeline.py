"""The tf.data input pipeline over the dataset format of `keras_ispan/data/records.py`.

`make_dataset(data_dir, split, config)` yields `(inputs, labels)`:
- inputs by `config.modality`: `"rgb"`: frames uint8 `(batch, K, S, S, 3)`; `"flow"`: flow stacks
  uint8 `(batch, K, S, S, 2L)` (`L = flow_length` steps from each sampled frame, channels
  `[x_1, y_1, ..., x_L, y_L]`, quantised as `keras_ispan.io.flow` says; datasets with flow only);
  `"two_stream"`: `{"rgb": frames, "flow": flow stacks}`, the frames and stacks of one clip sharing
  its sampled frames, crop window and flip (a flip negates x-flow: `q -> 255 - q`). With multi-view
  evaluation (`num_clips * crops > 1`) each gets a views axis, `(batch, views, K, S, S, C)`, views
  clip-major (`view = clip * crops + crop`), the same views for both streams;
- labels int32 `(batch,)`, or multi-hot float32 `(batch, num_classes)` for multi-label datasets.

Stages: shard files (shuffled for training) -> parallel interleave of the shards' index files
(`reader="index"`: a few kilobytes per clip, `keras_ispan/data/shard_index.py`) or of the whole records
(`reader="records"`, unbuffered local reads) -> optional `cache` of what was read -> shuffle (training).
Training then batches the clip sources and plans each batch at once (`keras_ispan/data/batch_plan.py`: one
batched context parse, the TSN indices, the sampled frames' JPEG bytes read from the shards at the
index's offsets or cut out of the records at their `frame_index`, crop windows, flips, targets), and
decodes each clip's crop windows in the same function. Evaluation works clip by clip in one parallel
map (context, segment centres, the sampled frames, centre or multi crops, target) -> batch. Then the
optional tf.data service -> prefetch. With `resize="model"` the training crops keep a crop size drawn
once per batch, unflipped: the model resizes and flips them on the accelerator
(`keras_ispan.models.with_frame_resize`). Randomness is stateless, one seed per batch from
`Dataset.random`, so a fixed `seed` gives the same stream whatever the parallelism; evaluation has no
randomness at all. `holdout` keeps or drops the clips whose hashed `video_id` falls in a fixed share
(a validation split carved from `train`, the same clips every run). Normalisation lives in the model: frames stay uint8 in [0, 255].

Performance: `python benchmarks/input_pipeline.py --repeats 3` measures every configuration against
decoding the K sampled JPEGs alone; the figures are in README.md ("Measured") and docs/data.md.
"""

import dataclasses
import functools
import json
import pathlib

import tensorflow as tf

from keras_ispan.data import augment
from keras_ispan.data import shard_index as clip_index
from keras_ispan.data.batch_plan import plan_group
from keras_ispan.data.clip_reader import clip_target, read_clip, read_indexed_clip
from keras_ispan.data.records import (
    LABEL_SOURCES,
    MODALITIES,
    READERS,
    RESIZE_IN,
    SPLITS,
    shard_pattern,
)
from keras_ispan.io.frames_tf import DEFAULT_RESIZE_RATIO

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

    @property
    def flow(self):
        """`metadata.json`'s `flow` entry (method, bound, JPEG quality), or None without flow."""
        return self.metadata.get("flow")


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
        reader: `"index"` reads each clip's context from the shard's index file and only its K
            sampled frames from the shard (`keras_ispan/data/shard_index.py`); `"records"` reads whole
            records; `"auto"` takes `"index"` when every shard of the split has a current index, the
            files are local and there is no `data_service` (index reads run Python code, which the
            tf.data service cannot ship to its workers).
        resize: where the pixel work on training crops runs: `"pipeline"` (resize to `S`, flip), or
            `"model"`: one crop size is drawn per batch, frames are `(batch, K, crop_h, crop_w, 3)`,
            neither resized nor flipped, and the model does both on the accelerator
            (`keras_ispan.models.with_frame_resize(model, flip=True)`); needs `flip=False` here.
            Evaluation always yields `S x S`.
        holdout: None, or `(fraction, seed, "keep" | "drop")`: a clip is held out when a stable
            hash of its `video_id` and `seed` (`holdout_mask`) falls below `fraction`; `"keep"`
            yields only the held-out clips, `"drop"` only the others. The same clips every run, on
            every machine; `"keep"` and `"drop"` of one split are disjoint and together the split
            (a validation split carved from `train`, see `training/engine/datasets.py`).
        modality: `"rgb"` (frames), `"flow"` (flow stacks) or `"two_stream"` (both, a dict); flow
            needs a dataset with flow (`prepare.py --flow`, or `--add-flow DIR` afterwards).
        flow_length: `L`, flow steps stacked per sampled frame (`2L` channels), TSN's 5.
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
    reader: str = "auto"
    resize: str = "pipeline"
    holdout: tuple | None = None
    modality: str = "rgb"
    flow_length: int = 5

    def __post_init__(self):
        _check_holdout(self.holdout)
        _positive("flow_length", self.flow_length)
        if self.modality not in MODALITIES:
            raise ValueError(
                f"`modality` must be one of {MODALITIES}. Received: modality={self.modality!r}"
            )
        if self.modality != "rgb" and self.resize == "model":
            raise ValueError(
                "resize='model' resizes RGB frames in the model; flow stacks are resized in the "
                f"pipeline: use resize='pipeline'. Received: resize='model', modality={self.modality!r}"
            )
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
        for name, allowed in (("reader", READERS), ("resize", RESIZE_IN)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"`{name}` must be one of {allowed}. Received: {name}={getattr(self, name)!r}"
                )
        if self.resize == "model" and self.flip and self.training:
            raise ValueError(
                "With resize='model' the model flips the clips (`with_frame_resize(model, "
                "flip=True)`): set flip=False for the pipeline. Received: resize='model', flip=True"
            )
        if self.reader == "index" and self.data_service:
            raise ValueError(
                "reader='index' cannot run through the tf.data service (its workers cannot run the "
                "Python range reads); use reader='records' or 'auto'. "
                f"Received: reader='index', data_service={self.data_service!r}"
            )
        if self.data_service is not None and not isinstance(self.data_service, str):
            raise ValueError(f"`data_service` must be an address. Received: {self.data_service!r}")

    @property
    def num_views(self):
        return 1 if self.training else self.num_clips * self.crops


HOLDOUT_MODES = ("keep", "drop")
_HOLDOUT_BUCKETS = 1_000_000


def _check_holdout(holdout):
    if holdout is None:
        return
    ok = isinstance(holdout, tuple | list) and len(holdout) == 3
    if ok:
        fraction, seed, mode = holdout
        ok = 0 < fraction < 1 and isinstance(seed, int) and mode in HOLDOUT_MODES
    if not ok:
        raise ValueError(
            "`holdout` must be None or (fraction in (0, 1), int seed, 'keep' or 'drop'). "
            f"Received: holdout={holdout!r}"
        )


def holdout_bucket(video_id, seed):
    """The holdout bucket of a clip, in `[0, 1e6)`: the FarmHash fingerprint of `"seed/video_id"`
    (stable across runs, processes and machines). `video_id`: a string tensor."""
    key = tf.strings.join([tf.strings.as_string(tf.constant(seed, tf.int64)), "/", video_id])
    return tf.strings.to_hash_bucket_fast(key, _HOLDOUT_BUCKETS)


def holdout_mask(video_id, fraction, seed):
    """True where a clip is held out: its `holdout_bucket` below `fraction` of the range."""
    return holdout_bucket(video_id, seed) < int(round(fraction * _HOLDOUT_BUCKETS))


def holdout_fraction(buckets, count):
    """The smallest `fraction` that holds out exactly the `count` clips of lowest bucket (`buckets`:
    every clip's `holdout_bucket`), so that a carved split has the size asked for, not what the
    hash happens to give on a small dataset."""
    ordered = sorted(int(b) for b in buckets)
    return (ordered[count - 1] + 1) / _HOLDOUT_BUCKETS


def _holdout_filter(holdout):
    """The `Dataset.filter` predicate of a clip source (a record, or `(shard, index record)`)."""
    fraction, seed, mode = holdout
    features = {"video_id": tf.io.FixedLenFeature([], tf.string, default_value="")}

    def predicate(*source):
        context, _ = tf.io.parse_single_sequence_example(source[-1], context_features=features)
        held = holdout_mask(context["video_id"], fraction, seed)
        return held if mode == "keep" else tf.logical_not(held)

    return predicate


def clip_buckets(data_dir, split, config, seed):
    """Every clip's `holdout_bucket` in `split` (contexts only, from the index files when current)."""
    info = read_dataset_info(data_dir)
    files = _split_files(info, split)
    ds, read_file, _ = _read_clips(info, split, files, config)
    features = {"video_id": tf.io.FixedLenFeature([], tf.string, default_value="")}

    def bucket(*source):
        context, _ = tf.io.parse_single_sequence_example(source[-1], context_features=features)
        return holdout_bucket(context["video_id"], seed)

    ds = ds.interleave(read_file, num_parallel_calls=AUTOTUNE).map(bucket)
    return [int(b) for b in ds.as_numpy_iterator()]


def count_clips(data_dir, split, config):
    """The number of clips `make_dataset(data_dir, split, config)` yields (with `config.holdout`,
    those kept): contexts only, from the index files when they are current."""
    info = read_dataset_info(data_dir)
    files = _split_files(info, split)
    ds, read_file, _ = _read_clips(info, split, files, config)
    ds = ds.interleave(read_file, num_parallel_calls=AUTOTUNE)
    if config.holdout is not None:
        ds = ds.filter(_holdout_filter(config.holdout))
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, *_: n + 1))


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


def _choose_reader(info, split, files, config):
    """`"index"` or `"records"` for `config.reader` (see `PipelineConfig`)."""
    stale = [f for f in files if not clip_index.is_current(f)]
    if config.reader == "index" and stale:
        raise ValueError(
            f"reader='index' but {len(stale)} {split} shard(s) of {info.path} have no current index "
            f"file (first: {stale[0]}); write them with `python training/reindex.py {info.path}`. "
            "Received: reader='index'"
        )
    if config.reader == "auto":
        local = "://" not in str(info.path)
        return "index" if not stale and local and not config.data_service else "records"
    return config.reader


def check_flow(info, config):
    """Raises a `ValueError` naming the folder and the command that adds flow when `config` asks for
    flow (`modality` `"flow"` or `"two_stream"`) of a dataset without it."""
    if config.modality == "rgb" or info.flow:
        return
    version = info.metadata.get("format_version", "unknown")
    raise ValueError(
        f"modality={config.modality!r} needs optical flow, but the dataset {info.path} has none "
        f"(format version {version}); add it with `python training/prepare.py --add-flow "
        f"{info.path}` (or convert the videos with `prepare.py --flow`). "
        f"Received: modality={config.modality!r}"
    )


def _crop_base(info):
    """The short side of a dataset's frames (`resize="model"` draws crop sizes from it)."""
    meta = info.metadata
    base = (meta.get("settings") or {}).get("short_side") or (
        meta.get("synthetic_config") or {}
    ).get("image_size")
    if not base:
        raise ValueError(
            f"resize='model' needs frames of one short side, but {info.path}/metadata.json records "
            "none (converted with --short-side 0?); use resize='pipeline'. Received: resize='model'"
        )
    return int(base)


def _read_clips(info, split, files, config):
    """`(files dataset, read_file, open_clip)`: `read_file(file)` is the dataset of a file's clip
    sources (a record, or `(shard path, index record)`); `open_clip(*source)` returns
    `(ClipFrames, context dict)`."""
    reader = _choose_reader(info, split, files, config)
    if reader == "index":
        ds = tf.data.Dataset.from_tensor_slices([str(clip_index.index_path(f)) for f in files])
        suffix = clip_index.INDEX_SUFFIX.replace(".", r"\.") + "$"

        def records_of(index_file):  # (shard path, index record) per clip
            shard = tf.strings.regex_replace(index_file, suffix, ".tfrecord")

            def with_shard(record):
                return shard, record

            return tf.data.TFRecordDataset(index_file).map(with_shard)

        return ds, records_of, read_indexed_clip
    ds = tf.data.Dataset.from_tensor_slices(files)
    # local files (the OS caches them) are read without TFRecordDataset's own buffer: one copy less of
    # each multi-MB record (about a fifth of the read's CPU time); remote file systems keep the buffer
    buffer_size = None if "://" in str(info.path) else 0
    return ds, (lambda f: tf.data.TFRecordDataset(f, buffer_size=buffer_size)), read_clip


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
    labels = _resolve(info, config)
    check_flow(info, config)
    files = _split_files(info, split)
    deterministic = not config.training or config.seed is not None
    ds, read_file, open_clip = _read_clips(info, split, files, config)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if config.training:
        ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        read_file,
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    if config.cache:  # the serialized records (or index records): parsed again from the cache
        ds = ds.cache("" if config.cache is True else str(config.cache))
    if config.holdout is not None:  # after the cache: one cache serves both sides of a holdout
        ds = ds.filter(_holdout_filter(config.holdout))
    batch = config.batch_size
    if input_context is not None:
        batch = input_context.get_per_replica_batch_size(batch)
    if config.training:
        ds = _training_batches(ds, info, config, labels, batch, deterministic)
    else:
        ds = _evaluation_batches(ds, open_clip, config, labels, batch)
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


def _training_batches(ds, info, config, labels, batch, deterministic):
    """Shuffled clip sources -> batches planned at once (`train_group.plan_group`: one op per
    quantity for the whole batch), then each clip decodes its crop windows; with resize="model" one
    crop size per batch."""
    num_classes, multi_label = labels
    k, s = config.num_segments, config.image_size
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
    if config.repeat:
        ds = ds.repeat()
    ds = ds.batch(batch, drop_remainder=config.drop_remainder)
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)
    plan = functools.partial(
        plan_group, num_segments=k, image_size=s, scales=config.scales,
        max_distort=config.max_distort, flip=config.flip,
        crop_base=_crop_base(info) if config.resize == "model" else None,
        num_classes=num_classes, multi_label=multi_label, label_source=config.label_source,
        modality=config.modality, flow_length=config.flow_length,
    )  # fmt: skip
    out_shape = [k, s, s, 3] if config.resize == "pipeline" else [k, None, None, 3]

    def train_batch(sources, seed):
        group = plan(sources, seed)
        placement = (group["window"], group["out_size"], group["flip"])
        out = {}
        if "frames" in group:
            out["rgb"] = tf.map_fn(
                lambda clip: augment.crop_clip(*clip, dct_method=config.dct_method),
                (group["frames"], *placement),
                fn_output_signature=tf.TensorSpec(out_shape, tf.uint8),
            )
        if "flow" in group:
            out["flow"] = tf.map_fn(
                lambda clip: augment.crop_flow(*clip, dct_method=config.dct_method),
                (group["flow"], *placement),
                fn_output_signature=tf.TensorSpec([k, s, s, 2 * config.flow_length], tf.uint8),
            )
        return _inputs(out, config.modality), group["target"]

    return tf.data.Dataset.zip((ds, seeds)).map(
        train_batch, num_parallel_calls=AUTOTUNE, deterministic=deterministic
    )


def _evaluation_batches(ds, open_clip, config, labels, batch):
    """Clip by clip in one parallel map: context, segment centres, the sampled frames, centre or
    multi crops, target -> batch."""
    num_classes, multi_label = labels
    k, s, views = config.num_segments, config.image_size, config.num_views
    if config.repeat:
        ds = ds.repeat()

    def transform(*source):
        clip, info = open_clip(*source)
        indices = augment.tsn_clip_indices(clip.num_frames, k, config.num_clips)
        out = {}
        if config.modality != "flow":
            out["rgb"] = augment.eval_clip(
                clip, k, s, num_clips=config.num_clips, crops=config.crops,
                resize_ratio=config.resize_ratio, dct_method=config.dct_method,
            )  # fmt: skip
        if config.modality != "rgb":
            out["flow"] = augment.eval_flow(
                clip, indices, config.flow_length, s, crops=config.crops,
                resize_ratio=config.resize_ratio, dct_method=config.dct_method,
            )  # fmt: skip
        if views == 1:
            out = {key: value[0] for key, value in out.items()}
        target = clip_target(info, indices, num_classes, multi_label, config.label_source)
        return _inputs(out, config.modality), target

    ds = ds.map(transform, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch, drop_remainder=config.drop_remainder, num_parallel_calls=AUTOTUNE)


def _inputs(streams, modality):
    """A batch's model inputs from `{"rgb": ..., "flow": ...}`: the tensor of a one-stream
    modality, the dict for `"two_stream"`."""
    return streams if modality == "two_stream" else streams["rgb" if modality == "rgb" else "flow"]
