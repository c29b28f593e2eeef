"""Reading one serialized clip record (`keras_ispan/data/records.py`) in-graph: context, frames, targets.

`read_clip(serialized)` parses only the context and returns a `ClipFrames` whose `take(indices)` cuts the
sampled frames' JPEG bytes out of the record with `tf.strings.substr` at the offsets of its
`frame_index` (format version 2): nothing else of the record is parsed. Records of format version 1 (no
index) fall back to parsing every frame, inside the same graph (`tf.cond`), so old datasets still read.
`read_indexed_clip(shard_path, index_record)` does the same from a clip's index record
(`keras_ispan/data/shard_index.py`), reading only the sampled frames' bytes from the shard file.
`ClipFrames.from_encoded` wraps an already parsed `(T,)` string tensor the same way.

One implementation per concept, shared with the batched training plan (`batch_plan.py`): a frame's
byte range from the `frame_index` (`frame_spans`, `frame_count`) and a clip's target from its labels
or its timed actions (`batch_targets`; `clip_target` is a batch of one).
"""

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from keras_ispan.data import records

CONTEXT_FEATURES = {  # the context of a clip record that readers parse
    "video_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "label": tf.io.VarLenFeature(tf.int64),
    "num_frames": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "fps": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    "frame_index": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "action_labels": tf.io.VarLenFeature(tf.int64),
    "action_starts": tf.io.VarLenFeature(tf.float32),
    "action_ends": tf.io.VarLenFeature(tf.float32),
    "frame_times": tf.io.VarLenFeature(tf.float32),  # format version 3, optional
    "flow_index": tf.io.FixedLenFeature([], tf.string, default_value=""),  # version 4, optional
}


@dataclasses.dataclass(frozen=True)
class ClipFrames:
    """A clip's frame count and a function from frame indices `(n,)` int32 to JPEG bytes `(n,)`;
    with flow (format version 4), `take_flow` from flow JPEG entries `(n,)` (entry `2 s` is the x
    component of step `s`, `2 s + 1` its y, see `flow_entries`) to their grayscale JPEG bytes."""

    num_frames: tf.Tensor
    take: Callable
    take_flow: Callable | None = None
    num_flow_steps: tf.Tensor | None = None

    @classmethod
    def from_encoded(cls, encoded):
        """From the JPEG bytes of every frame, `(T,)` string."""
        return cls(tf.shape(encoded)[0], lambda indices: tf.gather(encoded, indices))


def parse_clip(serialized):
    """Parses a whole clip record -> `{"frames": (T,) string, "label": (L,) int64, "video_id"}`."""
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={k: CONTEXT_FEATURES[k] for k in ("video_id", "label")},
        sequence_features={"frames": tf.io.FixedLenSequenceFeature([], tf.string)},
    )
    return {
        "frames": sequence["frames"],
        "label": tf.sparse.to_dense(context["label"]),
        "video_id": context["video_id"],
    }


def frame_spans(frame_index, indices):
    """`(offset, length)` int64 `(..., n, 2)` of the frames `indices` `(..., n)` of clips whose
    `frame_index` features `(...)` are given: `records.INDEX_ENTRY_BYTES` bytes a frame, a
    little-endian int64 pair (as `records.encode_frame_index` writes it)."""
    positions = records.INDEX_ENTRY_BYTES * tf.cast(indices, tf.int64)
    sizes = tf.fill(tf.shape(positions), tf.constant(records.INDEX_ENTRY_BYTES, tf.int64))
    entries = tf.strings.substr(tf.expand_dims(frame_index, -1), positions, sizes)
    spans = tf.io.decode_raw(entries, tf.int64, little_endian=True)
    return tf.ensure_shape(spans, indices.shape.concatenate([2]))


def flow_step_count(flow_index):
    """int32 flow steps of clips from their `flow_index` features (two JPEG entries a step; 0 for
    records without flow)."""
    length = tf.strings.length(flow_index) // (2 * records.INDEX_ENTRY_BYTES)
    return tf.cast(length, tf.int32)


def flow_entries(steps):
    """Flow JPEG entries `(..., 2 L)` int32 of flow steps `(..., L)`: `[2 s_1, 2 s_1 + 1, ...]`, the
    channel order `[x_1, y_1, ..., x_L, y_L]` of a flow stack."""
    steps = tf.cast(steps, tf.int32)[..., None] * 2 + tf.constant([0, 1], tf.int32)
    return tf.reshape(steps, tf.concat([tf.shape(steps)[:-2], [-1]], 0))


def frame_count(frame_index, num_frames):
    """int64 frame counts of clips: their `frame_index` entries, or `num_frames` for records without
    an index (format version 1)."""
    indexed = tf.cast(tf.strings.length(frame_index), tf.int64) // records.INDEX_ENTRY_BYTES
    return tf.where(indexed > 0, indexed, tf.cast(num_frames, tf.int64))


def _context(serialized, extra=None):
    """`(context dict, has_index, num_frames)` of a record's context."""
    features = dict(CONTEXT_FEATURES, **(extra or {}))
    context, _ = tf.io.parse_single_sequence_example(serialized, context_features=features)
    has_index = tf.strings.length(context["frame_index"]) > 0
    num_frames = tf.cast(frame_count(context["frame_index"], context["num_frames"]), tf.int32)
    return context, has_index, num_frames


def _info(context):
    lists = ("label", "action_labels", "action_starts", "action_ends", "frame_times")
    dense = {k: tf.sparse.to_dense(context[k]) for k in lists}
    return {"video_id": context["video_id"], "fps": context["fps"], **dense}


def read_clip(serialized):
    """Context-only parse of a clip record -> `(ClipFrames, context dict)`.

    The context holds `video_id`, `label` `(L,)` int64, `fps` float32, the timed actions
    `action_labels` `(A,)` int64, `action_starts`, `action_ends` `(A,)` float32 (empty without them)
    and `frame_times` `(T,)` float32 (the frames' timestamps, format version 3; empty without them).
    """
    context, has_index, num_frames = _context(serialized)

    def take(indices):
        def by_index():
            spans = frame_spans(context["frame_index"], indices)
            return tf.strings.substr(serialized, spans[:, 0], spans[:, 1])

        def by_parse():  # format version 1: no index
            return tf.gather(parse_clip(serialized)["frames"], indices)

        return tf.cond(has_index, by_index, by_parse)

    def take_flow(entries):  # flow is only in format version 4, always indexed
        spans = frame_spans(context["flow_index"], entries)
        return tf.strings.substr(serialized, spans[:, 0], spans[:, 1])

    steps = flow_step_count(context["flow_index"])
    return ClipFrames(num_frames, take, take_flow, steps), _info(context)


INDEX_FEATURES = {  # what an index record adds (`keras_ispan/data/shard_index.py`)
    "record_offset": tf.io.FixedLenFeature([], tf.int64),
    "shard_bytes": tf.io.FixedLenFeature([], tf.int64),
}


def read_indexed_clip(shard_path, index_record):
    """A clip from its index record (`keras_ispan/data/shard_index.py`) -> `(ClipFrames, context dict)`.

    `take(indices)` reads only those frames' JPEG bytes from the shard at `shard_path` (`(n,)` byte
    ranges, through `tf.numpy_function`); the context dict is `read_clip`'s.
    """
    from keras_ispan.data.shard_index import read_ranges

    context, _, num_frames = _context(index_record, INDEX_FEATURES)

    def reader(key):
        def take(indices):
            spans = frame_spans(context[key], indices)
            frames = tf.numpy_function(
                read_ranges,
                [shard_path, context["record_offset"] + spans[:, 0], spans[:, 1],
                 context["shard_bytes"]],
                tf.string,
                stateful=False,
                name="read_frame_ranges",
            )  # fmt: skip
            return tf.ensure_shape(frames, indices.shape)

        return take

    steps = flow_step_count(context["flow_index"])
    frames = ClipFrames(num_frames, reader("frame_index"), reader("flow_index"), steps)
    return frames, _info(context)


def batch_targets(info, indices, num_classes, multi_label, label_source="video"):
    """The training/evaluation targets of `R` clips: int32 `(R,)` class ids, or multi-hot float32
    `(R, num_classes)` for multi-label.

    `info` holds the clips' contexts as dense rows: `label` `(R, L)` and `action_labels` `(R, A)`
    int64 padded with -1, `action_starts`, `action_ends` `(R, A)`, `fps` `(R,)`, `frame_times`
    `(R, T)` of which the first `frame_count` `(R,)` are a clip's own (`dense_rows` makes them).
    `label_source="video"`: the records' labels (every action of the video). `"frames"` (multi-label
    datasets with timed actions, such as Charades): the actions under the sampled frames `indices`
    `(R, K)`; a clip without timed actions keeps its video labels. `PipelineConfig` validates
    `label_source`.
    """
    labels = info["label"]
    if not multi_label:
        return tf.cast(labels[:, 0], tf.int32)
    hot = _multi_hot(labels, num_classes)
    if label_source == "video":
        return hot
    actions = info["action_labels"]
    seen = tf.where(_actions_under(info, indices), actions, -1)
    timed = tf.reduce_any(actions >= 0, axis=1)[:, None]
    return tf.where(timed, _multi_hot(seen, num_classes), hot)


def clip_target(info, indices, num_classes, multi_label, label_source="video"):
    """`batch_targets` of one clip from its context `info` (see `read_clip`) and the indices of its
    sampled frames (any shape)."""
    indices = tf.reshape(indices, [1, -1])
    return batch_targets(_one_row(info), indices, num_classes, multi_label, label_source)[0]


def actions_at(info, indices):
    """Labels `(n,)` int64 of the timed actions of one clip (`read_clip`'s `info`) under any of its
    sampled frames `indices` (any shape).

    An action is under frame `i` when `start <= t_i <= end` (seconds), `t_i` the frame's stored
    timestamp, or `i / fps` for records without timestamps (`frame_times_at`).
    """
    under = _actions_under(_one_row(info), tf.reshape(indices, [1, -1]))[0]
    return tf.boolean_mask(info["action_labels"], under)


def frame_times_at(info, indices):
    """Times (seconds) `(R, K)` of the frames `indices` `(R, K)` of clips (`batch_targets`'s `info`):
    a clip's stored timestamps when it has them (format version 3), else `index / fps` (older
    records)."""
    by_index = tf.cast(indices, tf.float32) / tf.maximum(info["fps"], 1e-6)[:, None]
    stored = tf.pad(info["frame_times"], [[0, 0], [0, 1]])  # (R, T + 1): never empty
    indices64 = tf.cast(indices, tf.int64)
    last = tf.cast(tf.shape(stored)[1] - 1, tf.int64)
    picked = tf.gather(stored, tf.minimum(indices64, last), batch_dims=1)
    has_times = tf.cast(info["frame_count"], tf.int64) > tf.reduce_max(indices64, axis=1)
    return tf.where(has_times[:, None], picked, by_index)


def _actions_under(info, indices):
    """`(R, A)` bool: whether each timed action is under any of the clip's sampled frames."""
    times = frame_times_at(info, indices)[:, :, None]  # (R, K, 1)
    starts, ends = info["action_starts"][:, None, :], info["action_ends"][:, None, :]
    return tf.reduce_any((starts <= times) & (times <= ends), axis=1)


def _multi_hot(labels, num_classes):
    """`(R, L)` int64 labels (-1: none) -> `(R, num_classes)` float32 multi-hot."""
    hot = tf.reduce_sum(tf.one_hot(labels, num_classes, dtype=tf.float32), axis=1)
    return tf.minimum(hot, 1.0)


def _one_row(info):
    """`read_clip`'s context of one clip as `batch_targets`'s rows of a batch of one."""
    times = info.get("frame_times", tf.zeros([0]))
    keys = ("label", "action_labels", "action_starts", "action_ends", "fps")
    return {**{k: info[k][None] for k in keys}, "frame_times": times[None],
            "frame_count": tf.size(times)[None]}  # fmt: skip


def dense_rows(context):
    """A batched parse's context (`batch_plan.parse_group`) as `batch_targets`'s dense rows."""
    lists = ("action_starts", "action_ends")
    rows = {k: tf.sparse.to_dense(context[k], default_value=-1) for k in ("label", "action_labels")}
    rows.update({k: tf.sparse.to_dense(context[k]) for k in lists}, fps=context["fps"])
    count = tf.shape(context["fps"])[0]
    times = context.get("frame_times")
    if times is None:
        times = tf.SparseTensor(tf.zeros([0, 2], tf.int64), tf.zeros([0]), [count, 0])
    rows["frame_times"] = tf.sparse.to_dense(times)
    rows["frame_count"] = tf.math.bincount(
        tf.cast(times.indices[:, 0], tf.int32), minlength=count, dtype=tf.int64
    )[:count]
    return rows
