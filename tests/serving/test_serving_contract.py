"""TF Serving API contract, written once and run against every `server` (local; TF Serving if given).

Each answer is compared with the same SavedModel called in this process; each bad request gets TF
Serving's HTTP / gRPC code and an `{"error": ...}` body, and the server answers a good request after it.
"""

import base64
import concurrent.futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_utils import CLASS_NAMES, http, random_frames, smooth_frames
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.client import GrpcClient, RestClient, clip_input

FRAMES = random_frames((1, 3, 36, 48, 3), seed=11)
MAX = 64 * 2**20


@pytest.fixture(scope="module")
def local_signatures(served_base):
    """`{version: loaded SavedModel}` in this process, the reference for every answer."""
    return {v: tf.saved_model.load(str(served_base / "ispan" / str(v))) for v in (1, 2)}


def _ref(local_signatures, version, signature, frames):
    out = local_signatures[version].signatures[signature](frames=tf.constant(frames))
    return {k: v.numpy() for k, v in out.items()}


def _predict_url(server, suffix=""):
    return f"{server.rest}/v1/models/ispan{suffix}:predict"


def _good_rest(server):
    status, body = http("POST", _predict_url(server), {"inputs": {"frames": FRAMES.tolist()}})
    assert status == 200, body
    return body


def _channel(server):
    return grpc.insecure_channel(
        server.grpc,
        options=[("grpc.max_send_message_length", MAX), ("grpc.max_receive_message_length", MAX)],
    )


# ---------------------------------------------------------------- REST: status and metadata


def test_rest_status(server):
    status, body = http("GET", f"{server.rest}/v1/models/ispan")
    assert status == 200
    states = {s["version"]: s["state"] for s in body["model_version_status"]}
    assert states == {"1": "AVAILABLE", "2": "AVAILABLE"}
    assert body["model_version_status"][0]["status"]["error_code"] == "OK"
    status, body = http("GET", f"{server.rest}/v1/models/ispan/versions/1")
    assert status == 200 and [s["version"] for s in body["model_version_status"]] == ["1"]
    status, body = http("GET", f"{server.rest}/v1/models/ispan/labels/canary")
    assert status == 200 and [s["version"] for s in body["model_version_status"]] == ["2"]


def test_rest_metadata(server):
    status, body = http("GET", f"{server.rest}/v1/models/ispan/versions/2/metadata")
    assert status == 200
    assert body["model_spec"]["name"] == "ispan" and body["model_spec"]["version"] == "2"
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "serve_jpeg", "serve_preprocessed"} <= set(sigs)
    assert sigs["serving_default"]["inputs"]["frames"]["dtype"] == "DT_UINT8"
    assert sigs["serve_jpeg"]["inputs"]["frames"]["dtype"] == "DT_STRING"
    assert sigs["serve_jpeg"]["outputs"]["top_k_classes"]["dtype"] == "DT_STRING"


# ---------------------------------------------------------------- REST: predict


def test_rest_row_and_columnar_match_in_process(server, local_signatures):
    ref = _ref(local_signatures, 2, "serving_default", FRAMES)
    status, col = http("POST", _predict_url(server), {"inputs": {"frames": FRAMES.tolist()}})
    assert status == 200, col
    status, row = http(
        "POST", _predict_url(server), {"instances": [{"frames": FRAMES[0].tolist()}]}
    )
    assert status == 200, row
    (pred,) = row["predictions"]
    for name in ("logits", "probabilities", "attention", "top_k_scores"):
        np.testing.assert_allclose(np.asarray(col["outputs"][name]), ref[name], atol=1e-6)
        np.testing.assert_allclose(np.asarray(pred[name]), ref[name][0], atol=1e-6)
    assert col["outputs"]["top_k_classes"] == [[c.decode() for c in ref["top_k_classes"][0]]]
    assert set(pred["top_k_classes"]) == set(CLASS_NAMES)


def test_rest_jpeg_b64_matches_in_process(server, local_signatures):
    frames = smooth_frames((3, 40, 52, 3), seed=5)
    jpegs = clip_input(frames, "jpeg")
    ref = _ref(local_signatures, 2, "serve_jpeg", jpegs)
    b64 = [[{"b64": base64.b64encode(b).decode()} for b in jpegs[0]]]
    body = {"signature_name": "serve_jpeg", "inputs": {"frames": b64}}
    status, out = http("POST", _predict_url(server), body)
    assert status == 200, out
    np.testing.assert_allclose(
        np.asarray(out["outputs"]["probabilities"]), ref["probabilities"], atol=1e-6
    )
    row = {"signature_name": "serve_jpeg", "instances": [{"frames": b64[0]}]}
    status, out = http("POST", _predict_url(server), row)
    assert status == 200, out
    np.testing.assert_allclose(out["predictions"][0]["logits"], ref["logits"][0], atol=1e-6)


def test_rest_versions_and_labels(server, local_signatures):
    probs = {}
    for suffix in ("", "/versions/1", "/versions/2", "/labels/stable", "/labels/canary"):
        status, out = http(
            "POST", _predict_url(server, suffix), {"inputs": {"frames": FRAMES.tolist()}}
        )
        assert status == 200, (suffix, out)
        probs[suffix] = np.asarray(out["outputs"]["probabilities"])
    for version, suffix in (
        (1, "/versions/1"),
        (2, "/versions/2"),
        (1, "/labels/stable"),
        (2, "/labels/canary"),
        (2, ""),
    ):
        ref = _ref(local_signatures, version, "serving_default", FRAMES)
        np.testing.assert_allclose(probs[suffix], ref["probabilities"], atol=1e-6, err_msg=suffix)
    assert not np.allclose(probs["/versions/1"], probs["/versions/2"])  # the versions differ


def test_rest_client_library(server, local_signatures):
    client = RestClient(server.rest, "ispan", label="stable")
    try:
        out = client.predict(clip_input(FRAMES[0], "uint8"), "uint8")
        assert client.status()["model_version_status"][0]["version"] == "1"
    finally:
        client.close()
    ref = _ref(local_signatures, 1, "serving_default", FRAMES)
    np.testing.assert_allclose(out["probabilities"], ref["probabilities"], atol=1e-6)


# ---------------------------------------------------------------- REST: errors

_BAD_REQUESTS = {
    "wrong dtype": ("", {"inputs": {"frames": (FRAMES / 2.0 + 0.25).tolist()}}, 400),
    "wrong rank": ("", {"inputs": {"frames": FRAMES[0, 0].tolist()}}, 400),
    "missing inputs key": ("", {"signature_name": "serving_default"}, 400),
    "instances and inputs": ("", {"inputs": {"frames": [1]}, "instances": [[1]]}, 400),
    "unknown model": ("unknown_model", {"inputs": {"frames": FRAMES.tolist()}}, 404),
    "unknown version": ("/versions/7", {"inputs": {"frames": FRAMES.tolist()}}, 404),
    "unknown label": ("/labels/nope", {"inputs": {"frames": FRAMES.tolist()}}, 400),
    "unknown signature": (
        "",
        {"signature_name": "nope", "inputs": {"frames": FRAMES.tolist()}},
        400,
    ),
    "malformed json": ("", b'{"inputs": {"frames": [1, 2', 400),
    "unknown input key": ("", {"inputs": {"pixels": FRAMES.tolist()}}, 400),
    "corrupt jpeg": (
        "",
        {"signature_name": "serve_jpeg", "inputs": {"frames": [[{"b64": "bm90IGEganBlZw=="}]]}},
        400,
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_REQUESTS))
def test_rest_errors_then_good_request(server, case):
    suffix, body, code = _BAD_REQUESTS[case]
    if suffix == "unknown_model":
        url = f"{server.rest}/v1/models/unknown_model:predict"
    else:
        url = _predict_url(server, suffix)
    status, out = http("POST", url, body)
    assert status == code, (case, status, out)
    assert isinstance(out, dict) and isinstance(out.get("error"), str) and out["error"], out
    _good_rest(server)


@pytest.mark.parametrize(
    "path, code",
    [("/v1/models/unknown_model", 404), ("/v1/models/ispan/versions/9", 404),
     ("/v1/models/unknown_model/metadata", 404)],
)  # fmt: skip
def test_rest_status_errors(server, path, code):
    status, out = http("GET", server.rest + path)
    assert status == code and out["error"], out
    _good_rest(server)


# ---------------------------------------------------------------- gRPC


def test_grpc_predict_status_metadata(server, local_signatures):
    client = GrpcClient(server.grpc, "ispan", version=1)
    try:
        out = client.predict(clip_input(FRAMES[0], "uint8"), "uint8")
        jpegs = clip_input(smooth_frames((2, 30, 40, 3), seed=2), "jpeg")
        out_jpeg = client.predict(jpegs, "jpeg")
        status = client.status()
        metadata = client.metadata()
    finally:
        client.close()
    np.testing.assert_allclose(
        out["probabilities"], _ref(local_signatures, 1, "serving_default", FRAMES)["probabilities"],
        atol=1e-6,
    )  # fmt: skip
    ref = _ref(local_signatures, 1, "serve_jpeg", jpegs)
    np.testing.assert_allclose(out_jpeg["logits"], ref["logits"], atol=1e-6)
    np.testing.assert_array_equal(out_jpeg["top_k_classes"], ref["top_k_classes"])
    (entry,) = status.model_version_status
    assert entry.version == 1
    assert entry.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert metadata.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["serve_jpeg"].inputs["frames"].dtype == tf.string.as_datatype_enum


def _grpc_predict(server, name="ispan", version=None, label=None, signature="", frames=FRAMES):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.model_spec.signature_name = signature
    request.inputs["frames"].CopyFrom(tf.make_tensor_proto(frames))
    with _channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=120)


@pytest.mark.parametrize(
    "kwargs, codes",
    [
        ({"name": "unknown_model"}, {grpc.StatusCode.NOT_FOUND}),
        ({"version": 7}, {grpc.StatusCode.NOT_FOUND}),
        ({"label": "nope"}, {grpc.StatusCode.INVALID_ARGUMENT}),
        ({"signature": "nope"}, {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT}),
        ({"frames": FRAMES.astype(np.float32)}, {grpc.StatusCode.INVALID_ARGUMENT}),
        ({"frames": FRAMES[0, 0]}, {grpc.StatusCode.INVALID_ARGUMENT}),
    ],
    ids=["unknown model", "unknown version", "unknown label", "unknown signature", "wrong dtype", "wrong rank"],
)  # fmt: skip
def test_grpc_errors_then_good_request(server, kwargs, codes):
    with pytest.raises(grpc.RpcError) as info:
        _grpc_predict(server, **kwargs)
    assert info.value.code() in codes, info.value
    assert info.value.details()
    assert _grpc_predict(server).model_spec.version.value == 2


def test_grpc_status_errors(server):
    with _channel(server) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        for name, version in (("unknown_model", None), ("ispan", 9)):
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = name
            if version:
                request.model_spec.version.value = version
            with pytest.raises(grpc.RpcError) as info:
                stub.GetModelStatus(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_20mb_request(server, local_signatures):
    frames = random_frames((1, 20, 600, 600, 3), seed=3)
    assert frames.nbytes > 20 * 10**6
    response = _grpc_predict(server, version=2, frames=frames)
    ref = _ref(local_signatures, 2, "serving_default", frames)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["logits"]), ref["logits"], atol=1e-5
    )
    _good_rest(server)


def test_concurrent_rest_and_grpc(server, local_signatures):
    ref = _ref(local_signatures, 2, "serving_default", FRAMES)["probabilities"]

    def rest_calls(_):
        client = RestClient(server.rest, "ispan")
        try:
            return [client.predict(FRAMES, "uint8")["probabilities"] for _ in range(4)]
        finally:
            client.close()

    grpc_client = GrpcClient(server.grpc, "ispan")

    def grpc_calls(_):
        return [grpc_client.predict(FRAMES, "uint8")["probabilities"] for _ in range(4)]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(rest_calls, i) for i in range(2)]
        futures += [pool.submit(grpc_calls, i) for i in range(2)]
        results = [p for f in futures for p in f.result(timeout=300)]
    grpc_client.close()
    assert len(results) == 16
    for probs in results:
        np.testing.assert_allclose(probs, ref, atol=1e-6)


@pytest.mark.slow
def test_client_cli_on_real_clip(server, shared_clips, local_signatures):
    """`client.py --json` over REST (JPEG) and gRPC (uint8) against the in-process SavedModel."""
    import json
    import subprocess
    import sys

    from serving_utils import REPO_ROOT

    from serving.client import load_clip

    video = shared_clips / "arm_wrestling_k400.mp4"
    out = {}
    for flag, target, fmt in (("--rest", server.rest, "jpeg"), ("--grpc", server.grpc, "uint8")):
        proc = subprocess.run(
            [sys.executable, "serving/client.py", str(video), "--model", "ispan", flag, target,
             "--format", fmt, "--frames", "4", "--version", "1", "--json"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        (line,) = proc.stdout.strip().splitlines()
        out[fmt] = json.loads(line)
    frames = load_clip(video, num_frames=4)  # the video's own resolution: the server resizes
    ref = _ref(local_signatures, 1, "serving_default", frames[None])
    expected = [c.decode() for c in ref["top_k_classes"][0]]
    assert [e["class"] for e in out["uint8"]["top_k"]] == expected
    np.testing.assert_allclose(
        [e["score"] for e in out["uint8"]["top_k"]], ref["top_k_scores"][0], atol=1e-5
    )
    assert sorted(e["class"] for e in out["jpeg"]["top_k"]) == sorted(CLASS_NAMES)
    for record in out.values():
        assert record["frames_used"] == 4 and record["attention_shape"][0] == 4
        assert record["version"] == 1 and record["model"] == "ispan"
