"""Training samples planned for a group of clips at once: vectorized TSN indices, reads, crops, targets.

The training pipeline batches clip sources into groups of `R` (the batch size) before any per-clip
work, and `plan_group` decides everything for the group with one op per quantity instead of one per
clip: a single batched context parse, the TSN indices `(R, K)`, the sampled frames' JPEG bytes
`(R, K)` (one broadcast `tf.strings.substr` of the records, or one `tf.numpy_function` reading byte
ranges of the shards through their index files), the crop windows, flips and targets. Each clip then
only decodes its crop windows (`augment.crop_clip`). Per-clip tf.data machinery and small ops
cost about as much as a JPEG decode otherwise (`benchmarks/input_pipeline.py`).

The distributions are TSN's (see `keras_ispan/data/augment.py`): a random frame in each of `K` equal segments;
a crop of `base * scale` pixels per side (`base = min(H, W)`, scale indices at most `max_distort` apart),
at one of the four corners or the centre; a horizontal flip with probability 0.5. The random numbers
come from one stateless seed per group. With `size_per_group` one crop size is drawn for the whole
group (it becomes one batch of one shape, resized by the model).
"""

import tensorflow as tf

from keras_ispan.data.augment import crop_windows, scale_pairs, scale_sides, tsn_random_indices
from keras_ispan.data.clip_reader import CONTEXT_FEATURES, INDEX_FEATURES
from keras_ispan.data.shard_index import read_group

_SHAPE = {
    "height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
}


def parse_group(records, indexed=False):
    """The contexts of `(R,)` serialized clip (or index) records, one batched parse."""
    features = dict(CONTEXT_FEATURES, **_SHAPE, **(INDEX_FEATURES if indexed else {}))
    context, _, _ = tf.io.parse_sequence_example(records, context_features=features)
    return context


def _frame_spans(frame_index, indices):
    """`(offset, length)` `(R, K, 2)` int64 of the sampled frames, from the records' frame indexes."""
    positions = 16 * tf.cast(indices, tf.int64)
    entries = tf.strings.substr(
        frame_index[:, None], positions, tf.fill(tf.shape(positions), tf.constant(16, tf.int64))
    )
    return tf.reshape(
        tf.io.decode_raw(entries, tf.int64, little_endian=True), [-1, positions.shape[1], 2]
    )


def group_frames(records, context, indices, shards=None):
    """The sampled frames' JPEG bytes `(R, K)`.

    From the records themselves (`shards=None`; records without a frame index, format version 1, are
    parsed whole), or, for index records, read from the shard files `shards` `(R,)`.
    """
    if shards is not None:  # index records always hold a frame index
        spans = _frame_spans(context["frame_index"], indices)
        offsets = context["record_offset"][:, None] + spans[..., 0]
        frames = tf.numpy_function(
            read_group, [shards, offsets, spans[..., 1], context["shard_bytes"]], tf.string,
            stateful=False, name="read_group_frame_ranges",
        )  # fmt: skip
        return tf.ensure_shape(frames, indices.shape)

    def by_index():
        spans = _frame_spans(context["frame_index"], indices)
        return tf.strings.substr(records[:, None], spans[..., 0], spans[..., 1])

    def by_parse():
        _, lists, _ = tf.io.parse_sequence_example(
            records, sequence_features={"frames": tf.io.FixedLenSequenceFeature([], tf.string)}
        )
        return tf.gather(lists["frames"], indices, batch_dims=1)

    has_index = tf.reduce_all(tf.strings.length(context["frame_index"]) > 0)
    return tf.cond(has_index, by_index, by_parse)


def _group_times(context, indices):
    """Seconds `(R, K)` of the sampled frames: the stored timestamps (format version 3) of the clips
    that have them, `index / fps` for the others (as `clip_reader.frame_times_at`)."""
    by_index = tf.cast(indices, tf.float32) / tf.maximum(context["fps"], 1e-6)[:, None]
    if "frame_times" not in context:
        return by_index
    times = context["frame_times"]  # sparse (R, T); rows without times are empty
    stored = tf.pad(tf.sparse.to_dense(times), [[0, 0], [0, 1]])  # (R, Tmax + 1): never empty
    count = tf.math.bincount(
        tf.cast(times.indices[:, 0], tf.int32), minlength=tf.shape(indices)[0], dtype=tf.int64
    )[: tf.shape(indices)[0]]
    indices64 = tf.cast(indices, tf.int64)
    picked = tf.gather(stored, tf.minimum(indices64, tf.cast(tf.shape(stored)[1] - 1, tf.int64)),
                       batch_dims=1)  # fmt: skip
    return tf.where((count > tf.reduce_max(indices64, axis=1))[:, None], picked, by_index)


def group_targets(context, indices, num_classes, multi_label, label_source):
    """Targets of the group: int32 `(R,)` class ids, or multi-hot float32 `(R, num_classes)`; as
    `clip_record.clip_target` clip by clip."""
    labels = tf.sparse.to_dense(context["label"], default_value=-1)
    if not multi_label:
        return tf.cast(labels[:, 0], tf.int32)
    hot = tf.reduce_max(tf.one_hot(labels, num_classes, dtype=tf.float32), axis=1)
    if label_source == "video":
        return hot
    actions = tf.sparse.to_dense(context["action_labels"], default_value=-1)
    starts = tf.sparse.to_dense(context["action_starts"])
    ends = tf.sparse.to_dense(context["action_ends"])
    times = _group_times(context, indices)[:, :, None]  # (R, K, 1)
    under = (starts[:, None, :] <= times) & (times <= ends[:, None, :])  # (R, K, A)
    seen = tf.where(tf.reduce_any(under, axis=1), actions, -1)
    timed_hot = tf.reduce_max(tf.one_hot(seen, num_classes, dtype=tf.float32), axis=1)
    timed = tf.reduce_any(actions >= 0, axis=1)[:, None]
    return tf.where(timed, timed_hot, hot)


def plan_group(source, seed, *, num_segments, image_size, scales, max_distort, flip, crop_base,
               num_classes, multi_label, label_source):  # fmt: skip
    """Everything but the pixels for a group of clips, from a stateless `seed` `(2,)`.

    Args:
        source: the group's serialized records `(R,)`, or `(shard paths (R,), index records (R,))`.
        crop_base: None (crops are resized to `image_size`), or the dataset's short side: one crop
            size per group, of frames of that short side, left for the model to resize.

    Returns:
        A dict of `frames` `(R, K)` JPEG bytes, `window` `(R, 4)`, `out_size` `(R, 2)` int32,
        `flip` `(R,)` bool and `target`, for `augment.crop_clip` clip by clip.
    """
    shards, records = source if isinstance(source, tuple) else (None, source)
    context = parse_group(records, indexed=shards is not None)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    frame_index = context["frame_index"]
    num_frames = tf.where(
        tf.strings.length(frame_index) > 0,
        tf.cast(tf.strings.length(frame_index) // 16, tf.int64),
        context["num_frames"],
    )
    indices = tsn_random_indices(num_frames, num_segments, seeds[0])
    frames = group_frames(records, context, indices, shards)
    heights, widths = _frame_shapes(context, frames)
    window, pick = crop_windows(
        heights, widths, scales, max_distort, seeds[1:3], size_per_group=crop_base is not None
    )
    count = tf.shape(records)[0]
    if crop_base is None:
        out_size = tf.fill([count, 2], image_size)
    else:  # the size of the picked scales for frames of the dataset's short side
        nominal = scale_sides(crop_base, scales)  # (scales,)
        pairs = tf.gather(scale_pairs(len(scales), max_distort), pick)  # (R, 2)
        out_size = tf.gather(nominal, pairs)
    if flip:
        flips = tf.random.stateless_uniform([count], seeds[3]) < 0.5
    else:
        flips = tf.zeros([count], tf.bool)
    target = group_targets(context, indices, num_classes, multi_label, label_source)
    return {"frames": frames, "window": window, "out_size": out_size, "flip": flips,
            "target": target}  # fmt: skip


def _frame_shapes(context, frames):
    """Frame heights and widths `(R,)`: the records' `height`/`width` (the stored frames' size, as
    `keras_ispan/data/records.py` writes it), or the first frame's JPEG header for records without them (one
    loop step per clip, slower)."""
    heights, widths = context["height"], context["width"]

    def from_jpeg():
        shapes = tf.map_fn(
            tf.io.extract_jpeg_shape, frames[:, 0], fn_output_signature=tf.TensorSpec([3], tf.int32)
        )
        return tf.cast(shapes[:, 0], tf.int64), tf.cast(shapes[:, 1], tf.int64)

    known = tf.reduce_all((heights > 0) & (widths > 0))
    return tf.cond(known, lambda: (heights, widths), from_jpeg)
