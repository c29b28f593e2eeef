"""Resumability: finished shards are kept, a rerun writes only what is missing; settings are guarded."""

import json

import pytest

from keras_ispan.data.convert import convert_dataset
from tests.keras_ispan.data.helpers import convert_config, write_class_videos


@pytest.fixture
def videos(tmp_path):
    return write_class_videos(tmp_path / "videos", per_class=4, num_frames=4, height=32, width=32)


def _config(videos, tmp_path, **kw):
    return convert_config(videos, tmp_path / "ds", **(dict(clips_per_shard=2) | kw))


def test_rerun_skips_finished_shards(videos, tmp_path):
    first = convert_dataset(_config(videos, tmp_path), log=None)
    out = tmp_path / "ds"
    shards = sorted(out.glob("*.tfrecord"))
    # the default split (issue 19): per class of 4 videos, 1 test (20 %) and 1 val (10 %, at least
    # one for a class of 3 or more), 2 train; 2 train + 1 val + 1 test shards of 2 clips
    assert first.counts == {"train": 4, "val": 2, "test": 2} and len(shards) == 4
    rule = json.loads((out / "metadata.json").read_text())["split_rule"]
    assert rule["val_fraction"] == 0.1 and rule["test_fraction"] == 0.2 and rule["seed"] == 0
    assert rule["min_val_per_class"] == 1 and rule["kind"] == "carved per class"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards}
    # simulate an interruption: one shard never finished, a temp file left behind
    lost = shards[1]
    lost.unlink()
    (out / ".prepare" / f"{lost.name}.json").unlink()
    (out / f".{lost.name}.abc.tmp").write_bytes(b"partial")
    lines = []
    second = convert_dataset(_config(videos, tmp_path), log=lines.append)
    assert "resuming: 3 of 4 shards already written" in "\n".join(lines)
    assert second.shards_written == 1 and second.counts == first.counts
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.tfrecord")}
    for name, (mtime, data) in before.items():
        if name != lost.name:
            assert after[name][0] == mtime  # untouched
        assert after[name][1] == data  # same bytes, the rewritten one too
    assert not list(out.glob(".*.tmp"))


def test_other_settings_need_overwrite(videos, tmp_path):
    convert_dataset(_config(videos, tmp_path), log=None)
    before = {p.name: p.read_bytes() for p in (tmp_path / "ds").glob("*.tfrecord")}
    with pytest.raises(ValueError, match="--overwrite"):
        convert_dataset(_config(videos, tmp_path, short_side=16), log=None)
    after = {p.name: p.read_bytes() for p in (tmp_path / "ds").glob("*.tfrecord")}
    assert after == before  # bad input destroyed nothing
    summary = convert_dataset(_config(videos, tmp_path, short_side=16, overwrite=True), log=None)
    assert summary.shards_written == 4 and summary.shards_skipped == 0
