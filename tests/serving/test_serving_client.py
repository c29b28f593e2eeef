"""`serving/client.py`: the same answer as `training/predict.py`, JSON records, one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from serving_utils import REPO_ROOT

from serving import client as client_lib
from serving.client import GrpcClient, RestClient, Transport, classify_video
from tests.ports import free_port

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
JSON_KEYS = {
    "video", "top_k", "frames_used", "frame_indices", "attention_shape", "latency_ms", "model",
    "version", "transport", "format", "rotation", "warnings",
}  # fmt: skip
PREDICT_KEYS = {"video", "top_k", "frames_used", "frame_indices", "attention_shape", "latency_ms"}


def _client_cli(*args):
    return subprocess.Popen(
        [sys.executable, "serving/client.py", *map(str, args)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


@pytest.mark.slow
def test_client_uint8_answer_is_training_predict_answer(server, shared_clips, tiny_model, tmp_path):
    """gRPC uint8 to version 1 = `training/predict.py` on the same model file, within 1e-5."""
    from training.evaluation.prediction import load_predictor, predict_video

    videos = [shared_clips / "arm_wrestling_k400.mp4", shared_clips / "drink_water_ntu_1080p.avi"]
    proc = _client_cli(
        *videos, "--grpc", server.grpc, "--version", 1, "--format", "uint8", "--top-k", 2, "--json"
    )
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    records = [json.loads(line) for line in out.strip().splitlines()]
    tiny_model.save(tmp_path / "v1.keras")  # version 1 of the served model
    predictor = load_predictor(tmp_path / "v1.keras")
    for video, record in zip(videos, records, strict=True):
        assert set(record) == JSON_KEYS
        assert record["video"] == str(video)
        assert (record["model"], record["version"]) == ("ispan", 1)
        assert (record["transport"], record["format"]) == ("grpc", "uint8")
        ref = predict_video(predictor, video, num_frames=8, top_k=2).to_json()
        assert set(ref) >= PREDICT_KEYS
        for key in ("frames_used", "frame_indices", "attention_shape"):
            assert record[key] == ref[key], key
        assert [e["class"] for e in record["top_k"]] == [e["class"] for e in ref["top_k"]]
        np.testing.assert_allclose(
            [e["score"] for e in record["top_k"]], [e["score"] for e in ref["top_k"]], atol=1e-5
        )
        assert record["latency_ms"] > 0


@pytest.mark.slow
def test_client_errors_are_one_line(server, shared_clips, tmp_path):
    good = shared_clips / "arm_wrestling_k400.mp4"
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    rest_port = server.rest.rsplit(":", 1)[1]
    cases = {
        "bad video": (
            [good, bad, "--rest", server.rest, "--json"],
            1,
            f"client.py: error: Cannot decode video {bad}: not a readable media file",
        ),
        "no server": (
            [good, "--rest", f"http://127.0.0.1:{free_port()}"],
            2,
            "no server is listening (connection refused)",
        ),
        "wrong model": (
            [good, "--grpc", server.grpc, "--model", "nope"],
            2,
            f"client.py: error: --model nope: not served at {server.grpc}",
        ),
        "rest without http": (
            [good, "--rest", f"127.0.0.1:{rest_port}"],
            2,
            f"client.py: error: --rest 127.0.0.1:{rest_port}: expected http://HOST:PORT",
        ),
        "rest port to grpc": (
            [good, "--grpc", f"127.0.0.1:{rest_port}"],
            2,
            f"client.py: error: --grpc 127.0.0.1:{rest_port}: the server there does not speak gRPC",
        ),
    }
    procs = {name: _client_cli(*args) for name, (args, _, _) in cases.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        _, code, message = cases[name]
        assert proc.returncode == code, (name, err[-2000:])
        assert "Traceback" not in err, (name, err[-2000:])
        lines = [line for line in err.splitlines() if line.startswith("client.py:")]
        assert len(lines) == 1 and message in lines[0], (name, lines, err[-2000:])
        if name == "bad video":  # the good video is still classified
            (line,) = out.strip().splitlines()
            assert json.loads(line)["video"] == str(good)
        else:
            assert not out


def test_classify_video_records(server, shared_clips):
    video = shared_clips / "basketball_practice.mp4"
    rest = RestClient(server.rest, "ispan")
    grpc_client = GrpcClient(server.grpc, "ispan", label="stable")
    try:
        assert rest.transport() == Transport(37, 32, "preprocess")  # the model's 32 * 256 / 224
        by_rest = classify_video(rest, video, fmt="jpeg", num_frames=3, top_k=2)
        by_grpc = classify_video(grpc_client, video, fmt="uint8", num_frames=3, top_k=5)
    finally:
        rest.close()
        grpc_client.close()
    assert set(by_rest) == set(by_grpc) == JSON_KEYS
    # gRPC answers say which version answered; over REST the client asks the model status: the
    # latest AVAILABLE version (both are served), the one unversioned requests go to
    assert (by_rest["version"], by_grpc["version"]) == (2, 1)
    assert len(by_rest["top_k"]) == 2 and len(by_grpc["top_k"]) == 3  # the model has 3 classes
    assert by_rest["frames_used"] == 3 and len(by_rest["frame_indices"]) == 3
    assert by_grpc["attention_shape"][0] == 3
    json.dumps(by_rest)


class _FakeClient(client_lib._ClientBase):
    model, version, transport_name = "m", None, "fake"

    def __init__(self, signatures, outputs=None):
        self._signatures, self._outputs, self.calls = signatures, outputs, []

    def signatures(self):
        return self._signatures

    def predict_signature(self, name, inputs):
        self.calls.append((name, {k: v.shape for k, v in inputs.items()}))
        return self._outputs[name], None

    def _version_states(self):
        return [(3, "AVAILABLE"), (4, "LOADING")]


def test_transport_is_learned_once_from_preprocess_or_falls_back():
    outputs = {"preprocess": {"short_side": np.array([128]), "image_size": np.array([112])}}
    fake = _FakeClient({"preprocess": {"frames": [None] * 4 + [3]}}, outputs)
    assert fake.transport() == Transport(128, 112, "preprocess")
    assert fake.transport().note is None
    assert fake.calls == [("preprocess", {"frames": (1, 1, 1, 1, 3)})]  # once, cached
    assert fake.transport(short_side=90) == Transport(90, None, "override")
    old = _FakeClient({"serve_preprocessed": {"frames": [None, None, 224, 224, 3]}})
    assert old.transport() == Transport(256, 224, "fallback")
    assert "no 'preprocess' signature" in old.transport().note
    with pytest.raises(client_lib.ServerError, match="give --short-side"):
        _FakeClient({"serving_default": {"frames": [None] * 4 + [3]}}).transport()


def test_more_top_k_than_the_export_returns_warns(shared_clips):
    outputs = {
        "serving_default": {
            "top_k_classes": np.array([[b"a", b"b"]], object),
            "top_k_scores": np.array([[0.6, 0.3]], np.float32),
            "probabilities": np.array([[0.6, 0.3, 0.1]], np.float32),
            "attention": np.zeros((1, 2, 2, 2), np.float32),
        }
    }
    fake = _FakeClient({}, outputs)
    video = shared_clips / "basketball_practice.mp4"
    with pytest.warns(client_lib.TopKWarning, match="top 2 of 3 classes"):
        record = classify_video(fake, video, fmt="uint8", num_frames=2, top_k=3, short_side=40)
    assert [e["class"] for e in record["top_k"]] == ["a", "b"]
    assert record["version"] == 3  # the answer does not say: the latest AVAILABLE in the status
    ((name, shapes),) = fake.calls
    assert name == "serving_default" and min(shapes["frames"][2:4]) == 40


def test_rotated_video_is_sent_upright_and_reported(tmp_path, capsys):
    """The client samples with `read_clip`: a 90-degree display matrix gives upright frames (an
    independent `np.rot90` reference), `rotation` and `warnings` in the record, one stderr line."""
    import argparse

    from keras_ispan.io.video import decode_video
    from tests.keras_ispan.io.test_video_orientation import _pattern, _write

    plain = _write(tmp_path / "plain.mp4", _pattern(6))
    rotated = _write(tmp_path / "rot90.mp4", _pattern(6), 90)
    reference, _ = decode_video(plain)
    outputs = {
        "serving_default": {
            "top_k_classes": np.array([[b"a", b"b"]], object),
            "top_k_scores": np.array([[0.6, 0.4]], np.float32),
            "probabilities": np.array([[0.6, 0.4]], np.float32),
            "attention": np.zeros((1, 2, 2, 2), np.float32),
        }
    }
    sent = []

    class Recording(_FakeClient):
        def predict_signature(self, name, inputs):
            sent.append(np.asarray(inputs["frames"]))
            return super().predict_signature(name, inputs)

    args = argparse.Namespace(
        format="uint8", frames=2, top_k=2, short_side=None, quality=90, anytime=False
    )
    fake = Recording({"preprocess": {"frames": [None] * 4 + [3]}}, outputs)
    fake._transport = Transport(240, 224, "preprocess")  # the short side of the stored video
    record = client_lib._classify_one(fake, rotated, args, set())
    err = capsys.readouterr().err
    assert record["rotation"] == 90 and "rotated 90 degrees" in record["warnings"][0]
    upright = np.rot90(reference[record["frame_indices"]], 1, axes=(1, 2))
    assert sent[0].shape == (1, 2, 320, 240, 3)
    assert np.array_equal(sent[0][0], upright)  # same bitstream, same size: exact
    lines = [line for line in err.splitlines() if line.startswith("client.py: warning:")]
    assert lines == [f"client.py: warning: {rotated}: {record['warnings'][0]}"]
    record = client_lib._classify_one(fake, plain, args, set())
    assert record["rotation"] == 0 and record["warnings"] == []
    assert "warning" not in capsys.readouterr().err
