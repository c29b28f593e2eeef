"""Clip index files (`keras_ispan/data/shard_index.py`): each index record locates its clip in the shard, the
indexed reader returns exactly the JPEG bytes the test encoded, the pipeline reading through the index
gives the same batches as the one reading whole records, and stale or broken files give clear errors."""

import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import records, shard_index
from keras_ispan.data.clip_reader import read_indexed_clip
from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from tests.keras_ispan.data.helpers import smooth_frames, write_dataset
from tests.keras_ispan.data.test_clip_reader import _v1_record
from training.reindex import main as reindex_main

QUALITIES = (20, 95, 60, 85, 40, 70)  # JPEGs of different sizes: offsets are not uniform


def _clip_jpegs(i, num_frames):
    frames = smooth_frames(num_frames, 24, 32, seed=i)
    return [records.encode_jpeg(f, QUALITIES[t % 6]) for t, f in enumerate(frames)]


def _shard_of_clips(path, version=2):
    """A shard of 4 clips (3 to 6 frames); returns `{video_id: (labels, jpegs)}`."""
    clips, serialized = {}, []
    for i in range(4):
        jpegs, labels, video_id = _clip_jpegs(i, 3 + i), [i % 2, 2], f"v{i}"
        clips[video_id] = (labels, jpegs)
        make = records.serialize_clip if version == 2 else _v1_record
        serialized.append(make(video_id, labels, jpegs, fps=10.0, height=24, width=32))
    records.write_tfrecord_atomic(path, serialized)
    return clips


@pytest.mark.parametrize("version", [2, 1])
def test_index_records_locate_every_frame(tmp_path, version):
    """Read with plain file I/O at `record_offset + frame_index`, every range is the JPEG the test
    encoded; the index is in shard order and carries the record's context (format 1 included)."""
    shard = tmp_path / records.shard_name("train", 0, 1)
    clips = _shard_of_clips(shard, version)
    assert shard_index.write_index(shard) == 4
    index_file = tmp_path / "train-00000-of-00001.index"
    assert shard_index.index_path(shard) == index_file and shard_index.is_current(shard)
    data = shard.read_bytes()
    ids = []
    for raw in tf.data.TFRecordDataset(str(index_file)).as_numpy_iterator():
        ctx = tf.train.SequenceExample.FromString(raw).context.feature
        video_id = ctx["video_id"].bytes_list.value[0].decode()
        labels, jpegs = clips[video_id]
        ids.append(video_id)
        assert list(ctx["label"].int64_list.value) == labels
        assert ctx["shard_bytes"].int64_list.value[0] == len(data)
        base = ctx["record_offset"].int64_list.value[0]
        spans = np.frombuffer(ctx["frame_index"].bytes_list.value[0], "<i8").reshape(-1, 2)
        assert len(spans) == len(jpegs)
        for (offset, length), jpeg in zip(spans, jpegs, strict=True):
            assert data[base + offset : base + offset + length] == jpeg
        assert len(raw) < 700  # kilobytes per clip at most, never the frames
    assert ids == ["v0", "v1", "v2", "v3"]


def test_read_indexed_clip_eagerly_and_in_dataset_map(tmp_path):
    shard = tmp_path / records.shard_name("train", 0, 1)
    clips = _shard_of_clips(shard)
    shard_index.write_index(shard)
    index_records = list(tf.data.TFRecordDataset(str(shard_index.index_path(shard))))
    picks = tf.constant([4, 0, 2, 2], tf.int32)

    def read(record):
        clip, info = read_indexed_clip(tf.constant(str(shard)), record)
        return clip.num_frames, clip.take(picks), info["video_id"], info["label"]

    eager = read(index_records[3])
    graph = next(iter(tf.data.Dataset.from_tensors(index_records[3]).map(read)))
    _, jpegs = clips["v3"]
    for num_frames, frames, video_id, label in (eager, graph):
        assert int(num_frames) == 6 and video_id.numpy() == b"v3"
        assert label.numpy().tolist() == [1, 2]
        assert [bytes(b) for b in frames.numpy()] == [jpegs[i] for i in (4, 0, 2, 2)]
    assert graph[1].shape == (4,)


def _two_shard_dataset(folder):
    clips = [(smooth_frames(5 + i, 40, 56, seed=i), [i % 3]) for i in range(7)]
    write_dataset(folder, clips, ["a", "b", "c"], split="train", num_shards=2)
    return folder


@pytest.mark.parametrize(
    "settings",
    [dict(training=True, seed=5, shuffle_buffer=8), dict(training=False, crops=3, num_clips=2)],
)
def test_index_reader_gives_the_batches_of_the_record_reader(tmp_path, settings):
    data_dir = _two_shard_dataset(tmp_path / "ds")
    assert shard_index.ensure_indexes(data_dir) == 2
    batches = {}
    for reader in ("records", "index"):
        config = PipelineConfig(num_segments=4, image_size=32, batch_size=3, reader=reader,
                                **settings)  # fmt: skip
        batches[reader] = [
            (f.numpy(), y.numpy()) for f, y in make_dataset(data_dir, "train", config)
        ]
    assert len(batches["index"]) == len(batches["records"]) == 3
    for (f1, y1), (f2, y2) in zip(batches["records"], batches["index"], strict=True):
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(y1, y2)


def test_auto_reader_and_stale_indexes(tmp_path):
    from keras_ispan.data.pipeline import _choose_reader, read_dataset_info

    data_dir = _two_shard_dataset(tmp_path / "ds")
    info = read_dataset_info(data_dir)
    files = sorted(str(p) for p in data_dir.glob("train-*.tfrecord"))
    config = PipelineConfig(num_segments=4, image_size=32)
    assert _choose_reader(info, "train", files, config) == "records"  # no index yet
    with pytest.raises(ValueError, match=r"no current index.*training/reindex.py"):
        make_dataset(data_dir, "train", PipelineConfig(reader="index"))
    assert reindex_main([str(data_dir)]) == 0
    assert _choose_reader(info, "train", files, config) == "index"
    service = PipelineConfig(data_service="grpc://127.0.0.1:1")
    assert _choose_reader(info, "train", files, service) == "records"
    with pytest.raises(ValueError, match="Received: reader='index', data_service="):
        PipelineConfig(reader="index", data_service="grpc://127.0.0.1:1")
    # a shard written after its index makes the index stale: auto falls back, reindex rewrites it
    later = os.stat(shard_index.index_path(files[0])).st_mtime_ns + 1
    os.utime(files[0], ns=(later, later))
    assert not shard_index.is_current(files[0])
    assert _choose_reader(info, "train", files, config) == "records"
    assert shard_index.ensure_indexes(data_dir) == 1 and shard_index.is_current(files[0])
    assert reindex_main([str(tmp_path / "missing")]) == 2


def test_a_shard_changed_under_its_index_is_reported(tmp_path):
    data_dir = _two_shard_dataset(tmp_path / "ds")
    shard_index.ensure_indexes(data_dir)
    shard = data_dir / "train-00000-of-00002.tfrecord"
    with open(shard, "ab") as f:
        f.write(b"\0" * 16)  # another size than when indexed
    index = shard_index.index_path(shard)
    os.utime(index, ns=(os.stat(shard).st_mtime_ns + 1,) * 2)  # the index looks current
    dataset = make_dataset(data_dir, "train", PipelineConfig(num_segments=2, image_size=32,
                                                             training=False, reader="index"))  # fmt: skip
    with pytest.raises(tf.errors.OpError, match=r"train-00000-of-00002.tfrecord.*stale"):
        list(dataset)


def test_a_truncated_shard_is_named(tmp_path):
    shard = tmp_path / records.shard_name("train", 0, 1)
    _shard_of_clips(shard)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"train-00000-of-00001.tfrecord: record at byte \d+"):
        shard_index.write_index(shard)
    assert not shard_index.index_path(shard).exists()  # nothing half-written


def test_generated_and_converted_datasets_have_current_indexes(tmp_path):
    from keras_ispan.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    config = SyntheticConfig(num_classes=2, train=3, val=0, test=2, num_frames=4, image_size=32,
                             target_size=6, distractor_size=4)  # fmt: skip
    folder = generate_synthetic_dataset(tmp_path / "syn", config, log=None)
    shards = sorted(pathlib.Path(folder).glob("*.tfrecord"))
    assert shards and all(shard_index.is_current(s) for s in shards)
    written = [s.stat().st_mtime_ns for s in shards]
    for index in pathlib.Path(folder).glob("*.index"):  # as in a dataset cached by an older version
        index.unlink()
    assert generate_synthetic_dataset(folder, config, log=None) == folder
    assert [s.stat().st_mtime_ns for s in shards] == written  # reused, not rewritten
    assert all(shard_index.is_current(s) for s in shards)


def test_rewritten_shard_does_not_leak_descriptors(tmp_path):
    """A shard rewritten in place gets a new descriptor; the old one is closed (no leak)."""
    import os

    shard = tmp_path / "x.tfrecord"

    def open_on(path):
        fds = os.listdir("/proc/self/fd")
        return sum(1 for fd in fds if os.path.realpath(f"/proc/self/fd/{fd}") == str(path))

    for i in range(5):
        shard.write_bytes(bytes([i]) * 16)
        os.utime(shard, ns=(10**9 * (i + 1), 10**9 * (i + 1)))
        out = shard_index.read_ranges(str(shard), np.array([2]), np.array([3]), 16)
        assert out[0] == bytes([i]) * 3
        assert open_on(shard) <= 1
    shard_index.close_shard_files()
    assert open_on(shard) == 0


def test_a_descriptor_closed_by_another_reader_is_not_read(tmp_path, monkeypatch):
    """tf.data reads shards from several threads: while one thread reads shard `a`, another may evict
    `a`'s descriptor (past MAX_OPEN_SHARDS) and open `b`, which the OS gives the same descriptor
    number. The first thread must still read `a`'s bytes, not `b`'s (or fail on a closed one)."""
    a, b = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"
    a.write_bytes(b"A" * 16)
    b.write_bytes(b"B" * 16)
    shard_index.close_shard_files()
    monkeypatch.setattr(shard_index, "MAX_OPEN_SHARDS", 1)
    real_pread, interleaved = os.pread, []

    def pread_after_another_thread(fd, length, offset):
        monkeypatch.setattr(shard_index.os, "pread", real_pread)
        # the other thread runs between `a`'s lookup and its read
        interleaved.append(shard_index.read_ranges(str(b), np.array([0]), np.array([4]), 16))
        return real_pread(fd, length, offset)

    monkeypatch.setattr(shard_index.os, "pread", pread_after_another_thread)
    out = shard_index.read_ranges(str(a), np.array([2]), np.array([3]), 16)
    assert interleaved[0][0] == b"BBBB"
    assert out[0] == b"AAA"
    shard_index.close_shard_files()
