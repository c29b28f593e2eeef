"""The development server's settings (`ServerOptions`, TF Serving's flag names) and the checks made
before anything is loaded: both ports free, a base path holding numbered versions. Standard library
only (and `keras_ispan.checks`), so `serving/server.py` answers its mistakes before TensorFlow is imported."""

import dataclasses
import pathlib
import socket

from keras_ispan.checks import check_integers


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Server settings; the names are TF Serving's flags.

    Args:
        port: gRPC port.
        rest_api_port: REST port; 0 disables REST.
        host: interface to bind (loopback unless said otherwise).
        model_config_file: a `ModelServerConfig` text proto (`models.config`).
        model_name, model_base_path: a single model, when there is no `model_config_file`.
        file_system_poll_wait_seconds: seconds between scans for new versions; 0 scans only at start.
        model_config_file_poll_wait_seconds: seconds between checks of `model_config_file` for
            changes (models, policies, labels); 0 never reloads it.
        enable_model_warmup: replay `assets.extra/tf_serving_warmup_requests` when a version loads.
        allow_version_labels_for_unavailable_models: accept labels of versions not loaded.
        max_request_bytes: largest REST body and gRPC message accepted (and largest gRPC answer).
        grpc_max_threads: gRPC worker threads.
        max_num_load_retries: retries of a version that failed to load (TF Serving's default 5).
        load_retry_interval_micros: microseconds between those retries (TF Serving's default 60 s).
        max_batch_size, max_clip_frames, max_tensor_elements: what one request may ask for,
            checked from declared shapes before anything is allocated (`signatures.RequestLimits`,
            whose defaults these repeat: this module imports no TensorFlow).
    """

    port: int = 8500
    rest_api_port: int = 0
    host: str = "127.0.0.1"
    model_config_file: str | None = None
    model_name: str | None = None
    model_base_path: str | None = None
    file_system_poll_wait_seconds: float = 1.0
    model_config_file_poll_wait_seconds: float = 0.0
    enable_model_warmup: bool = True
    allow_version_labels_for_unavailable_models: bool = False
    max_request_bytes: int = 256 * 2**20
    grpc_max_threads: int = 16
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    max_batch_size: int = 16
    max_clip_frames: int = 128
    max_tensor_elements: int = 2**26

    def __post_init__(self):
        for name in ("port", "rest_api_port"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 65535:
                raise ValueError(
                    f"`{name}` must be a port number 0-65535. Received: {name}={value}"
                )
        if self.model_config_file is None and not (self.model_name and self.model_base_path):
            raise ValueError(
                "Give `model_config_file`, or both `model_name` and `model_base_path`. "
                f"Received: model_name={self.model_name!r}, model_base_path={self.model_base_path!r}"
            )
        if self.model_config_file is not None and self.model_base_path:
            raise ValueError(
                "Give either `model_config_file` or `model_base_path`, not both. "
                f"Received: model_base_path={self.model_base_path!r}"
            )
        if self.model_config_file_poll_wait_seconds < 0:
            raise ValueError(
                "`model_config_file_poll_wait_seconds` must be >= 0. Received: "
                f"model_config_file_poll_wait_seconds={self.model_config_file_poll_wait_seconds}"
            )
        if self.file_system_poll_wait_seconds < 0:
            raise ValueError(
                "`file_system_poll_wait_seconds` must be >= 0. "
                f"Received: file_system_poll_wait_seconds={self.file_system_poll_wait_seconds}"
            )
        check_integers(self, ("max_num_load_retries", "load_retry_interval_micros"), minimum=0)
        check_integers(self, ("max_batch_size", "max_clip_frames", "max_tensor_elements"))
        if not isinstance(self.max_request_bytes, int) or self.max_request_bytes < 1024:
            raise ValueError(
                f"`max_request_bytes` must be an integer >= 1024. "
                f"Received: max_request_bytes={self.max_request_bytes}"
            )

    @property
    def limits(self):
        """The `signatures.RequestLimits` of these options (imports the signatures module)."""
        from serving.devserver.signatures import RequestLimits

        return RequestLimits(self.max_batch_size, self.max_clip_frames, self.max_tensor_elements)

    def model_server_config(self):
        """The `ModelServerConfig` (imports TensorFlow Serving's protos, and so TensorFlow)."""
        from keras_ispan.export import server_configs as configs
        from serving.devserver import model_registry

        if self.model_config_file is not None:
            return configs.read_model_server_config(self.model_config_file)
        configs.check_model_name(self.model_name)
        return model_registry.single_model_config(
            self.model_name, pathlib.Path(self.model_base_path).resolve()
        )


def check_port_free(flag, host, port):
    """Raises `OSError` naming `flag` when `host:port` cannot be bound (another server holds it)."""
    if not port:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise OSError(
                f"{flag}={port}: cannot listen on {host}:{port} ({error.strerror or error}); "
                "another server is using it"
            ) from None


def version_numbers(base_path):
    """The numbered version folders of `base_path` that hold a `saved_model.pb`, sorted."""
    base = pathlib.Path(base_path)
    return sorted(
        int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()
    )


def check_base_path(what, name, base_path):
    """Raises `ValueError` (what: the flag or config entry) unless `base_path` is a folder with at least
    one numbered version folder holding a SavedModel; the message says what is there instead."""
    base = pathlib.Path(base_path)
    expected = f"expected numbered version folders such as {base / '1' / 'saved_model.pb'}"
    if base.is_file():
        hint = (
            " (a .keras model: export it first with serving/export.py)"
            if base.suffix == ".keras"
            else ""
        )
        raise ValueError(f"{what} {base}: is a file{hint}; {expected}")
    if not base.is_dir():
        raise ValueError(f"{what} {base}: no such folder; {expected}")
    if version_numbers(base):
        return
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in base.iterdir())
    shown = ", ".join(found[:8]) + (f", ... ({len(found)} entries)" if len(found) > 8 else "")
    raise ValueError(
        f"{what} {base}: No versions of servable {name} found under base path {base} "
        f"(it holds: {shown or 'nothing'}); {expected}"
    )
