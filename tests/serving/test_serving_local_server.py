"""The local server's own behaviour: version pick-up, policies, warmup replay, limits, flags, JSON."""

import http.client as httplib
import json
import shutil
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from serving_utils import http, random_frames

from keras_ispan.export import server_configs as configs
from keras_ispan.io.atomic import write_text_atomic
from serving.client import GrpcClient
from serving.devserver import json_codec, model_registry
from serving.devserver.app import ModelServer, ServerOptions
from serving.devserver.errors import ServingError
from serving.server import parse_args
from tests.ports import free_port

FRAMES = random_frames((1, 2, 32, 32, 3), seed=1)


def _policy(text):
    config = configs.ModelServerConfig()
    entry = config.model_config_list.config.add(name="m", base_path="/x")
    text_format.Parse(text, entry.model_version_policy)
    return entry.model_version_policy


@pytest.mark.parametrize(
    "text, expected",
    [("", [5]), ("latest { num_versions: 2 }", [3, 5]), ("all {}", [1, 3, 5]),
     ("specific { versions: 1 versions: 4 }", [1])],
)  # fmt: skip
def test_version_policies(text, expected):
    assert model_registry.wanted_versions(_policy(text), [1, 3, 5]) == expected


def test_new_version_is_picked_up_while_serving(exported, served_base, tmp_path):
    src, _ = exported
    base = tmp_path / "ispan"
    shutil.copytree(src / "ispan" / "1", base / "1")
    options = ServerOptions(
        port=free_port(), rest_api_port=free_port(), model_name="ispan",
        model_base_path=str(base), file_system_poll_wait_seconds=0.2,
    )  # fmt: skip
    with ModelServer(options) as server:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/ispan"
        assert http("GET", url)[1]["model_version_status"][0]["version"] == "1"
        tmp = base / ".incoming"
        shutil.copytree(served_base / "ispan" / "2", tmp)  # different weights
        tmp.rename(base / "2")  # atomic, as the exporter does
        deadline = time.monotonic() + 900
        states = {}
        while time.monotonic() < deadline:
            states = {s["version"]: s["state"] for s in http("GET", url)[1]["model_version_status"]}
            if states.get("2") == "AVAILABLE" and states.get("1") == "END":
                break
            time.sleep(0.2)
        assert states == {"1": "END", "2": "AVAILABLE"}
        client = GrpcClient(f"127.0.0.1:{server.grpc_port}", "ispan")
        try:
            response = client.predictions.Predict(client.predict_request(FRAMES, "uint8"))
        finally:
            client.close()
        assert response.model_spec.version.value == 2
        ref = tf.saved_model.load(str(base / "2")).signatures["serving_default"](
            frames=tf.constant(FRAMES)
        )
        np.testing.assert_allclose(
            tf.make_ndarray(response.outputs["logits"]), ref["logits"].numpy(), atol=1e-6
        )


def test_warmup_is_replayed_and_broken_versions_do_not_load(exported, tmp_path):
    src, _ = exported
    calls = []

    def counting(servable, signature, inputs):
        calls.append((servable.version, signature, {k: v.shape for k, v in inputs.items()}))
        from serving.devserver.signatures import run_predict

        return run_predict(servable, signature, inputs)

    shutil.copytree(src / "ispan" / "1", tmp_path / "m" / "1")
    shutil.copytree(src / "ispan" / "1", tmp_path / "m" / "2")
    (tmp_path / "m" / "2" / "variables" / "variables.index").write_bytes(b"broken")
    config = model_registry.single_model_config("m", tmp_path / "m")
    config.model_config_list.config[0].model_version_policy.all.SetInParent()
    registry = model_registry.ModelRegistry(config, predict_fn=counting, max_num_load_retries=0)
    registry.poll()
    assert sorted(c[1] for c in calls) == [
        "preprocess", "serve_anytime", "serve_jpeg", "serve_preprocessed", "serving_default"
    ]  # fmt: skip
    assert all(c[0] == 1 for c in calls)
    (v1, s1, c1, _), (v2, s2, c2, m2) = registry.status("m")
    assert (v1, s1, c1) == (1, "AVAILABLE", "OK")
    assert (v2, s2, c2) == (2, "END", "UNKNOWN") and str(tmp_path / "m" / "2") in m2
    assert registry.resolve("m").version == 1


def test_labels_must_name_loaded_versions(exported, tmp_path):
    src, _ = exported
    shutil.copytree(src / "ispan" / "1", tmp_path / "m" / "1")
    config = model_registry.single_model_config("m", tmp_path / "m")
    config.model_config_list.config[0].version_labels["canary"] = 2
    registry = model_registry.ModelRegistry(config, replay_warmup=False)
    registry.poll()
    with pytest.raises(ServingError, match="canary"):
        model_registry.check_labels(config, registry)
    model_registry.check_labels(config, registry, allow_unavailable=True)
    with pytest.raises(ServingError, match=r"Specific\(m, 2\)"):
        registry.resolve("m", label="canary")


def test_request_size_limit_and_path_safety(exported):
    base, _ = exported
    options = ServerOptions(
        port=free_port(), rest_api_port=free_port(), model_config_file=str(base / "models.config"),
        max_request_bytes=1 << 20, file_system_poll_wait_seconds=0, enable_model_warmup=False,
    )  # fmt: skip
    with ModelServer(options) as server:
        conn = httplib.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
        conn.putrequest("POST", "/v1/models/ispan:predict")
        conn.putheader("Content-Length", str(10**10))
        conn.endheaders()  # the body is never sent: the server must answer without reading it
        response = conn.getresponse()
        assert response.status == 413 and "exceeds" in json.loads(response.read())["error"]
        conn.close()
        rest = f"http://127.0.0.1:{server.rest_port}"
        for path in (
            "/v1/models/..%2Fispan",
            "/v1/models/%2Fetc%2Fpasswd",
            "/v1/models/models.config",
        ):
            status, body = http("GET", rest + path)
            assert status == 404 and body["error"], (path, body)
        status, body = http("GET", rest + "/v1/models/ispan/versions/1/../../ispan")
        assert status in (400, 404)
        client = GrpcClient(f"127.0.0.1:{server.grpc_port}", "ispan")
        try:
            with pytest.raises(grpc.RpcError) as info:
                client.predict(random_frames((1, 4, 300, 300, 3)), "uint8")  # 1.08 MB > 1 MiB
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert client.predict(FRAMES, "uint8")["logits"].shape == (1, 3)
        finally:
            client.close()
        status, body = http("POST", rest + "/v1/models/ispan:classify", {"examples": []})
        assert status == 501
        status, body = http(
            "POST", rest + "/v1/models/ispan:predict", {"inputs": {"frames": FRAMES.tolist()}}
        )
        assert status == 200 and len(body["outputs"]["probabilities"][0]) == 3


def test_server_flags_use_tf_serving_names():
    options, _ = parse_args(
        ["--port=9000", "--rest_api_port=9001", "--model_name=ispan", "--model_base_path=/m/ispan",
         "--enable_model_warmup=false", "--file_system_poll_wait_seconds=5"]
    )  # fmt: skip
    assert (options.port, options.rest_api_port, options.host) == (9000, 9001, "127.0.0.1")
    assert options.enable_model_warmup is False and options.file_system_poll_wait_seconds == 5
    with pytest.raises(ValueError, match="Received: port="):
        ServerOptions(port=70000, model_name="m", model_base_path="/m")
    with pytest.raises(ValueError, match="model_config_file"):
        ServerOptions(port=1)
    with pytest.raises(ValueError, match="Received: name="):
        ServerOptions(port=1, model_name="../m", model_base_path="/m").model_server_config()


def test_bad_models_config_names_the_file(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        "model_config_list { config { name: 'a' base_path: '/a' model_platform: 'x' } }"
    )
    with pytest.raises(ValueError, match=str(path)):
        configs.read_model_server_config(path)
    path.write_text(
        "model_config_list { config { name: 'a' base_path: '/a' } config { name: 'a' base_path: '/b' } }"
    )
    with pytest.raises(ValueError, match="Duplicate"):
        configs.read_model_server_config(path)


# ---------------------------------------------------------------- JSON codec


def test_json_codec_conversions():
    dtypes = {"frames": tf.uint8}
    sig, inputs, fmt = json_codec.parse_predict_request(
        b'{"instances": [[[1, 2]], [[3, 4]]]}', lambda s: dtypes
    )
    assert (sig, fmt) == ("", "row")
    np.testing.assert_array_equal(inputs["frames"], np.array([[[1, 2]], [[3, 4]]], np.uint8))
    assert inputs["frames"].dtype == np.uint8
    strings = json_codec.to_array([[{"b64": "aGk="}, "plain"]], tf.string, "x")
    assert strings.tolist() == [[b"hi", b"plain"]]
    for value, dtype in (([256], tf.uint8), ([-1], tf.uint8), ([1.5], tf.uint8), ([True], tf.int32),
                         ([[1, 2], [3]], tf.uint8), (["a"], tf.float32), ([[{"b64": "!!"}]], tf.string),
                         ([["a"], "b"], tf.string)):  # fmt: skip
        with pytest.raises(ServingError) as info:
            json_codec.to_array(value, dtype, "x")
        assert info.value.http_status == 400, value
    with pytest.raises(
        ServingError, match=r'Received: \{"k": "a{93}\.\.\. \(209 more characters\)$'
    ):
        json_codec.to_array([{"k": "a" * 300}], tf.string, "x")  # cut, and says so


def test_json_responses_row_and_columnar():
    outputs = {
        "scores": np.array([[0.5, 0.25]], np.float32),
        "names": np.array([[b"a", b"b"]], object),
    }
    row = json.loads(json_codec.format_predict_response(outputs, "row"))
    assert row == {"predictions": [{"scores": [0.5, 0.25], "names": ["a", "b"]}]}
    col = json.loads(
        json_codec.format_predict_response({"y_bytes": np.array([b"\xff"], object)}, "columnar")
    )
    assert col == {"outputs": [{"b64": "/w=="}]}


def test_models_config_is_reloaded_while_serving(served_base, tmp_path):
    """Moving a label and adding a model in models.config takes effect without a restart."""
    config_path = tmp_path / "models.config"
    config = configs.read_model_server_config(served_base / "models.config")
    write_text_atomic(config_path, text_format.MessageToString(config))
    options = ServerOptions(
        port=free_port(), rest_api_port=free_port(), model_config_file=str(config_path),
        file_system_poll_wait_seconds=0.2, model_config_file_poll_wait_seconds=0.2,
        enable_model_warmup=False,
    )  # fmt: skip
    with ModelServer(options) as server:
        rest = f"http://127.0.0.1:{server.rest_port}/v1/models"
        assert (
            http("GET", f"{rest}/ispan/labels/stable/metadata")[1]["model_spec"]["version"] == "1"
        )
        assert http("GET", f"{rest}/copy")[0] == 404
        entry = config.model_config_list.config[0]
        entry.version_labels["stable"] = 2
        copy = config.model_config_list.config.add()
        copy.CopyFrom(entry)
        copy.name = "copy"
        write_text_atomic(config_path, text_format.MessageToString(config))
        deadline, got = time.monotonic() + 900, None
        while time.monotonic() < deadline:
            got = http("GET", f"{rest}/ispan/labels/stable/metadata")[1]["model_spec"]["version"]
            if got == "2" and http("GET", f"{rest}/copy")[0] == 200:
                break
            time.sleep(0.2)
        assert got == "2"
        assert http("GET", f"{rest}/copy")[0] == 200
        config_path.write_text("model_config_list { config { nam: 'broken' } }")
        time.sleep(1.0)  # a broken file is ignored: the running configuration stays
        assert http("GET", f"{rest}/ispan/labels/stable/metadata")[0] == 200
