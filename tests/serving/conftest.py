"""Serving fixtures: a tiny classifier exported once per session, and servers (local and TF Serving).

`server` is parametrised: the local development server always, and a real `tensorflow_model_server`
when the environment variable `TFS_BINARY` names one (skipped otherwise). Contract tests take `server`
and so run against both.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from serving_utils import build_tiny_model

from tests.ports import free_port

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def tiny_model():
    return build_tiny_model(seed=0)


@pytest.fixture(scope="session")
def exported(tiny_model, tmp_path_factory):
    """`(base, result)`: the tiny model exported as version 1 of `base/ispan`."""
    from keras_ispan.export.saved_model import export_model

    base = tmp_path_factory.mktemp("export")
    return base, export_model(tiny_model, base, name="ispan")


@pytest.fixture(scope="session")
def served_base(exported, tmp_path_factory):
    """A base with `ispan` versions 1 (seed 0) and 2 (seed 1), all served, labels stable=1, canary=2."""
    from google.protobuf import text_format

    from keras_ispan.export import server_configs as configs
    from keras_ispan.export.saved_model import export_model
    from keras_ispan.io.atomic import write_text_atomic

    src_base, _ = exported
    base = tmp_path_factory.mktemp("served")
    shutil.copytree(src_base / "ispan" / "1", base / "ispan" / "1")
    export_model(build_tiny_model(seed=1), base, name="ispan", version=2)
    config = configs.read_model_server_config(base / "models.config")
    entry = config.model_config_list.config[0]
    entry.model_version_policy.Clear()
    entry.model_version_policy.all.SetInParent()
    entry.version_labels["stable"] = 1
    entry.version_labels["canary"] = 2
    write_text_atomic(base / "models.config", text_format.MessageToString(config))
    return base


class ServerProcess:
    """A running server: `rest` URL, `grpc` target, `kind` ("local" or "tfs")."""

    def __init__(self, kind, command, rest_port, grpc_port, log_path):
        self.kind = kind
        self.rest = f"http://127.0.0.1:{rest_port}"
        self.grpc = f"127.0.0.1:{grpc_port}"
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, model="ispan"):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} server exited:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.rest}/v1/models/{model}", timeout=2) as r:
                    if b"AVAILABLE" in r.read():
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"{self.kind} server not ready:\n{self.log_path.read_text()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="session", params=["local", "tfs"])
def server(request, served_base, tmp_path_factory):
    """A server answering `ispan` (versions 1 and 2, labels stable and canary) on free ports."""
    rest_port, grpc_port = free_port(), free_port()
    config = served_base / "models.config"
    logs = tmp_path_factory.mktemp("server-logs")
    if request.param == "local":
        command = [sys.executable, "serving/server.py"]
    else:
        binary = os.environ.get("TFS_BINARY")
        if not binary:
            pytest.skip("TFS_BINARY is not set: no real tensorflow_model_server to test against")
        command = [binary]
    command += [
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
    ]
    if request.param == "tfs":
        command.append("--allow_version_labels_for_unavailable_models=true")
    proc = ServerProcess(request.param, command, rest_port, grpc_port, logs / "server.log")
    try:
        yield proc.wait_ready()
    finally:
        proc.stop()
