"""`prepare.py` killed (SIGKILL) at several moments, then rerun with the same command: the dataset ends
the same as an uninterrupted conversion (same clips, each once, every shard and index parses)."""

import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests.conftest import REPO_ROOT
from tests.keras_ispan.data.helpers import write_class_videos

pytestmark = pytest.mark.slow
HANG_LIMIT_S = 900  # only against a hang


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill") / "videos"
    return write_class_videos(root, per_class=6, num_frames=6, height=48, width=48)


def _command(videos, output):
    return [
        sys.executable, str(REPO_ROOT / "training" / "prepare.py"), "--layout", "folders",
        "--videos", str(videos), "--output", str(output), "--clips-per-shard", "1",
        "--workers", "1", "--short-side", "32",
    ]  # fmt: skip


def _clips(output):
    """The video ids of every record of every shard (each shard parsed whole), and the index records."""
    ids, index_records = [], 0
    for shard in sorted(output.glob("*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(shard)):
            example = tf.train.SequenceExample.FromString(record.numpy())
            ids.append(example.context.feature["video_id"].bytes_list.value[0].decode())
        index_records += sum(1 for _ in tf.data.TFRecordDataset(str(shard.with_suffix(".index"))))
    return sorted(ids), index_records


def _kill_after(command, output, shards):
    """Starts `command`, SIGKILLs it once `shards` shards exist (or when it ends first)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + HANG_LIMIT_S
    while process.poll() is None and time.monotonic() < deadline:
        if len(list(output.glob("*.tfrecord"))) >= shards:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    return process.wait(timeout=HANG_LIMIT_S)


def test_killed_conversion_resumes_to_the_same_dataset(videos, tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(_command(videos, reference), check=True, timeout=HANG_LIMIT_S,
                   capture_output=True)  # fmt: skip
    want = _clips(reference)
    assert len(want[0]) == 12 and want[1] == 12
    output = tmp_path / "killed"
    codes = [_kill_after(_command(videos, output), output, n) for n in (1, 4, 9)]  # early ... late
    assert codes[0] == -signal.SIGKILL, codes  # killed mid-way at least once
    done = subprocess.run(
        _command(videos, output), capture_output=True, text=True, timeout=HANG_LIMIT_S
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert _clips(output) == want  # nothing lost, nothing duplicated, every file parses
    assert not list(output.glob(".*.tmp"))
    assert (output / "metadata.json").read_text() != ""
