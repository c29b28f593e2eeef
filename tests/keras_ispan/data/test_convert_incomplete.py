"""Incomplete files and every file accounted for (issue 13, kind 2).

An MP4 with its index at the front (`+faststart`), 120 frames / 4 s, cut at half its bytes, decodes to
about half its frames without any decoder error; it must be reported as incomplete (by name, in the
log and in `metadata.json`), and kept or skipped as `--incomplete` says. After a conversion, every
file under the videos folder is a clip or is named with its reason.
"""

import json
import pathlib
import sys

import numpy as np
import pytest

from keras_ispan.data.convert import ConvertConfig, convert_dataset
from keras_ispan.io.video import INCOMPLETE_FRACTION, decode_video, read_clip
from tests import hang
from tests.keras_ispan.data.helpers import smooth_frames, write_video

PREPARE = pathlib.Path(__file__).resolve().parents[3] / "training" / "prepare.py"


def _write_faststart(path, num_frames=120, fps=30):
    """Noisy 64x48 H.264 frames (the bytes spread over the whole clip), index at the front."""
    frames = np.random.default_rng(0).integers(0, 256, (num_frames, 48, 64, 3), dtype=np.uint8)
    return write_video(path, frames, fps, "mp4", options={},
                       container_options={"movflags": "faststart"})  # fmt: skip


@pytest.fixture(scope="module")
def faststart(tmp_path_factory):
    root = tmp_path_factory.mktemp("faststart")
    whole = _write_faststart(root / "whole.mp4")
    data = whole.read_bytes()
    cut = root / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return whole, cut


def test_truncated_faststart_is_incomplete(faststart):
    whole, cut = faststart
    frames, info = decode_video(whole)
    assert len(frames) == 120 and info["incomplete"] is False and info["warning"] is None
    assert info["declared_frames"] == 120 and info["declared_seconds"] == pytest.approx(4.0)
    frames, info = decode_video(cut)
    assert 0 < len(frames) < INCOMPLETE_FRACTION * 120
    assert info["incomplete"] is True
    assert "incomplete" in info["warning"] and "of 120 declared frames" in info["warning"]
    assert "of 4.00 s declared" in info["warning"]


def test_max_frames_is_not_incomplete(faststart):
    whole, _ = faststart
    _, info = decode_video(whole, max_frames=10)
    assert info["incomplete"] is False and info["warning"] is None
    _, info = decode_video(whole, fps=5)  # subsampling decodes every frame: complete
    assert info["num_frames"] == 20 and info["incomplete"] is False


def test_read_clip_reports_incomplete(faststart):
    whole, cut = faststart
    _, info = read_clip(whole, 4, short_side=None)
    assert info["incomplete"] is False and info["warning"] is None
    clip, info = read_clip(cut, 4, short_side=None)
    assert clip.shape[:2] == (1, 4)
    assert info["incomplete"] is True and "of 120 declared frames" in info["warning"]


def _videos_with_cut(root, faststart):
    _, cut = faststart
    write_video(root / "a" / "good.mp4", smooth_frames(6, 32, 32))
    write_video(root / "b" / "good.mp4", smooth_frames(6, 32, 32, seed=1))
    (root / "b" / "cut.mp4").write_bytes(cut.read_bytes())
    return root / "b" / "cut.mp4"


@pytest.mark.parametrize("policy", ["keep", "skip"])
def test_convert_reports_incomplete(faststart, tmp_path, policy):
    cut = _videos_with_cut(tmp_path / "videos", faststart)
    lines = []
    config = ConvertConfig(
        videos=tmp_path / "videos", output=tmp_path / "ds", test_fraction=0.0, val_fraction=0.0,
        workers=1,
        incomplete=policy,
    )  # fmt: skip
    summary = convert_dataset(config, log=lines.append)
    action = "kept" if policy == "keep" else "skipped"
    assert summary.counts == {"train": 3 if policy == "keep" else 2}
    assert summary.failed == [] and summary.unused == []
    assert [(p, a) for p, _, a in summary.incomplete] == [(str(cut), action)]
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    assert meta["settings"]["incomplete"] == policy
    assert len(meta["incomplete"]) == 1
    path, reason, recorded = meta["incomplete"][0]
    assert (path, recorded) == (str(cut), action) and "of 120 declared frames" in reason
    assert meta["counts"] == summary.counts
    if policy == "keep":
        assert [p for p, _ in meta["warnings"]] == [str(cut)]
    log = "\n".join(lines)
    assert f"incomplete ({action}): {cut}: incomplete video" in log
    assert f"1 incomplete ({policy})" in log


def test_prepare_cli_incomplete_skip(faststart, tmp_path):
    cut = _videos_with_cut(tmp_path / "videos", faststart)
    (tmp_path / "videos" / "a" / "notes.txt").write_text("hello\n")
    run = hang.run(
        [sys.executable, str(PREPARE), "--videos", str(tmp_path / "videos"), "--output",
         str(tmp_path / "ds"), "--test-fraction", "0", "--workers", "1", "--incomplete", "skip"],
        step="prepare.py --incomplete skip", capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"incomplete (skipped): {cut}" in run.stdout
    assert f"not used: {tmp_path / 'videos' / 'a' / 'notes.txt'}: not a video file" in run.stdout
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    assert meta["counts"] == {"train": 2}
    assert meta["incomplete"][0][0] == str(cut) and meta["incomplete"][0][2] == "skipped"


def _dataset_video_ids(folder):
    import tensorflow as tf

    from keras_ispan.data.clip_reader import parse_clip

    return {
        parse_clip(r)["video_id"].numpy().decode()
        for shard in folder.glob("*.tfrecord")
        for r in tf.data.TFRecordDataset(str(shard))
    }


def _accounted(root, out, lines):
    """Every file under `root`: `{path: "clip" | reason}`; asserts each is named in the log too."""
    meta = json.loads((out / "metadata.json").read_text())
    named = {}
    for video_id in _dataset_video_ids(out):
        named[str(root / video_id)] = "clip"
    for path, reason in meta["failed"]:
        named[path] = f"failed: {reason}"
    for path, reason, action in meta["incomplete"]:
        if action == "skipped":
            named[path] = f"incomplete: {reason}"
    for path, reason in meta["unused_files"]:
        assert path not in named, path
        named[path] = reason
    log = "\n".join(lines)
    for path, reason in named.items():
        if reason != "clip":
            assert path in log, path
    return named


def test_folder_of_many_kinds_leaves_nothing_unaccounted(faststart, tmp_path):
    root = tmp_path / "videos"
    _videos_with_cut(root, faststart)
    (root / "a" / "notes.txt").write_text("not a video\n")
    (root / "a" / ".DS_Store").write_bytes(b"\0\1\2")
    (root / "b" / "broken.mp4").write_text("garbage " * 100)
    (root / "b" / "nested").mkdir()
    write_video(root / "b" / "nested" / "deep.mp4", smooth_frames(4, 32, 32, seed=2))
    write_video(root / "stray.mp4", smooth_frames(4, 32, 32, seed=3))  # in no class folder
    (root / "README.md").write_text("my videos\n")
    (root / "clip.MTS").write_bytes(b"\0" * 100)  # an extension the layouts do not read
    lines = []
    config = ConvertConfig(
        videos=root,
        output=tmp_path / "ds",
        test_fraction=0.0,
        val_fraction=0.0,
        workers=1,
        incomplete="skip",
    )
    summary = convert_dataset(config, log=lines.append)
    named = _accounted(root, tmp_path / "ds", lines)
    every = {str(p) for p in root.rglob("*") if p.is_file()}
    assert set(named) == every  # nothing unaccounted for
    assert summary.counts == {"train": 3}  # a/good, b/good, b/nested/deep
    assert named[str(root / "b" / "nested" / "deep.mp4")] == "clip"
    assert named[str(root / "b" / "cut.mp4")].startswith("incomplete:")
    assert named[str(root / "b" / "broken.mp4")].startswith("failed: not a readable media file")
    assert named[str(root / "a" / "notes.txt")].startswith("not a video file")
    assert named[str(root / "a" / ".DS_Store")].startswith("a hidden file")
    assert named[str(root / "clip.MTS")].startswith("not a video file")
    assert "outside the class folders" in named[str(root / "stray.mp4")]
    assert f"{len(summary.unused)} files under the videos folder not used" in "\n".join(lines)


def test_split_file_layout_names_videos_in_no_split(tmp_path):
    """UCF101 lists inside the videos folder: the lists are annotations, an unlisted video is named."""
    root = tmp_path / "UCF"
    write_video(root / "Walk" / "v_Walk_g01_c01.avi", smooth_frames(4, 32, 32))
    write_video(root / "Run" / "v_Run_g01_c01.avi", smooth_frames(4, 32, 32, seed=1))
    write_video(root / "Run" / "v_Run_g02_c01.avi", smooth_frames(4, 32, 32, seed=2))  # unlisted
    ann = root / "ucfTrainTestlist"
    ann.mkdir()
    (ann / "classInd.txt").write_text("1 Run\n2 Walk\n")
    (ann / "trainlist01.txt").write_text("Walk/v_Walk_g01_c01.avi 2\n")
    (ann / "testlist01.txt").write_text("Run/v_Run_g01_c01.avi\n")
    (ann / "trainlist02.txt").write_text("")  # another split's list: not read
    lines = []
    config = ConvertConfig(videos=root, output=tmp_path / "ds", layout="ucf101", workers=1)
    summary = convert_dataset(config, log=lines.append)
    named = _accounted(root, tmp_path / "ds", lines)
    assert set(named) == {str(p) for p in root.rglob("*") if p.is_file()}
    assert summary.counts == {"train": 1, "test": 1}
    assert "in no split" in named[str(root / "Run" / "v_Run_g02_c01.avi")]
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        assert named[str(ann / name)].startswith("annotation file of the ucf101 layout")
    assert named[str(ann / "trainlist02.txt")].startswith("not a video file")
