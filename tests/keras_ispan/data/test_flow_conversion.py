"""Flow in the dataset format (version 4): written by `prepare.py --flow` and by `--add-flow DIR`.

The stored flow must decode back to `quantize_flow(compute_flow(...))` of the stored RGB frames, within
the flow JPEGs' error; adding flow later must write what a conversion with flow writes; both resume.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_ispan.data import add_flow as add_flow_module
from keras_ispan.data import records, shard_index
from keras_ispan.data.add_flow import add_flow_to_dataset
from keras_ispan.data.convert import ConvertConfig, convert_dataset
from keras_ispan.io.flow import clip_flow
from tests.conftest import REPO_ROOT
from tests.keras_ispan.data.helpers import convert_config, smooth_frames, write_class_videos


def dataset_clips(folder):
    """`{video_id: (frame JPEGs, flow JPEGs)}` of every record of a dataset folder."""
    import tensorflow as tf

    clips = {}
    for shard in sorted(folder.glob("*.tfrecord")):
        for serialized in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator():
            example = tf.train.SequenceExample.FromString(serialized)
            video_id = example.context.feature["video_id"].bytes_list.value[0].decode()
            clips[video_id] = records.clip_jpegs(serialized)
    return clips


def assert_flow_of_stored_frames(frame_jpegs, flow_jpegs):
    frames = np.stack([records.decode_jpeg(j) for j in frame_jpegs])
    stored = records.decode_flow_jpegs(flow_jpegs)
    expected = clip_flow(frames)  # from the stored (decoded) frames, Farneback
    assert stored.shape == expected.shape == (len(frames) - 1, *frames.shape[1:3], 2)
    error = np.abs(stored.astype(int) - expected.astype(int))
    assert error.mean() < 1.0 and error.max() <= 6  # grayscale JPEG at quality 90


@pytest.fixture
def videos(tmp_path):
    return write_class_videos(tmp_path / "videos", per_class=2, num_frames=5, height=32, width=40)


def _config(videos, output, **kw):
    base = dict(clips_per_shard=1, val_fraction=0.0, test_fraction=0.0)
    return convert_config(videos, output, **(base | kw))


def test_conversion_stores_the_flow_of_its_frames_and_add_flow_writes_the_same(videos, tmp_path):
    with_flow = tmp_path / "with"
    convert_dataset(_config(videos, with_flow, flow=True), log=None)
    meta = json.loads((with_flow / "metadata.json").read_text())
    assert meta["format_version"] == 4 and meta["flow"]["method"] == "farneback"
    assert meta["flow"]["bound"] == 20.0
    clips = dataset_clips(with_flow)
    assert len(clips) == 4
    for frame_jpegs, flow_jpegs in clips.values():
        assert len(flow_jpegs) == 2 * (len(frame_jpegs) - 1)
        assert_flow_of_stored_frames(frame_jpegs, flow_jpegs)

    later = tmp_path / "later"
    convert_dataset(_config(videos, later), log=None)
    assert "flow" not in json.loads((later / "metadata.json").read_text())
    lines = []
    summary = add_flow_to_dataset(later, workers=1, log=lines.append)
    assert summary.clips == 4 and summary.flow_steps == 16 and summary.shards_written == 4
    assert any("flow frames/s" in line for line in lines)
    assert dataset_clips(later) == clips  # byte for byte what a conversion with flow writes
    assert json.loads((later / "metadata.json").read_text())["flow"] == meta["flow"]
    assert all(shard_index.is_current(s) for s in later.glob("*.tfrecord"))

    # resumable: one shard's done mark lost, but its clips hold the flow: nothing is recomputed
    state = sorted((later / ".prepare" / "flow").glob("*.json"))
    state[0].unlink()
    lines = []
    again = add_flow_to_dataset(later, workers=1, log=lines.append)
    assert (again.shards_written, again.shards_skipped) == (0, 4)
    assert any("already has flow" in line for line in lines)
    assert dataset_clips(later) == clips
    # a dataset converted with --flow is not redone; flow of another method is refused
    done = add_flow_to_dataset(with_flow, workers=1, log=None)
    assert (done.shards_written, done.clips) == (0, 0)
    shard = sorted(with_flow.glob("*.tfrecord"))[0]  # its clips relabelled as TV-L1 flow
    relabelled = [records.add_flow(r, records.clip_jpegs(r)[1], "tvl1", 20.0)
                  for r in add_flow_module._read_records(shard)]  # fmt: skip
    records.write_tfrecord_atomic(shard, relabelled)
    with pytest.raises(ValueError, match="method='tvl1'.*Received: method='farneback'"):
        add_flow_to_dataset(with_flow, workers=1, log=None)
    # a shard rewritten since its mark (a regenerated dataset) is not taken for one with flow
    plain = tmp_path / "plain"
    convert_dataset(_config(videos, plain), log=None)
    name = sorted(plain.glob("*.tfrecord"))[0].name
    (later / name).write_bytes((plain / name).read_bytes())
    third = add_flow_to_dataset(later, workers=1, log=None)
    assert (third.shards_written, third.shards_skipped) == (1, 3)
    assert dataset_clips(later) == clips


def test_conversion_with_flow_resumes(videos, tmp_path):
    out = tmp_path / "ds"
    convert_dataset(_config(videos, out, flow=True), log=None)
    shard = sorted(out.glob("*.tfrecord"))[0]
    shard.unlink()
    (out / ".prepare" / f"{shard.name}.json").unlink()
    summary = convert_dataset(_config(videos, out, flow=True), log=None)
    assert (summary.shards_written, summary.shards_skipped) == (1, 3)
    with pytest.raises(ValueError, match="other videos or settings"):
        convert_dataset(_config(videos, out), log=None)  # flow settings are in the fingerprint
    plain = tmp_path / "plain"
    convert_dataset(_config(videos, plain), log=None)
    with pytest.raises(ValueError, match=f"--add-flow {plain}"):
        convert_dataset(_config(videos, plain, flow=True), log=None)


def test_a_real_clip_converted_with_flow(shared_clips, tmp_path):
    videos = tmp_path / "videos" / "action"
    videos.mkdir(parents=True)
    os.symlink(shared_clips / "arm_wrestling_k400.mp4", videos / "clip.mp4")
    out = tmp_path / "ds"
    convert_dataset(_config(tmp_path / "videos", out, flow=True, short_side=64, max_frames=6),
                    log=None)  # fmt: skip
    ((frame_jpegs, flow_jpegs),) = dataset_clips(out).values()
    assert len(frame_jpegs) == 6
    assert_flow_of_stored_frames(frame_jpegs, flow_jpegs)


def test_tvl1_without_contrib_fails_before_any_work(tmp_path, monkeypatch):
    import cv2

    if hasattr(cv2, "optflow"):
        monkeypatch.delattr(cv2, "optflow")
    with pytest.raises(ValueError, match="opencv-contrib-python-headless"):
        ConvertConfig(videos=tmp_path, output=tmp_path / "o", flow=True, flow_method="tvl1")
    with pytest.raises(ValueError, match="opencv-contrib-python-headless"):
        add_flow_to_dataset(tmp_path, method="tvl1")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_add_flow_command_line(videos, tmp_path):
    """The README's step in a fresh process: prepare without flow, then `--add-flow DIR`."""
    out = tmp_path / "ds"
    convert_dataset(_config(videos, out), log=None)
    script = str(REPO_ROOT / "training" / "prepare.py")
    run = subprocess.run(
        [sys.executable, script, "--add-flow", str(out), "--workers", "1"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "[flow] done" in run.stdout + run.stderr
    assert json.loads((out / "metadata.json").read_text())["flow"]["method"] == "farneback"
    assert all(len(flow) for _, flow in dataset_clips(out).values())


def test_add_flow_to_a_version_1_dataset(tmp_path):
    """A dataset of format version 1 (no frame index) gets flow and a frame index; its frames and
    labels are kept, and it reads as two streams."""
    from keras_ispan.data.pipeline import PipelineConfig, make_dataset
    from tests.keras_ispan.data.test_clip_reader import _write_v1_dataset

    clips = [(smooth_frames(5, 24, 32, seed=n), [n % 2]) for n in range(2)]
    folder = _write_v1_dataset(tmp_path / "v1", clips, ["a", "b"], "test")
    before = dataset_clips(folder)
    add_flow_to_dataset(folder, workers=1, log=None)
    after = dataset_clips(folder)
    assert [frames for frames, _ in after.values()] == [frames for frames, _ in before.values()]
    for frame_jpegs, flow_jpegs in after.values():
        assert_flow_of_stored_frames(frame_jpegs, flow_jpegs)
    config = PipelineConfig(num_segments=2, image_size=16, batch_size=2, training=False,
                            modality="two_stream", flow_length=2)  # fmt: skip
    inputs, target = next(make_dataset(folder, "test", config).as_numpy_iterator())
    assert inputs["flow"].shape == (2, 2, 16, 16, 4) and sorted(target.tolist()) == [0, 1]
