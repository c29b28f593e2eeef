"""Reading one serialized clip record (`keras_ispan/data/records.py`) in-graph: context, frames, targets.

`read_clip(serialized)` parses only the context and returns a `ClipFrames` whose `take(indices)` cuts the
sampled frames' JPEG bytes out of the record with `tf.strings.substr` at the offsets of its
`frame_index` (format version 2): nothing else of the record is parsed. Records of format version 1 (no
index) fall back to parsing every frame, inside the same graph (`tf.cond`), so old datasets still read.
`read_indexed_clip(shard_path, index_record)` does the same from a clip's index record
(`keras_ispan/data/shard_index.py`), reading only the sampled frames' bytes from the shard file.
`ClipFrames.from_encoded` wraps an already parsed `(T,)` string tensor the same way.
"""

import dataclasses
from collections.abc import Callable

import tensorflow as tf

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
}


@dataclasses.dataclass(frozen=True)
class ClipFrames:
    """A clip's frame count and a function from frame indices `(n,)` int32 to JPEG bytes `(n,)`."""

    num_frames: tf.Tensor
    take: Callable

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


def _context(serialized, extra=None):
    """`(context dict, frame index (T, 2) int64, has_index, num_frames)` of a record's context."""
    features = dict(CONTEXT_FEATURES, **(extra or {}))
    context, _ = tf.io.parse_single_sequence_example(serialized, context_features=features)
    index = tf.reshape(
        tf.io.decode_raw(context["frame_index"], tf.int64, little_endian=True), [-1, 2]
    )
    has_index = tf.shape(index)[0] > 0
    num_frames = tf.where(has_index, tf.shape(index)[0], tf.cast(context["num_frames"], tf.int32))
    return context, index, has_index, num_frames


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
    context, index, has_index, num_frames = _context(serialized)

    def take(indices):
        def by_index():
            spans = tf.gather(index, indices)
            return tf.strings.substr(serialized, spans[:, 0], spans[:, 1])

        def by_parse():  # format version 1: no index
            return tf.gather(parse_clip(serialized)["frames"], indices)

        return tf.cond(has_index, by_index, by_parse)

    return ClipFrames(num_frames, take), _info(context)


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

    context, index, _, num_frames = _context(index_record, INDEX_FEATURES)

    def take(indices):
        spans = tf.gather(index, indices)
        frames = tf.numpy_function(
            read_ranges,
            [shard_path, context["record_offset"] + spans[:, 0], spans[:, 1],
             context["shard_bytes"]],
            tf.string,
            stateful=False,
            name="read_frame_ranges",
        )  # fmt: skip
        return tf.ensure_shape(frames, indices.shape)

    return ClipFrames(num_frames, take), _info(context)


def make_target(label, num_classes, multi_label):
    """int32 scalar class id, or multi-hot float32 `(num_classes,)` for multi-label."""
    if multi_label:
        hot = tf.reduce_sum(tf.one_hot(label, num_classes, dtype=tf.float32), axis=0)
        return tf.minimum(hot, 1.0)
    return tf.cast(label[0], tf.int32)


def frame_times_at(frame_times, fps, indices):
    """Times (seconds) of the frames `indices`: the stored timestamps `frame_times` `(T,)` when the
    record has them (format version 3), else `index / fps` (older records)."""
    indices = tf.reshape(indices, [-1])
    by_index = tf.cast(indices, tf.float32) / tf.maximum(fps, 1e-6)
    stored = tf.cast(tf.size(frame_times), indices.dtype) > tf.reduce_max(indices)
    return tf.cond(stored, lambda: tf.gather(frame_times, indices), lambda: by_index)


def actions_at(info, indices):
    """Labels `(n,)` int64 of the timed actions under any sampled frame.

    An action is under frame `i` when `start <= t_i <= end` (seconds), `t_i` the frame's stored
    timestamp, or `i / fps` for records without timestamps (`frame_times_at`).
    """
    times = frame_times_at(info.get("frame_times", tf.zeros([0])), info["fps"], indices)
    starts, ends = info["action_starts"], info["action_ends"]
    under = (starts[None, :] <= times[:, None]) & (times[:, None] <= ends[None, :])
    return tf.boolean_mask(info["action_labels"], tf.reduce_any(under, axis=0))


def clip_target(info, indices, num_classes, multi_label, label_source="video"):
    """The training/evaluation target of a clip from its context `info` (see `read_clip`).

    `label_source="video"`: the record's labels (every action of the video). `"frames"` (multi-label
    datasets with timed actions, such as Charades): the actions under the sampled frames `indices`;
    a clip without timed actions keeps its video labels. `PipelineConfig` validates `label_source`.
    """
    if label_source == "video":
        return make_target(info["label"], num_classes, multi_label)
    timed = tf.size(info["action_labels"]) > 0
    labels = tf.cond(timed, lambda: actions_at(info, indices), lambda: info["label"])
    return make_target(labels, num_classes, multi_label)
