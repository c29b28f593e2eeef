"""`predict.py` on videos as users have them (issue 13): rotated and truncated videos.

A rotated video is predicted on upright frames (compared with an independent reference: `np.rot90` of
the same content decoded from a copy without the display matrix), and what the decoder reports (the
rotation applied, an incomplete file) reaches the user: one line on stderr per video, `rotation` and
`warnings` in the `--json` records.
"""

import json

import numpy as np
import pytest

from keras_ispan.io.video import decode_video
from tests.keras_ispan.data.test_convert_incomplete import _write_faststart
from tests.keras_ispan.io.test_video_orientation import _write
from tests.tiny_files import CLASSES, marked_frames, save_tiny_classifier, write_marked_video


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_tiny_classifier(tmp_path_factory.mktemp("model") / "tiny.keras")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    frames = marked_frames(12)
    paths = {None: write_marked_video(root / "plain.mp4")}
    for degrees in (90, 270):
        paths[degrees] = _write(root / f"rot{degrees}.mp4", frames, degrees)
    whole = _write_faststart(root / "whole.mp4")
    data = whole.read_bytes()
    paths["cut"] = root / "cut.mp4"
    paths["cut"].write_bytes(data[: len(data) // 2])
    reference, _ = decode_video(paths[None])  # the stored frames, no display matrix
    return paths, reference


@pytest.mark.parametrize("degrees", [90, 270])
def test_rotated_video_is_predicted_upright(model_path, videos, degrees):
    from keras_ispan.io.frames_tf import eval_resize_and_crop
    from training.evaluation.prediction import load_predictor, predict_video

    paths, reference = videos
    predictor = load_predictor(model_path)
    result = predict_video(predictor, paths[degrees], num_frames=4, top_k=2)
    upright = np.rot90(reference[result.frame_indices], degrees // 90, axes=(1, 2))
    assert result.source_frames.shape == upright.shape == (4, 320, 240, 3)
    assert np.array_equal(result.source_frames, upright)  # same bitstream: exact
    transform = predictor.info.transform
    expected = eval_resize_and_crop(upright, transform.image_size, transform.resize_ratio).numpy()
    assert np.array_equal(result.frames, expected)  # the model input is the upright clip's
    other = np.rot90(reference[result.frame_indices], 4 - degrees // 90, axes=(1, 2))
    assert np.abs(result.source_frames.astype(int) - other).mean() > 20  # 90 and 270 told apart
    assert result.rotation == degrees
    assert any(f"rotated {degrees} degrees" in w for w in result.warnings)
    plain = predict_video(predictor, paths[None], num_frames=4, top_k=2)
    assert plain.rotation == 0 and plain.warnings == ()


def test_predict_cli_reports_rotation_and_incomplete(model_path, videos, capsys):
    from training import predict

    paths, _ = videos
    inputs = [paths[90], paths["cut"], paths[None]]
    status = predict.main(
        [*map(str, inputs), "--model", str(model_path), "--frames", "3", "--json"]
    )
    captured = capsys.readouterr()
    assert status == 0
    records = [json.loads(line) for line in captured.out.strip().splitlines()]
    assert [r["video"] for r in records] == [str(p) for p in inputs]
    rotated, cut, plain = records
    assert rotated["rotation"] == 90 and "rotated 90 degrees" in rotated["warnings"][0]
    assert cut["rotation"] == 0 and any("of 120 declared frames" in w for w in cut["warnings"])
    assert plain["rotation"] == 0 and plain["warnings"] == []
    lines = [line for line in captured.err.splitlines() if line.startswith("predict.py: warning:")]
    assert len(lines) == 2  # one line per video with something to say
    assert lines[0].startswith(f"predict.py: warning: {paths[90]}: display matrix applied")
    assert (
        lines[1].startswith(f"predict.py: warning: {paths['cut']}: ") and "incomplete" in lines[1]
    )
    status = predict.main([str(paths["cut"]), "--model", str(model_path), "--frames", "3"])
    captured = capsys.readouterr()
    assert status == 0 and "incomplete" in captured.err and str(paths["cut"]) in captured.out


def test_predict_window_timeline(model_path, tmp_path, capsys):
    """`--window`: one row (table) or JSON object per window, the windows' frames from inside them."""
    from tests.keras_ispan.io.test_video_windows import _write_cfr
    from training import predict
    from training.evaluation.prediction import load_predictor, predict_windows

    video = _write_cfr(tmp_path / "long.mp4")  # 9.5 s at 10 fps, content changing every 2 s
    status = predict.main([str(video), "--model", str(model_path), "--window", "2", "--frames",
                           "3", "--top-k", "2", "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0 and "warning" not in captured.err
    records = [json.loads(line) for line in captured.out.strip().splitlines()]
    assert [(r["start_s"], r["end_s"]) for r in records] == [
        (0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 9.5)
    ]  # fmt: skip
    for r in records:
        assert r["video"] == str(video) and len(r["top_k"]) == 2 and r["model"] == str(model_path)
        assert r["rotation"] == 0  # as in the whole-video records
        assert {e["class"] for e in r["top_k"]} <= set(CLASSES)
        assert all(r["start_s"] <= t < r["end_s"] for t in r["frame_times"])
    by_library = list(predict_windows(load_predictor(model_path), video, 2.0, num_frames=3))
    assert [w.top_k[0][0] for w in by_library] == [r["top_k"][0]["class"] for r in records]
    status = predict.main([str(video), "--model", str(model_path), "--window", "4"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert status == 0 and [row[:2] for row in rows] == [["0.00", "4.00"], ["4.00", "8.00"],
                                                         ["8.00", "9.50"]]  # fmt: skip
    assert all(row[3] in CLASSES and 0 <= float(row[2]) <= 1 for row in rows)
    assert predict.main([str(video), "--model", str(model_path), "--window", "0"]) == 2
    assert "Received: window=0.0" in capsys.readouterr().err


def test_window_text_timeline_shows_the_top_k_asked_for(model_path, tmp_path):
    """`--window --top-k 2` in a fresh process: the text rows show both labels (user review: the
    timeline printed the top-1 only, ignoring `--top-k`); without `--top-k`, top-1 as before."""
    from tests.cli.scripts import run_script
    from tests.keras_ispan.io.test_video_windows import _write_cfr

    video = _write_cfr(tmp_path / "long.mp4")  # 9.5 s
    done = run_script("training/predict.py", video, "--model", model_path, "--window", "5",
                      "--top-k", "2", "--frames", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines()[2:]]
    assert len(rows) == 2 and all(len(row) == 6 for row in rows), done.stdout
    for row in rows:
        assert {row[3], row[4]} <= set(CLASSES) and row[3] != row[4]
        assert 1 >= float(row[2]) >= float(row[5]) >= 0
