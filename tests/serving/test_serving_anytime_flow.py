"""The anytime flow across processes (issue 15): `export.py --anytime-threshold X` records the default
threshold, the local server applies it to `client.py --anytime` requests without `--threshold`, and the
client's answer equals `training/predict.py --anytime --threshold X --json` on the same video (the same
frames in the same order; scores within the uint8 transport tolerance of the journey tests). REST
answers report the version that served them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from serving_utils import REPO_ROOT, ServerProcess

from tests.ports import free_port
from tests.tiny_files import save_tiny_classifier, write_marked_video

pytestmark = pytest.mark.slow
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
ATOL = 1e-5  # uint8 frames resized for transport: exact (tests/serving/test_serving_client.py)
MAX_FRAMES = 4


def _run(script, *args, status=0):
    proc = subprocess.run(
        [sys.executable, script, *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
        env=ENV, timeout=900,
    )  # fmt: skip
    assert proc.returncode == status, f"{script}: {proc.stderr[-3000:]}"
    return proc.stdout if status == 0 else proc.stderr


def _predict(capsys, model, video, threshold, criterion="top1"):
    from training import predict

    argv = [str(video), "--model", str(model), "--anytime", "--threshold", repr(threshold),
            "--max-frames", str(MAX_FRAMES), "--json", "--criterion", criterion]  # fmt: skip
    capsys.readouterr()
    status = predict.main(argv)
    out = capsys.readouterr()
    assert status == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def _level_threshold(model, video, criterion="top1"):
    """A threshold first reached at the second check point (2 frames) or before, with a margin of
    more than ten times the transport tolerance to every confidence (`criterion`)."""
    from keras_ispan.models import AnytimeClassifier
    from keras_ispan.models.anytime import confidence
    from training.evaluation.prediction import load_predictor, predict_video_anytime

    predictor = load_predictor(model)
    taken = predict_video_anytime(predictor, video, threshold=2.0, max_frames=MAX_FRAMES)
    steps = AnytimeClassifier(predictor.outputs_model).predict(
        taken.frames, 2.0, order=np.arange(MAX_FRAMES)
    )
    confidences = confidence(steps.step_probabilities, criterion)
    below = confidences[confidences < confidences[1]]
    threshold = float((confidences[1] + (below.max() if below.size else 0.0)) / 2)
    assert np.abs(confidences - threshold).min() > 10 * ATOL, confidences
    return threshold


def _same_answer(served, local):
    for key in ("frames_used", "frame_indices", "attention_shape"):
        assert served[key] == local[key], key
    assert [e["class"] for e in served["top_k"]] == [e["class"] for e in local["top_k"]]
    np.testing.assert_allclose(
        [e["score"] for e in served["top_k"]], [e["score"] for e in local["top_k"]], atol=ATOL
    )
    assert served["anytime"]["threshold"] == pytest.approx(local["anytime"]["threshold"], abs=1e-6)
    for key in ("stopped", "max_frames", "criterion"):
        assert served["anytime"][key] == local["anytime"][key], key


def test_export_default_threshold_reaches_the_client(tmp_path, capsys):
    model = save_tiny_classifier(tmp_path / "tiny.keras")
    video = write_marked_video(tmp_path / "clip.mp4")
    threshold = _level_threshold(model, video)
    base = tmp_path / "models"
    _run("serving/export.py", "--model", model, "--export-base", base,
         "--anytime-threshold", repr(threshold), "--warmup-frames", "1")  # fmt: skip
    info = json.loads((base / "ispan" / "1" / "assets.extra" / "keras_ispan.json").read_text())
    assert (info["anytime"]["threshold"], info["anytime"]["criterion"]) == (threshold, "top1")
    margin = _level_threshold(model, video, "margin")  # a second model: stops by the margin
    _run("serving/export.py", "--model", model, "--export-base", base, "--name", "margin",
         "--anytime-threshold", repr(margin), "--anytime-criterion", "margin",
         "--warmup-frames", "1")  # fmt: skip
    rest, grpc = free_port(), free_port()
    command = [sys.executable, "serving/server.py", f"--port={grpc}", f"--rest_api_port={rest}",
               f"--model_config_file={base / 'models.config'}"]  # fmt: skip
    server = ServerProcess("local", command, rest, grpc, tmp_path / "server.log").wait_ready()
    try:
        served = json.loads(_run("serving/client.py", video, "--grpc", server.grpc, "--anytime",
                                 "--max-frames", MAX_FRAMES, "--json"))  # fmt: skip
        local = _predict(capsys, model, video, threshold)
        assert local["frames_used"] <= 2 < MAX_FRAMES and local["anytime"]["stopped"] == "confident"
        _same_answer(served, local)
        assert (served["version"], served["transport"], served["format"]) == (1, "grpc", "uint8")
        for given in (0.0, 2.0):  # over REST, with a threshold of the request's own
            served = json.loads(_run("serving/client.py", video, "--rest", server.rest, "--anytime",
                                     "--threshold", given, "--max-frames", MAX_FRAMES, "--json"))  # fmt: skip
            _same_answer(served, _predict(capsys, model, video, given))
            assert served["frames_used"] == (1 if given == 0 else MAX_FRAMES)
            assert (served["version"], served["transport"]) == (1, "rest")
        served = json.loads(_run("serving/client.py", video, "--grpc", server.grpc, "--model",
                                 "margin", "--anytime", "--criterion", "margin", "--max-frames",
                                 MAX_FRAMES, "--json"))  # fmt: skip
        local = _predict(capsys, model, video, margin, "margin")
        assert local["anytime"]["criterion"] == "margin" and local["frames_used"] <= 2
        _same_answer(served, local)
        error = _run(
            "serving/client.py",
            video,
            video,
            "--grpc",
            server.grpc,
            "--anytime",
            "--criterion",
            "margin",
            status=2,
        )  # the top1 model: the stop rule differs; a usage error at the first video, not one per video
        assert "--criterion margin: model 'ispan' stops by top1" in error
        assert error.count("stops by top1") == 1
        plain = json.loads(_run("serving/client.py", video, "--rest", server.rest, "--format",
                                "uint8", "--json"))  # fmt: skip
        assert plain["version"] == 1 and "anytime" not in plain  # REST: from the model status
    finally:
        server.stop()
