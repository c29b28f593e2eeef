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

Flow (format version 4): with `flow_length = L`, each sampled frame `t` of a clip also gets the flow
stack of steps `min(t + i, S - 1)`, `i < L` (`augment.flow_stack_steps`), read like the frames (their
JPEG entries located by the record's `flow_index`); the clip's crop window and flip are shared by its
frames and its flow stacks.
"""

import tensorflow as tf

from keras_ispan.data.augment import (
    crop_windows,
    flow_stack_steps,
    scale_pairs,
    scale_sides,
    tsn_random_indices,
)
from keras_ispan.data.clip_reader import (
    CONTEXT_FEATURES,
    INDEX_FEATURES,
    batch_targets,
    dense_rows,
    flow_entries,
    flow_step_count,
    frame_count,
    frame_spans,
)
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


def group_frames(records, context, indices, shards=None):
    """The sampled frames' JPEG bytes `(R, K)`.

    From the records themselves (`shards=None`; records without a frame index, format version 1, are
    parsed whole), or, for index records, read from the shard files `shards` `(R,)`.
    """
    if shards is not None:  # index records always hold a frame index
        spans = frame_spans(context["frame_index"], indices)
        offsets = context["record_offset"][:, None] + spans[..., 0]
        frames = tf.numpy_function(
            read_group, [shards, offsets, spans[..., 1], context["shard_bytes"]], tf.string,
            stateful=False, name="read_group_frame_ranges",
        )  # fmt: skip
        return tf.ensure_shape(frames, indices.shape)

    def by_index():
        spans = frame_spans(context["frame_index"], indices)
        return tf.strings.substr(records[:, None], spans[..., 0], spans[..., 1])

    def by_parse():
        _, lists, _ = tf.io.parse_sequence_example(
            records, sequence_features={"frames": tf.io.FixedLenSequenceFeature([], tf.string)}
        )
        return tf.gather(lists["frames"], indices, batch_dims=1)

    has_index = tf.reduce_all(tf.strings.length(context["frame_index"]) > 0)
    return tf.cond(has_index, by_index, by_parse)


def group_flow(records, context, indices, flow_length, shards=None):
    """The flow stacks' JPEG bytes `(R, K, 2 L)` (channel order `[x_1, y_1, ..., x_L, y_L]`) of the
    sampled frames `indices` `(R, K)`, from the records or (index records) the shard files."""
    steps = flow_stack_steps(indices, flow_step_count(context["flow_index"]), flow_length)
    per_clip = indices.shape[1] * 2 * flow_length  # static: K * 2L
    flat = tf.reshape(flow_entries(steps), [-1, per_clip])  # (R, K * 2L)
    spans = frame_spans(context["flow_index"], flat)
    if shards is not None:
        offsets = context["record_offset"][:, None] + spans[..., 0]
        jpegs = tf.numpy_function(
            read_group, [shards, offsets, spans[..., 1], context["shard_bytes"]], tf.string,
            stateful=False, name="read_group_flow_ranges",
        )  # fmt: skip
    else:
        jpegs = tf.strings.substr(records[:, None], spans[..., 0], spans[..., 1])
    jpegs = tf.ensure_shape(jpegs, flat.shape)
    return tf.reshape(jpegs, [-1, indices.shape[1], 2 * flow_length])


def group_targets(context, indices, num_classes, multi_label, label_source):
    """Targets of the group (`clip_reader.batch_targets`) from its batched parse `context`."""
    return batch_targets(dense_rows(context), indices, num_classes, multi_label, label_source)


def plan_group(source, seed, *, num_segments, image_size, scales, max_distort, flip, crop_base,
               num_classes, multi_label, label_source, modality="rgb", flow_length=5):  # fmt: skip
    """Everything but the pixels for a group of clips, from a stateless `seed` `(2,)`.

    Args:
        source: the group's serialized records `(R,)`, or `(shard paths (R,), index records (R,))`.
        crop_base: None (crops are resized to `image_size`), or the dataset's short side: one crop
            size per group, of frames of that short side, left for the model to resize.
        modality: `"rgb"`, `"flow"` or `"two_stream"`: which of the frames and the flow stacks
            (`flow_length` steps each) to read.

    Returns:
        A dict of `frames` `(R, K)` JPEG bytes (not for `"flow"`), `flow` `(R, K, 2L)` JPEG bytes
        (not for `"rgb"`), `window` `(R, 4)`, `out_size` `(R, 2)` int32, `flip` `(R,)` bool and
        `target`, for `augment.crop_clip` and `augment.crop_flow` clip by clip.
    """
    shards, records = source if isinstance(source, tuple) else (None, source)
    context = parse_group(records, indexed=shards is not None)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    num_frames = frame_count(context["frame_index"], context["num_frames"])
    indices = tsn_random_indices(num_frames, num_segments, seeds[0])
    planned = {}
    if modality != "flow":
        planned["frames"] = group_frames(records, context, indices, shards)
    if modality != "rgb":
        planned["flow"] = group_flow(records, context, indices, flow_length, shards)
    first = planned["frames"] if "frames" in planned else planned["flow"][:, :, 0]
    heights, widths = _frame_shapes(context, first)
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
    return {**planned, "window": window, "out_size": out_size, "flip": flips,
            "target": target}  # fmt: skip


def _frame_shapes(context, frames):
    """Frame heights and widths `(R,)`: the records' `height`/`width` (the stored frames' size, as
    `keras_ispan/data/records.py` writes it), or the first frame's JPEG header for records without them (one
    loop step per clip, slower)."""
    heights, widths = context["height"], context["width"]

    def from_jpeg():
        shapes = tf.map_fn(
            lambda jpeg: tf.io.extract_jpeg_shape(jpeg)[:2],
            frames[:, 0],
            fn_output_signature=tf.TensorSpec([2], tf.int32),
        )
        return tf.cast(shapes[:, 0], tf.int64), tf.cast(shapes[:, 1], tf.int64)

    known = tf.reduce_all((heights > 0) & (widths > 0))
    return tf.cond(known, lambda: (heights, widths), from_jpeg)
