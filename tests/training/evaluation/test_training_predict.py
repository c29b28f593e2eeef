"""Attention pictures, predict.py on real clips, evaluate.py with the frames sweep, fit.py argument errors."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from keras_ispan.models import classifier_info, load_classifier
from training.evaluation import attention_pictures as visualize


def test_overlay_matches_a_numpy_blend():
    frames = np.full((3, 8, 8, 3), 100, np.uint8)
    attention = np.zeros((3, 2, 2))
    attention[1, 0, 0] = 1.0
    out = visualize.overlay_attention(frames, attention, alpha=0.5)
    assert out.shape == frames.shape and out.dtype == np.uint8
    zero = visualize._colormap(np.zeros(1))[0].astype(float)
    np.testing.assert_allclose(out[0, 0, 0], np.clip(0.5 * 100 + 0.5 * zero, 0, 255), atol=1)
    assert out[1, 0, 0].sum() > out[0, 0, 0].sum()  # the attended corner is brighter
    with pytest.raises(ValueError, match="attention must be"):
        visualize.overlay_attention(frames, np.zeros((2, 2, 2)))


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_picture_has_one_panel_per_frame(tmp_path, suffix):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 20, 20, 3), dtype=np.uint8)
    attention = rng.random((5, 4, 4))
    path = visualize.save_attention_picture(
        frames, attention, tmp_path / f"a{suffix}", panel_size=32
    )
    with Image.open(path) as image:
        if suffix == ".gif":
            assert image.n_frames == 5 and image.width == 32
        else:
            assert (image.width, image.height) == (5 * 32, 32)
    with pytest.raises(ValueError, match=".png or .gif"):
        visualize.save_attention_picture(frames, attention, tmp_path / "a.jpg")


@pytest.fixture
def trained_model(trained_run):
    return trained_run


def test_predict_on_real_clips(shared_clips, trained_model, tmp_path, capsys):
    from training import predict

    videos = sorted(str(p) for p in shared_clips.iterdir() if p.suffix in (".mp4", ".avi", ".gif"))[
        :3
    ]
    out = tmp_path / "attention.gif"
    status = predict.main(
        [*videos, "--model", str(trained_model.model_path), "--frames", "6", "--top-k", "2",
         "--visualize", str(out)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0
    classes = list(classifier_info(load_classifier(trained_model.model_path)).class_names)
    for video in videos:
        assert video in printed
    rows = [
        line.split() for line in printed.splitlines() if line.startswith("  ") and "->" not in line
    ]
    scores = [float(row[0]) for row in rows]
    names = [row[1] for row in rows]
    assert len(scores) == 2 * len(videos) and set(names) <= set(classes)
    assert all(0.0 <= score <= 1.0 for score in scores)
    for video in videos:
        stem = video.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        with Image.open(tmp_path / f"attention-{stem}.gif") as image:
            assert image.n_frames == 6


def test_predict_png_and_bad_inputs(shared_clips, trained_model, tmp_path, capsys):
    from training import predict
    from training.evaluation.prediction import load_predictor, predict_video

    video = next(p for p in sorted(shared_clips.iterdir()) if p.suffix == ".mp4")
    predictor = load_predictor(trained_model.model_path)
    result = predict_video(predictor, video, num_frames=4, top_k=3)
    assert result.frames.shape == (4, 32, 32, 3)
    assert result.attention.shape[0] == 4
    assert result.attention.sum() == pytest.approx(1.0, rel=1e-4)
    assert sum(p for _, p in result.top_k) == pytest.approx(result.probabilities.sum(), rel=1e-6)
    assert [p for _, p in result.top_k] == sorted((p for _, p in result.top_k), reverse=True)
    png = tmp_path / "a.png"
    assert predict.main([str(video), "--model", str(trained_model.model_path), "--frames", "4",
                         "--visualize", str(png)]) == 0  # fmt: skip
    with Image.open(png) as image:  # the video's own frames, shorter side 224 to 360 px, titled
        assert image.width >= 4 * 224 and video.name in image.text["Title"]
        assert result.top_k[0][0] in image.text["Title"]
    not_video = tmp_path / "x.mp4"
    not_video.write_text("nope")
    assert predict.main([str(not_video), "--model", str(trained_model.model_path)]) == 1
    assert "Cannot decode video" in capsys.readouterr().err
    assert predict.main([str(video), "--model", str(not_video)]) == 2


def test_evaluate_cli_with_multi_view_and_sweep(trained_model, tmp_path, capsys):
    from training import evaluate

    out = tmp_path / "eval"
    status = evaluate.main(
        ["--model", str(trained_model.model_path), "--segments", "4", "--crops", "3", "--clips", "2",
         "--sweep", "1,2,4", "--out", str(out), "--chunk-views", "4"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    summary = json.loads((out / "evaluation.json").read_text())
    assert [row["frames"] for row in summary["frames_sweep"]] == [1, 2, 4]
    assert summary["metrics"]["num_clips"] == 6
    assert (out / "frames_sweep.png").is_file() and (out / "confusion.png").is_file()
    printed = capsys.readouterr().out
    assert "frames sweep" in printed and "top1" in printed


def test_evaluate_rejects_a_dataset_with_other_classes(trained_model, tmp_path, capsys):
    from training import evaluate

    other = tmp_path / "other"
    other.mkdir()
    (other / "labels.txt").write_text("x\ny\nz\n")
    (other / "metadata.json").write_text(
        json.dumps({"classes": ["x", "y", "z"], "counts": {"test": 1}})
    )
    out = tmp_path / "eval"
    assert evaluate.main(["--model", str(trained_model.model_path), "--data", str(other),
                          "--out", str(out)]) == 2  # fmt: skip
    assert "disagree" in capsys.readouterr().err
    assert not out.exists()


def test_fit_cli_rejects_misspelt_keys(capsys):
    from training import fit

    assert fit.main(["--set", "optim.lerning_rate=0.1"]) == 2
    assert "did you mean 'optim.learning_rate'" in capsys.readouterr().err
    assert fit.main(["--preset", "ucf101", "--epochs", "3", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["train"]["epochs"] == 3 and printed["model"]["backbone"] == "resnet50"


def test_predict_json_and_same_named_videos(shared_clips, trained_model, tmp_path, capsys):
    """`--json` prints one object per video per line; two videos named alike get two pictures."""
    from training import predict

    source = shared_clips / "pool_cleaning.mp4"
    videos = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "clip.mp4").symlink_to(source)
        videos.append(str(tmp_path / folder / "clip.mp4"))
    out = tmp_path / "att.png"
    status = predict.main(
        [*videos, "--model", str(trained_model.model_path), "--json", "--top-k", "3",
         "--visualize", str(out)]
    )  # fmt: skip
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["video"] for r in records] == videos
    classes = list(classifier_info(load_classifier(trained_model.model_path)).class_names)
    for record in records:
        assert (
            set(t["class"] for t in record["top_k"]) <= set(classes) and len(record["top_k"]) == 3
        )
        scores = [t["score"] for t in record["top_k"]]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
        assert record["frames_used"] == 8 and len(record["frame_indices"]) == 8
        assert record["attention_shape"][0] == 8 and record["latency_ms"] > 0
    pictures = [r["attention_picture"] for r in records]
    assert len(set(pictures)) == 2 and all(pathlib.Path(p).is_file() for p in pictures)
    assert records[0]["top_k"] == records[1]["top_k"]  # same content, same answer


def test_picture_paths_never_collide():
    from training.predict import picture_paths

    videos = [pathlib.Path(p) for p in ("a/clip.mp4", "b/clip.mp4", "c/other.avi")]
    paths = picture_paths(pathlib.Path("out/att.gif"), videos)
    assert len(set(paths)) == 3
    assert paths[2] == pathlib.Path("out/att-other.gif")
    assert picture_paths(pathlib.Path("x.png"), videos[:1]) == [pathlib.Path("x.png")]
