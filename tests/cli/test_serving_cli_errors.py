"""The serving scripts: one line per mistake (exit status 2); the server refuses what it cannot serve
(a missing or unreadable config, a base path without numbered versions, a port in use) before it loads
any model."""

import pathlib
import socket
import zipfile

import pytest

from tests.cli.scripts import TENSORFLOW_IMPORTED, assert_one_line_error, run_script
from tests.ports import free_port


@pytest.fixture
def versioned_base(tmp_path):
    """A base path with a version folder holding a (dummy) saved_model.pb: passes the folder checks."""
    (tmp_path / "ispan" / "1").mkdir(parents=True)
    (tmp_path / "ispan" / "1" / "saved_model.pb").write_bytes(b"")
    return tmp_path / "ispan"


def _server(*args, importtime=True):
    return run_script("serving/server.py", f"--port={free_port()}", *args, importtime=importtime)


def test_server_missing_config_file(tmp_path):
    done = _server(f"--model_config_file={tmp_path / 'models.config'}")
    assert_one_line_error(done, "server.py", "--model_config_file", "models.config", "no such file")
    assert not TENSORFLOW_IMPORTED.search(done.stderr)


def test_server_unparseable_config_file(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'a' base_path: \n")
    done = _server(f"--model_config_file={config}", importtime=False)
    assert_one_line_error(done, "server.py", f"--model_config_file {config}")


def test_server_refuses_a_keras_file_as_base_path(tmp_path):
    model = tmp_path / "best.keras"
    model.write_bytes(b"PK")
    done = _server(f"--model_base_path={model}")
    line = assert_one_line_error(done, "server.py", f"--model_base_path {model}", "is a file")
    assert "serving/export.py" in line
    assert "READY" not in done.stdout
    assert not TENSORFLOW_IMPORTED.search(done.stderr)


def test_server_refuses_a_base_path_without_versions(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "best.keras").write_bytes(b"PK")
    done = _server(f"--model_base_path={tmp_path}", "--model_name=ispan")
    assert_one_line_error(
        done, "server.py", "No versions of servable ispan found under base path",
        "best.keras", "notes/",
    )  # fmt: skip
    assert not TENSORFLOW_IMPORTED.search(done.stderr)


@pytest.mark.parametrize("flag", ["--port", "--rest_api_port"])
def test_server_refuses_a_port_in_use_before_loading(versioned_base, flag):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other = "--rest_api_port" if flag == "--port" else "--port"
        done = run_script(
            "serving/server.py", f"{flag}={port}", f"{other}={free_port()}",
            f"--model_base_path={versioned_base}", importtime=True,
        )  # fmt: skip
    assert_one_line_error(done, "server.py", f"{flag}={port}", "another server is using it")
    assert "READY" not in done.stdout
    assert not TENSORFLOW_IMPORTED.search(done.stderr), "checked after loading"


def test_export_missing_model(tmp_path):
    done = run_script(
        "serving/export.py", "--model", tmp_path / "none.keras", "--export-base", tmp_path,
        importtime=True,
    )  # fmt: skip
    assert_one_line_error(done, "export.py", "--model", "none.keras", "file not found")
    assert not TENSORFLOW_IMPORTED.search(done.stderr)


def test_export_model_that_is_not_a_keras_file(tmp_path):
    """Refused with the training scripts' words (`keras_ispan.cli_args.check_file_flag`) before
    TensorFlow is imported and before --export-base is made (it was made, then the model loaded)."""
    base = tmp_path / "models"
    done = run_script(
        "serving/export.py", "--model", "README.md", "--export-base", base, importtime=True
    )
    assert_one_line_error(done, "export.py", "--model README.md: not a .keras model file")
    assert not TENSORFLOW_IMPORTED.search(done.stderr)
    assert not base.exists()


def test_export_negative_anytime_threshold(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"not read: the threshold is checked first")
    done = run_script("serving/export.py", "--model", model, "--export-base", tmp_path,
                      "--anytime-threshold", "-0.5", importtime=True)  # fmt: skip
    assert_one_line_error(done, "export.py", "--anytime-threshold -0.5: must be >= 0")
    assert not TENSORFLOW_IMPORTED.search(done.stderr)


def test_export_base_that_is_a_file(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"not read: the export base is checked first")
    afile = tmp_path / "fake.mp4"
    afile.write_text("x")
    for base in (afile, afile / "models"):
        done = run_script(
            "serving/export.py", "--model", model, "--export-base", base, importtime=True
        )
        assert_one_line_error(done, "export.py", "--export-base", "is a file, not a folder")
        assert not TENSORFLOW_IMPORTED.search(done.stderr)


@pytest.mark.skipif(not pathlib.Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_export_base_that_cannot_be_created(tmp_path):
    # /proc refuses new folders even to root (a read-only folder would not stop root)
    model = tmp_path / "model.keras"
    with zipfile.ZipFile(model, "w") as archive:  # a zip: passes the --model check, never read
        archive.writestr("config.json", "not read: the export base is checked first")
    base = "/proc/keras_ispan_no_such_folder/models"
    done = run_script("serving/export.py", "--model", model, "--export-base", base, importtime=True)
    assert_one_line_error(done, "export.py", f"--export-base {base}", "cannot create the folder")
    assert not TENSORFLOW_IMPORTED.search(done.stderr)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rest", "localhost:8501"], "expected http://HOST:PORT"),
        (["--grpc", "127.0.0.1:8500", "--frames", "0"], "--frames 0: must be >= 1"),
        (["--grpc", "127.0.0.1:8500", "--threshold", "0.5"], "--threshold needs --anytime"),
        (["--grpc", "127.0.0.1:8500", "--criterion", "margin"], "--criterion needs --anytime"),
        (["--grpc", "127.0.0.1:8500", "--anytime", "--threshold", "-1"], "--threshold -1.0: must"),
        (["--grpc", "127.0.0.1:8500", "--anytime", "--max-frames", "0"], "--max-frames 0: must"),
        (["--grpc", "127.0.0.1:8500", "--anytime", "--format", "jpeg"], "takes uint8 frames"),
        (
            ["--grpc", "127.0.0.1:8500", "--max-frames", "4", "--threshold", "1"],
            "--threshold, --max-frames need --anytime",
        ),
        # a flag that applies only with another is refused, never ignored (user review)
        (
            ["--grpc", "127.0.0.1:8500", "--anytime", "--frames", "4", "--max-frames", "16"],
            "--frames 4 and --max-frames 16 both set the frames at most with --anytime",
        ),
        (
            ["--grpc", "127.0.0.1:8500", "--format", "uint8", "--quality", "80"],
            "--quality 80: sets the JPEG quality of --format jpeg, but --format uint8 sends",
        ),
        (["--grpc", "127.0.0.1:8500", "--anytime", "--quality", "80"], "but --anytime sends raw"),
    ],
)
def test_client_usage_errors(args, fragment):
    done = run_script("serving/client.py", "clip.mp4", *args)
    assert_one_line_error(done, "client.py", fragment)
