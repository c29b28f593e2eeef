"""The dataset format on disk: one `tf.train.SequenceExample` per clip, sharded TFRecords, metadata.

A dataset folder `DIR` holds:
- `labels.txt`: one class name per line, the line index is the class id;
- `metadata.json`: classes, `multi_label`, counts and shards per split, frame statistics, `created_by`;
- `{split}-{shard:05d}-of-{num_shards:05d}.tfrecord` for split in `train`, `val` (optional), `test`.

Each record: context `video_id` (bytes), `label` (int64 list: one id, or several for multi-label),
`num_frames` (int64), `fps` (float), `height`, `width` (int64); feature list `frames`: one bytes feature
per frame holding the JPEG-encoded RGB frame. Files are written atomically (temp file + `os.replace`).
"""

import io
import json
import os
import pathlib
import tempfile

import numpy as np

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1


def shard_name(split, shard, num_shards):
    """`train-00000-of-00004.tfrecord`."""
    return f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord"


def shard_pattern(split):
    return f"{split}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord"


def encode_jpeg(frame, quality=90):
    """uint8 `(H, W, 3)` -> JPEG bytes (Pillow, 4:2:0 chroma subsampling)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def serialize_clip(video_id, labels, jpeg_frames, *, fps, height, width):
    """Serialized `tf.train.SequenceExample` bytes for one clip of JPEG-encoded frames."""
    import tensorflow as tf

    labels = [int(x) for x in np.atleast_1d(labels)]
    ctx = {
        "video_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(video_id).encode()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=labels)),
        "num_frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(jpeg_frames)])),
        "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[float(fps)])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(height)])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(width)])),
    }
    frames = tf.train.FeatureList(
        feature=[tf.train.Feature(bytes_list=tf.train.BytesList(value=[f])) for f in jpeg_frames]
    )
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=ctx),
        feature_lists=tf.train.FeatureLists(feature_list={"frames": frames}),
    )
    return example.SerializeToString()


def _temp_path(path):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return pathlib.Path(tmp)


def write_tfrecord_atomic(path, serialized_records):
    """Writes records to `path` through a temp file in the same folder; returns the record count."""
    import tensorflow as tf

    path = pathlib.Path(path)
    tmp = _temp_path(path)
    count = 0
    try:
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in serialized_records:
                writer.write(record)
                count += 1
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def write_text_atomic(path, text):
    path = pathlib.Path(path)
    tmp = _temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


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
    write_json_atomic(output_dir / "metadata.json", metadata)
    return metadata
