"""Clip index files: read only the K sampled frames of a clip from its shard, not the whole record.

A shard `train-00000-of-00004.tfrecord` may have a sidecar `train-00000-of-00004.index`: a TFRecord file
with one small record per clip, in shard order. Each is a `SequenceExample` with no frames: the clip
record's own context (labels, `frame_index`, actions, ...) plus `record_offset` (the byte offset of the
clip record's data in the shard) and `shard_bytes` (the shard's size when indexed). A reader streams the
index (kilobytes per clip instead of megabytes), works out the sampled frames, then reads exactly those
JPEG byte ranges from the shard (`os.pread`, one call per frame; `tf.io.gfile` for remote paths).

Indexes are written by `training/prepare.py` and `training/synthetic.py` after their shards, and for
older datasets by `python training/reindex.py DIR`. Building one reads the 12-byte TFRecord header and the
context of each record (protobuf writes the context, field 1, before the frames); records of format
version 1 (no `frame_index`) are parsed whole once, to locate their frames.
"""

import os
import pathlib
import struct
import threading

import numpy as np

from keras_ispan.data import records

INDEX_SUFFIX = ".index"
_HEADER = 12  # TFRecord framing: uint64 length, uint32 masked CRC of the length
_FOOTER = 4  # uint32 masked CRC of the data


def index_path(shard):
    """`train-00000-of-00004.tfrecord` -> `train-00000-of-00004.index` (same folder)."""
    shard = pathlib.Path(shard)
    return shard.with_suffix(INDEX_SUFFIX)


def is_current(shard):
    """Whether `shard` has an index written after it (a rewritten shard makes its index stale)."""
    index = index_path(shard)
    return index.is_file() and index.stat().st_mtime_ns >= pathlib.Path(shard).stat().st_mtime_ns


def scan_records(shard):
    """`(data_offset, length)` of every record of a TFRecord file, reading only the headers."""
    shard = pathlib.Path(shard)
    size = shard.stat().st_size
    spans, position = [], 0
    with open(shard, "rb") as f:
        while position < size:
            header = os.pread(f.fileno(), _HEADER, position)
            if len(header) < _HEADER:
                raise ValueError(f"{shard}: truncated record header at byte {position}")
            (length,) = struct.unpack("<Q", header[:8])
            end = position + _HEADER + length + _FOOTER
            if end > size:
                raise ValueError(
                    f"{shard}: record at byte {position} claims {length} bytes but the file has "
                    f"{size} bytes (truncated or not a TFRecord file)"
                )
            spans.append((position + _HEADER, length))
            position = end
    return spans


def _varint(data, position):
    value, shift = 0, 0
    while True:
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return value, position
        shift += 7


def _context_and_index(fd, offset, length):
    """The record's context `tf.train.Features` (with `frame_index`), reading only its context when
    it comes first (always, for records this project writes)."""
    import tensorflow as tf

    head = os.pread(fd, min(length, 11), offset)
    if head[:1] == b"\x0a":  # field 1 (context), length-delimited
        size, start = _varint(head, 1)
        context = tf.train.Features.FromString(os.pread(fd, size, offset + start))
        frame_index = context.feature["frame_index"].bytes_list.value
        if frame_index and frame_index[0]:
            return context
    serialized = os.pread(fd, length, offset)  # format version 1, or a foreign writer's field order
    example = tf.train.SequenceExample.FromString(serialized)
    frames = [f.bytes_list.value[0] for f in example.feature_lists.feature_list["frames"].feature]
    index = records.encode_frame_index(records.frame_index(serialized, frames))
    context = example.context
    context.feature["frame_index"].bytes_list.value[:] = [index]
    return context


def build_index(shard):
    """The serialized index records of `shard` (see the module docstring), in shard order."""
    import tensorflow as tf

    shard = pathlib.Path(shard)
    size = shard.stat().st_size
    out = []
    with open(shard, "rb") as f:
        for offset, length in scan_records(shard):
            context = _context_and_index(f.fileno(), offset, length)
            context.feature["record_offset"].int64_list.value[:] = [offset]
            context.feature["shard_bytes"].int64_list.value[:] = [size]
            example = tf.train.SequenceExample(context=context)
            out.append(example.SerializeToString(deterministic=True))
    return out


def write_index(shard):
    """Writes `shard`'s index file atomically; returns the number of clips."""
    return records.write_tfrecord_atomic(index_path(shard), build_index(shard))


def ensure_indexes(data_dir, log=None):
    """Writes the missing or stale index of every shard in `data_dir`; returns how many were written."""
    written = 0
    for split in records.SPLITS:
        for shard in sorted(pathlib.Path(data_dir).glob(records.shard_pattern(split))):
            if not is_current(shard):
                clips = write_index(shard)
                written += 1
                if log:
                    log(f"[index] {index_path(shard).name}: {clips} clips")
    return written


_FILES: dict = {}  # path -> ((inode, mtime), descriptor): one open descriptor per shard path
_FILES_LOCK = threading.Lock()
MAX_OPEN_SHARDS = 256  # beyond this, the least recently opened descriptor is closed


def _descriptor(path):
    """A descriptor of `path` that the caller reads and then closes, and the file's size.

    One descriptor per path stays open (a replaced or rewritten file, another inode or modification
    time, gets a new one and the old one is closed, so nothing leaks); the caller gets a duplicate made
    under the lock, because another thread may close the shared one at any moment (a rewritten file,
    or past `MAX_OPEN_SHARDS`) and the OS hands its number to the next file opened: reading the
    shared number there would read another shard's bytes."""
    stat = os.stat(path)
    version = (stat.st_ino, stat.st_mtime_ns)
    with _FILES_LOCK:
        entry = _FILES.get(path)
        if entry is None or entry[0] != version:
            if entry is not None:
                os.close(_FILES.pop(path)[1])
            while len(_FILES) >= MAX_OPEN_SHARDS:
                os.close(_FILES.pop(next(iter(_FILES)))[1])
            entry = _FILES[path] = (version, os.open(path, os.O_RDONLY))
        return os.dup(entry[1]), stat.st_size


def close_shard_files():
    """Closes the descriptors `read_ranges` keeps open (they are reopened on the next read)."""
    with _FILES_LOCK:
        while _FILES:
            os.close(_FILES.popitem()[1][1])


def read_ranges(path, offsets, lengths, shard_bytes):
    """The bytes of `path` at `(offsets[i], lengths[i])`, an object array (for `tf.numpy_function`).

    Raises a `ValueError` naming the shard when it is shorter than a range or no longer has the size it
    had when indexed (a stale index).
    """
    path = path.item() if isinstance(path, np.ndarray) else path
    path = path.decode() if isinstance(path, bytes) else str(path)
    out = np.empty(len(offsets), dtype=object)
    if "://" in path:  # remote file systems: seek + read through TensorFlow's file system layer
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as f:
            for i, (offset, length) in enumerate(zip(offsets.tolist(), lengths.tolist())):
                f.seek(offset)
                out[i] = f.read(length)
    else:
        fd, size = _descriptor(path)
        try:
            if size != shard_bytes:
                raise ValueError(
                    f"{path} has {size} bytes but its index was built for {shard_bytes}: the index "
                    f"is stale; rebuild it with `python training/reindex.py {pathlib.Path(path).parent}`"
                )
            for i, (offset, length) in enumerate(zip(offsets.tolist(), lengths.tolist())):
                out[i] = os.pread(fd, length, offset)
        finally:
            os.close(fd)
    for i, length in enumerate(lengths.tolist()):
        if len(out[i]) != length:
            raise ValueError(
                f"{path}: {length} bytes expected at byte {offsets[i]}, file too short"
            )
    return out


def read_group(paths, offsets, lengths, shard_bytes):
    """`read_ranges` for a group of clips: paths `(R,)`, offsets and lengths `(R, K)`, shard sizes
    `(R,)` -> `(R, K)` object array of bytes (one `tf.numpy_function` call per group, not per clip)."""
    out = np.empty(offsets.shape, dtype=object)
    for r in range(offsets.shape[0]):
        out[r] = read_ranges(paths[r], offsets[r], lengths[r], shard_bytes[r])
    return out
