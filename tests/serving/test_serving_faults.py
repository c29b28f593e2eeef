"""Faults the development server survives: bad new versions, hostile requests, broken start-ups.

Each test runs a real server process on 127.0.0.1 and reproduces one fault of issue 18.
"""

import json
import pathlib
import shutil
import sys
import threading
import time

import pytest
from serving_utils import ServerProcess, http, random_frames

from tests.ports import free_port

FRAMES = random_frames((1, 2, 32, 32, 3), seed=3)


def _start(base, tmp_path, *flags, model="ispan"):
    rest_port, grpc_port = free_port(), free_port()
    command = [
        sys.executable,
        "serving/server.py",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={model}",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=0.2",
        "--enable_model_warmup=false",
        *flags,
    ]
    return ServerProcess("local", command, rest_port, grpc_port, tmp_path / "server.log")


class _Traffic:
    """A thread sending REST predict requests in a loop, counting answers and errors."""

    def __init__(self, url):
        self.url, self.ok, self.errors = url, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        body = {"instances": FRAMES.tolist()}
        while not self._stop.is_set():
            status, answer = http("POST", self.url, body, timeout=30)
            if status == 200 and "predictions" in answer:
                self.ok += 1
            else:
                self.errors.append((status, answer))
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)


def _states(rest):
    status, body = http("GET", f"{rest}/v1/models/ispan")
    assert status == 200, body
    return {
        s["version"]: (s["state"], s["status"]["error_code"]) for s in body["model_version_status"]
    }


def _wait_for(predicate, what, seconds=900):  # only against a hang
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_bad_and_half_copied_versions_never_take_the_healthy_one_offline(
    exported, served_base, tmp_path
):
    src, _ = exported
    base = tmp_path / "ispan"
    shutil.copytree(src / "ispan" / "1", base / "1")
    server = _start(base, tmp_path, "--load_retry_interval_micros=1000000").wait_ready()
    log = server.log_path
    try:
        with _Traffic(f"{server.rest}/v1/models/ispan:predict") as traffic:
            _wait_for(lambda: traffic.ok >= 3, "first answers")
            (base / "2").mkdir()
            (base / "2" / "saved_model.pb").write_bytes(b"this is not a SavedModel")
            _wait_for(lambda: "version 2" in log.read_text() and "giving up" in log.read_text(),
                      "version 2 to fail 6 times")  # fmt: skip
            assert _states(server.rest) == {"1": ("AVAILABLE", "OK"), "2": ("END", "UNKNOWN")}
            # a half-copied version: saved_model.pb first, variables/ a few retries later
            half = base / "3"
            half.mkdir()
            shutil.copy2(served_base / "ispan" / "2" / "saved_model.pb", half / "saved_model.pb")
            _wait_for(lambda: "version 3 from" in log.read_text(), "version 3 to fail once")
            assert _states(server.rest)["1"] == ("AVAILABLE", "OK")
            for entry in (served_base / "ispan" / "2").iterdir():
                if entry.is_dir():
                    shutil.copytree(entry, half / entry.name)
            _wait_for(lambda: _states(server.rest).get("3") == ("AVAILABLE", "OK"), "version 3")
            _wait_for(lambda: _states(server.rest).get("1") == ("END", "OK"), "version 1 unloaded")
            served = traffic.ok
            _wait_for(lambda: traffic.ok >= served + 3, "answers from version 3")
        assert traffic.errors == [] and traffic.ok > 10
        text = log.read_text()
        assert "version 3" in text and "attempt 1 of 6" in text and "Loaded ispan version 3" in text
    finally:
        server.stop()


def _rest_error(status, body, code):
    assert status == code, body
    assert isinstance(body, dict) and set(body) == {"error"} and body["error"], body
    return body["error"]


def test_missing_base_path_is_logged_and_bad_config_is_one_line(tmp_path):
    """A config entry whose base path does not exist yet is logged and watched, as TF Serving does
    (versions may be exported later); `--model_base_path` itself must hold a version (tests/cli)."""
    missing = tmp_path / "nowhere"
    watched = tmp_path / "watched.config"
    watched.write_text(f'model_config_list {{ config {{ name: "ispan" base_path: "{missing}" '
                       'model_platform: "tensorflow" } }')  # fmt: skip
    rest_port, grpc_port = free_port(), free_port()
    command = [
        sys.executable, "serving/server.py", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
        f"--model_config_file={watched}", "--file_system_poll_wait_seconds=0.2",
    ]  # fmt: skip
    server = ServerProcess("local", command, rest_port, grpc_port, tmp_path / "server.log")
    try:
        _wait_for(lambda: "nowhere" in server.log_path.read_text(), "the missing path logged")
        assert "does not exist" in server.log_path.read_text()
    finally:
        server.stop()
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'x' base_path: ")
    import subprocess

    from serving_utils import REPO_ROOT

    done = subprocess.run(
        [sys.executable, "serving/server.py", f"--model_config_file={config}", "--port=0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("server.py:")]
    assert len(lines) == 1 and str(config) in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_http_layer_answers_like_tf_serving(exported, tmp_path):
    src, _ = exported
    server = _start(src / "ispan", tmp_path).wait_ready()
    try:
        url = f"{server.rest}/v1/models/ispan:predict"
        deep = ("[" * 5000 + "]" * 5000).encode()
        body = b'{"instances": ' + deep + b"}"
        assert "nest" in _rest_error(*http("POST", url, body), 400)
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            assert "Malformed request" in _rest_error(*http(method, url, b"{}"), 400)
        _rest_error(*http("GET", f"{server.rest}/nothing/here"), 400)
        status, answer = http("POST", url, json.dumps({"instances": FRAMES.tolist()}).encode())
        assert status == 200 and "predictions" in answer
    finally:
        server.stop()


def _rss_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def _declared_strings(shape):
    """A tiny PredictRequest for `serve_jpeg` declaring a string tensor of `shape` (one value)."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ispan"
    request.model_spec.signature_name = "serve_jpeg"
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
    request.inputs["frames"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims),
            string_val=[b"x"],
        )
    )
    return request


RSS_MARGIN_MB = 150  # stated margin: RSS after 5 more large requests vs. after the first one


@pytest.mark.slow
def test_requests_are_bounded_by_work_and_memory_returns(exported, tmp_path):
    import grpc

    from serving.client import GrpcClient

    src, _ = exported
    server = _start(src / "ispan", tmp_path).wait_ready()
    client = GrpcClient(server.grpc, "ispan")
    try:
        pid = server.process.pid
        large = (16, 128, 48, 48, 3)  # at the limits of batch and frames: 14 MB of uint8
        started = _rss_mb(pid)
        client.predict(random_frames(large, seed=9), "uint8")
        baseline = _rss_mb(pid)
        for shape, flag in (([1, 3_000_000], "--max_clip_frames"), ([1000, 8], "--max_batch_size"),
                            ([16, 128, 2**16], "--max_tensor_elements")):  # fmt: skip
            request = _declared_strings(shape)
            assert request.ByteSize() < 64
            with pytest.raises(grpc.RpcError) as info:
                client.predictions.Predict(request, timeout=60)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert flag in info.value.details(), info.value.details()
        url = f"{server.rest}/v1/models/ispan:predict"
        many = json.dumps({"inputs": {"frames": [[[[[0, 0, 0]]]] * 10_000]}}).encode()
        message = _rest_error(*http("POST", url, many), 400)
        assert "10000 frames" in message and "--max_clip_frames" in message
        for seed in range(5):
            client.predict(random_frames(large, seed=seed), "uint8")
        after = _rss_mb(pid)
        print(f"server RSS: {started:.0f} MB at start, {baseline:.0f} MB after one large request, "
              f"{after:.0f} MB after 5 more and 4 refused")  # fmt: skip
        assert after - baseline < RSS_MARGIN_MB, (baseline, after)
    finally:
        client.close()
        server.stop()


def test_stale_export_temporaries_are_removed(tmp_path):
    import os
    import subprocess

    from keras_ispan.export.saved_model import remove_stale_temporaries

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f".tmp-export-{int(gone.stdout)}-abc"
    live = tmp_path / f".tmp-export-{os.getppid()}-def"
    old = tmp_path / ".tmp-export-0123abcd"  # the naming before pids were recorded
    fresh_unknown = tmp_path / ".tmp-export-4567ef"
    for path in (dead, live, old, fresh_unknown):
        (path / "variables").mkdir(parents=True)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([dead, old])
    assert live.is_dir() and fresh_unknown.is_dir()


@pytest.mark.slow
def test_export_killed_mid_way_leaves_nothing_after_the_next_run(tiny_model, tmp_path):
    import os
    import signal
    import subprocess

    from serving_utils import REPO_ROOT

    model_path = tmp_path / "tiny.keras"
    tiny_model.save(model_path)
    base = tmp_path / "models"
    command = [sys.executable, "serving/export.py", "--model", str(model_path),
               "--export-base", str(base), "--name", "ispan", "--warmup-frames", "2"]  # fmt: skip
    env = dict(os.environ, KERAS_ISPAN_FAULT="export_before_rename")  # test hook: SIGKILL there
    killed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, timeout=900)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    left = list((base / "ispan").glob(".tmp-export-*"))
    assert left and not (base / "ispan" / "1").exists()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((base / "ispan").glob(".tmp-export-*")) == []
    assert "Removed a stale export temporary" in done.stderr
    assert sorted(p.name for p in (base / "ispan").iterdir()) == ["1"]
