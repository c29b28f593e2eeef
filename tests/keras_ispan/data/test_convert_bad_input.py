"""Bad input: each problem is reported by file and reason, and every good video is still converted."""

import json
import pathlib
import sys

import pytest

from keras_ispan.data.convert import ConvertConfig, convert_dataset
from keras_ispan.data.layouts import parse_layout
from keras_ispan.data.pipeline import read_dataset_info
from tests import hang
from tests.keras_ispan.data.helpers import smooth_frames, write_video

PREPARE = pathlib.Path(__file__).resolve().parents[3] / "training" / "prepare.py"


def _good(path, seed=0):
    return write_video(path, smooth_frames(5, 32, 32, seed=seed))


def test_bad_videos_are_reported_and_skipped(tmp_path):
    root = tmp_path / "videos"
    good = [_good(root / "a" / "good1.mp4"), _good(root / "b" / "good2.avi", 1)]
    (root / "a" / "empty.mp4").write_bytes(b"")
    (root / "b" / "notes.mp4").write_text("not a video\n" * 50)
    data = (root / "a" / "good1.mp4").read_bytes()
    (root / "b" / "truncated.mp4").write_bytes(data[: len(data) // 3])
    lines = []
    config = ConvertConfig(
        videos=root, output=tmp_path / "ds", test_fraction=0.0, val_fraction=0.0, workers=2
    )
    summary = convert_dataset(config, log=lines.append)
    assert summary.counts == {"train": 2}
    failed = {pathlib_name(p): reason for p, reason in summary.failed}
    assert set(failed) == {"empty.mp4", "notes.mp4", "truncated.mp4"}
    assert "empty" in failed["empty.mp4"]
    assert "not a readable media file" in failed["notes.mp4"]
    text = "\n".join(lines)
    for name in failed:
        assert name in text  # each one logged by path
    assert "3 videos failed" in text
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    assert len(meta["failed"]) == 3 and meta["counts"] == {"train": 2}
    assert read_dataset_info(tmp_path / "ds").counts == {"train": 2}
    assert len(good) == 2


def pathlib_name(path):
    return path.rsplit("/", 1)[-1]


def test_split_file_naming_missing_videos(tmp_path):
    root, ann = tmp_path / "UCF", tmp_path / "lists"
    _good(root / "Walk" / "v_Walk_g01_c01.avi")
    _good(root / "Run" / "v_Run_g01_c01.avi", 1)
    ann.mkdir()
    (ann / "classInd.txt").write_text("1 Run\n2 Walk\n")
    (ann / "trainlist01.txt").write_text(
        "Walk/v_Walk_g01_c01.avi 2\nWalk/v_Walk_g09_c09.avi 2\nRun/v_Run_g01_c01.avi 1\n"
    )
    (ann / "testlist01.txt").write_text("Run/v_Run_g07_c01.avi\n")
    lines = []
    config = ConvertConfig(videos=root, output=tmp_path / "ds", layout="ucf101", annotations=ann)
    summary = convert_dataset(config, log=lines.append)
    assert summary.counts == {"train": 2}
    assert len(summary.problems) == 2
    assert any("trainlist01.txt:2" in p and "v_Walk_g09_c09.avi" in p for p in summary.problems)
    assert any("testlist01.txt:1" in p for p in summary.problems)
    assert sum("video not found" in line for line in lines) == 2


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        convert_dataset(ConvertConfig(videos=tmp_path / "nowhere", output=tmp_path / "o"), None)
    (tmp_path / "v").mkdir()
    with pytest.raises(FileNotFoundError, match="classInd"):
        parse_layout("ucf101", tmp_path / "v")
    with pytest.raises(ValueError, match="No class folders"):
        parse_layout("folders", tmp_path / "v")
    assert not (tmp_path / "o").exists()  # nothing written on a setup error


def test_unknown_layout_is_rejected():
    with pytest.raises(ValueError, match="layout='kinetics'"):
        ConvertConfig(videos=".", output="o", layout="kinetics")
    with pytest.raises(ValueError, match="layout='kinetics'"):
        parse_layout("kinetics", ".")


def test_cli_reports_errors_without_traceback(tmp_path):
    args = [sys.executable, str(PREPARE), "--videos", str(tmp_path / "nope"),
            "--output", str(tmp_path / "o")]  # fmt: skip
    result = hang.run(
        args, step="prepare.py with a missing --videos", capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "prepare.py: error:" in result.stderr and str(tmp_path / "nope") in result.stderr
    assert "Traceback" not in result.stderr
    bad = hang.run(
        [sys.executable, str(PREPARE), "--layout", "nope", "--output", "o"],
        step="prepare.py --layout nope", capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "invalid choice: 'nope'" in bad.stderr
