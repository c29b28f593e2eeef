"""The dataset format on disk: one `tf.train.SequenceExample` per clip, sharded TFRecords, metadata.

A dataset folder `DIR` holds:
- `labels.txt`: one class name per line, the line index is the class id;
- `metadata.json`: classes, `multi_label`, counts and shards per split, frame statistics, `created_by`;
- `{split}-{shard:05d}-of-{num_shards:05d}.tfrecord` for split in `train`, `val` (optional), `test`.

Each record: context `video_id` (bytes), `label` (int64 list: one id, or several for multi-label),
`num_frames` (int64), `fps` (float), `height`, `width` (int64: the stored frames' size), `frame_index` (bytes, format version 2:
`num_frames` pairs of little-endian int64 `(offset, length)` locating each frame's JPEG bytes inside the
serialized record, so a reader takes the K sampled frames with `tf.strings.substr` instead of parsing
all of them), and for datasets with timed actions (Charades) `action_labels` (int64), `action_starts`,
`action_ends` (float, seconds), and (format version 3, optional) `frame_times` (float, seconds: each stored
frame's presentation timestamp from the video's start, so that frame times are the video's own, not
`index / fps`); feature list `frames`: one bytes feature per frame holding the
JPEG-encoded RGB frame. Records of format version 1 (no `frame_index`) are still read (full parse), and
records without `frame_times` (versions 1 and 2) place frame `i` at `i / fps`.

Format version 4 adds optional optical flow (`keras_ispan.io.flow`, TSN's storage): feature list `flow`
holds, for each of the clip's `S = max(num_frames - 1, 1)` frame steps `t` (frame `t` -> `t + 1`), two
grayscale JPEGs, the quantised x then y component (`quantize_flow`: uint8, 128 about no motion), in
the order `[x_0, y_0, x_1, y_1, ...]`; context `flow_index` (bytes: `2 S` `(offset, length)` pairs
like `frame_index`, locating each flow JPEG inside the serialized record, so readers take only the
sampled stacks), `flow_method` (bytes: `farneback` or `tvl1`) and `flow_bound` (float, pixels).
`metadata.json` says whether a dataset holds flow (`flow`: method, bound, JPEG quality); records
without flow (every record of versions 1 to 3) still read for RGB.
Files are written atomically, with the umask's modes (`keras_ispan.io.atomic`).
"""

import io
import pathlib

import numpy as np

from keras_ispan.options import MODALITIES  # noqa: F401 (re-exported: the pipeline's modalities)

SPLITS = ("train", "val", "test")
# where a clip's target comes from: the video's labels, or the timed actions under its sampled frames
LABEL_SOURCES = ("video", "frames")
# how the pipeline reads clips (whole records, or index + sampled frames) and where crops are resized
READERS = ("auto", "index", "records")
RESIZE_IN = ("pipeline", "model")
# what the pipeline yields: frames, flow stacks (format version 4), or both: `keras_ispan.options.MODALITIES`
FORMAT_VERSION = 4
INDEX_ENTRY_BYTES = 16  # one (offset, length) pair of little-endian int64 in `frame_index`


def shard_name(split, shard, num_shards):
    """`train-00000-of-00004.tfrecord`."""
    return f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord"


def shard_pattern(split):
    return f"{split}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord"


def encode_jpeg(frame, quality=90):
    """uint8 `(H, W, 3)` -> JPEG bytes (Pillow, 4:2:0 chroma subsampling); `(H, W)` -> grayscale."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def decode_jpeg(data):
    """JPEG bytes -> uint8 `(H, W, 3)` RGB, or `(H, W)` for a grayscale JPEG (Pillow)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def encode_flow_jpegs(flow, quality=90):
    """Quantised flow uint8 `(S, H, W, 2)` -> `2 S` grayscale JPEGs `[x_0, y_0, x_1, y_1, ...]`."""
    flow = np.asarray(flow)
    if flow.dtype != np.uint8 or flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(
            f"`flow` must be uint8 (steps, H, W, 2). Received: {flow.dtype} {flow.shape}"
        )
    return [encode_jpeg(flow[t, :, :, c], quality) for t in range(len(flow)) for c in (0, 1)]


def decode_flow_jpegs(jpegs):
    """The inverse of `encode_flow_jpegs`: `2 S` grayscale JPEGs -> uint8 `(S, H, W, 2)`."""
    planes = [decode_jpeg(j) for j in jpegs]
    return np.stack(planes).reshape(len(planes) // 2, 2, *planes[0].shape).transpose(0, 2, 3, 1)


def serialize_clip(
    video_id, labels, jpeg_frames, *, fps, height, width, actions=None, frame_times=None,
    flow=None,
):  # fmt: skip
    """Serialized `tf.train.SequenceExample` bytes for one clip of JPEG-encoded frames.

    Args:
        actions: optional timed actions `[(label, start_s, end_s), ...]` (Charades intervals).
        frame_times: optional timestamps (seconds) of the frames, one per frame; not stored when
            None or when a frame has none (`None` in the list).
        flow: optional `(jpegs, method, bound)`: the `2 S` grayscale flow JPEGs of
            `encode_flow_jpegs` (`S = max(T - 1, 1)` steps), the flow method and bound (format
            version 4, see the module docstring).

    The `frame_index` context feature has a fixed size, so the record is serialized twice: once to
    find where each frame's bytes land, once with those positions filled in (same layout).
    """
    import tensorflow as tf

    def feature(kind, values):
        if kind == "bytes":
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if kind == "int":
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    jpeg_frames = [bytes(f) for f in jpeg_frames]
    ctx = {
        "video_id": feature("bytes", [str(video_id).encode()]),
        "label": feature("int", [int(x) for x in np.atleast_1d(labels)]),
        "num_frames": feature("int", [len(jpeg_frames)]),
        "fps": feature("float", [float(fps)]),
        "height": feature("int", [int(height)]),
        "width": feature("int", [int(width)]),
        "frame_index": feature("bytes", [bytes(INDEX_ENTRY_BYTES * len(jpeg_frames))]),
    }
    if frame_times is not None and len(frame_times) != len(jpeg_frames):
        raise ValueError(
            f"`frame_times` must hold one time per frame ({len(jpeg_frames)}). "
            f"Received: frame_times of length {len(frame_times)}"
        )
    if frame_times is not None and all(t is not None for t in frame_times):
        ctx["frame_times"] = feature("float", [float(t) for t in frame_times])
    if actions:
        ctx["action_labels"] = feature("int", [int(a[0]) for a in actions])
        ctx["action_starts"] = feature("float", [float(a[1]) for a in actions])
        ctx["action_ends"] = feature("float", [float(a[2]) for a in actions])
    frames = tf.train.FeatureList(feature=[feature("bytes", [f]) for f in jpeg_frames])
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=ctx),
        feature_lists=tf.train.FeatureLists(feature_list={"frames": frames}),
    )
    if flow is not None:
        _set_flow(example, *flow)
    return _with_indexes(example)


def _set_flow(example, jpegs, method, bound):
    """Adds the flow JPEGs and their context keys to a `SequenceExample` (format version 4)."""
    import tensorflow as tf

    jpegs = [bytes(j) for j in jpegs]
    num_frames = len(example.feature_lists.feature_list["frames"].feature)
    if len(jpegs) != 2 * max(num_frames - 1, 1):
        raise ValueError(
            f"A clip of {num_frames} frames needs {2 * max(num_frames - 1, 1)} flow JPEGs (x and y "
            f"per frame step). Received: {len(jpegs)} flow JPEGs"
        )
    ctx = example.context.feature
    ctx["flow_index"].bytes_list.value[:] = [bytes(INDEX_ENTRY_BYTES * len(jpegs))]
    ctx["flow_method"].bytes_list.value[:] = [str(method).encode()]
    ctx["flow_bound"].float_list.value[:] = [float(bound)]
    flow = example.feature_lists.feature_list["flow"]
    del flow.feature[:]
    flow.feature.extend([tf.train.Feature(bytes_list=tf.train.BytesList(value=[j])) for j in jpegs])


def _list_bytes(example, name):
    return [f.bytes_list.value[0] for f in example.feature_lists.feature_list[name].feature]


def _with_indexes(example):
    """Serializes `example` with its `frame_index` (and `flow_index`) filled in.

    The indexes have a fixed size, so the record is serialized twice: once to find where each
    JPEG's bytes land, once with those positions filled in (same layout), then checked.
    """
    ctx = example.context.feature
    lists = [("frame_index", "frames")] + [("flow_index", "flow")] * ("flow_index" in ctx)
    draft = example.SerializeToString(deterministic=True)
    located = []
    for key, name in lists:
        jpegs = _list_bytes(example, name)
        index = frame_index(draft, jpegs)
        ctx[key].bytes_list.value[0] = encode_frame_index(index)
        located.append((index, jpegs))
    serialized = example.SerializeToString(deterministic=True)
    if len(serialized) != len(draft) or any(
        serialized[o : o + n] != f
        for index, jpegs in located
        for (o, n), f in zip(index, jpegs, strict=True)
    ):  # the index is fixed-size, so it cannot move the frames; checked, never assumed
        video_id = ctx["video_id"].bytes_list.value[0]
        raise RuntimeError(f"frame_index of clip {video_id!r} does not match its serialized record")
    return serialized


def add_flow(serialized, flow_jpegs, method, bound):
    """A clip record (any format version) with flow added or replaced: its other contents unchanged,
    its `frame_index` written (format version 4)."""
    import tensorflow as tf

    example = tf.train.SequenceExample.FromString(serialized)
    _set_flow(example, flow_jpegs, method, bound)
    if not example.context.feature["frame_index"].bytes_list.value:
        example.context.feature["frame_index"].bytes_list.value[:] = [b""]
    frames = len(example.feature_lists.feature_list["frames"].feature)
    example.context.feature["frame_index"].bytes_list.value[0] = bytes(INDEX_ENTRY_BYTES * frames)
    return _with_indexes(example)


def clip_jpegs(serialized):
    """`(frame JPEGs, flow JPEGs)` of a serialized clip record (flow empty without it)."""
    import tensorflow as tf

    example = tf.train.SequenceExample.FromString(serialized)
    return _list_bytes(example, "frames"), _list_bytes(example, "flow")


def frame_index(serialized, jpeg_frames):
    """`(T, 2)` int64 `(offset, length)` of each frame's bytes in `serialized`, searched in order."""
    index, position = np.zeros((len(jpeg_frames), 2), np.int64), 0
    for i, frame in enumerate(jpeg_frames):
        offset = serialized.find(frame, position)
        if offset < 0:
            raise RuntimeError(f"frame {i} not found in the serialized record")
        index[i] = offset, len(frame)
        position = offset + len(frame)
    return index


def encode_frame_index(index):
    """The `frame_index` feature of `(T, 2)` `(offset, length)` pairs: little-endian int64,
    `INDEX_ENTRY_BYTES` a frame (read in-graph by `clip_reader.frame_spans`)."""
    return np.asarray(index, "<i8").tobytes()


def write_tfrecord_atomic(path, serialized_records):
    """Writes records to `path` atomically (`keras_ispan.io.atomic.atomic_path`); returns the record count."""
    import tensorflow as tf

    from keras_ispan.io.atomic import atomic_path  # here: it loads Keras

    count = 0
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in serialized_records:
            writer.write(record)
            count += 1
    return count


def frame_statistics(num_frames, fps, heights, widths):
    """Summary of per-clip frame counts, rates and sizes (lists) as a JSON-ready dict."""
    if not len(num_frames):
        return {"clips": 0}
    n = np.asarray(num_frames, dtype=np.float64)
    return {
        "clips": int(n.size),
        "frames_total": int(n.sum()),
        "frames_min": int(n.min()),
        "frames_mean": round(float(n.mean()), 2),
        "frames_max": int(n.max()),
        "fps_mean": round(float(np.mean(fps)), 3),
        "height_mean": round(float(np.mean(heights)), 1),
        "width_mean": round(float(np.mean(widths)), 1),
    }


def write_dataset_metadata(output_dir, classes, multi_label, splits, created_by, **extra):
    """Writes `labels.txt` and `metadata.json`.

    `splits` maps split name to a dict with at least `count` and `num_shards` (and optional `frames`
    statistics from `frame_statistics`).
    """
    from keras_ispan.io.atomic import write_json_atomic, write_text_atomic  # here: it loads Keras

    output_dir = pathlib.Path(output_dir)
    for name in classes:
        if not name or "\n" in name:
            raise ValueError(
                f"Class names must be non-empty single lines. Received: class={name!r}"
            )
    write_text_atomic(output_dir / "labels.txt", "".join(f"{c}\n" for c in classes))
    metadata = {
        "format_version": FORMAT_VERSION,
        "classes": list(classes),
        "num_classes": len(classes),
        "multi_label": bool(multi_label),
        "counts": {s: int(v["count"]) for s, v in splits.items()},
        "num_shards": {s: int(v["num_shards"]) for s, v in splits.items()},
        "frames": {s: v.get("frames", {}) for s, v in splits.items()},
        "created_by": created_by,
        **extra,
    }
    write_json_atomic(output_dir / "metadata.json", metadata, sort_keys=True)
    return metadata
