"""Serving fixtures: a tiny classifier exported once per session, and servers (local and TF Serving).

`server` is parametrised: the local development server always, and a real `tensorflow_model_server`
when the environment variable `TFS_BINARY` names one (skipped otherwise). Contract tests take `server`
and so run against both.
"""

import os
import shutil
import sys

import pytest
from serving_utils import ServerProcess, build_tiny_model

from tests.ports import free_port


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
