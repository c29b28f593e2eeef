"""The development model server: a `ModelRegistry` behind TF Serving's REST and gRPC APIs.

`ModelServer(ServerOptions(...)).start()` loads every configured model (replaying warmup files), then
serves gRPC on `port` and REST on `rest_api_port` (0 disables REST, as in TF Serving), and polls the
model folders for new versions every `file_system_poll_wait_seconds`. Production uses TF Serving.
"""

import dataclasses
import logging
import pathlib
import threading

from keras_ispan.export import server_configs as configs
from serving.devserver import grpc_service, model_registry, rest
from serving.devserver import signatures as predict

log = logging.getLogger("serving")


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
            checked from declared shapes before anything is allocated (`signatures.RequestLimits`).
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
    max_batch_size: int = predict.RequestLimits.max_batch_size
    max_clip_frames: int = predict.RequestLimits.max_clip_frames
    max_tensor_elements: int = predict.RequestLimits.max_tensor_elements

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
        for name in ("max_num_load_retries", "load_retry_interval_micros"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value}")
        if not isinstance(self.max_request_bytes, int) or self.max_request_bytes < 1024:
            raise ValueError(
                f"`max_request_bytes` must be an integer >= 1024. "
                f"Received: max_request_bytes={self.max_request_bytes}"
            )
        self.limits  # noqa: B018  (validates the request limits)

    @property
    def limits(self):
        return predict.RequestLimits(
            self.max_batch_size, self.max_clip_frames, self.max_tensor_elements
        )

    def model_server_config(self):
        if self.model_config_file is not None:
            return configs.read_model_server_config(self.model_config_file)
        configs.check_model_name(self.model_name)
        return model_registry.single_model_config(
            self.model_name, pathlib.Path(self.model_base_path).resolve()
        )


class ModelServer:
    """Starts and stops the registry, the version poller, gRPC and REST."""

    def __init__(self, options):
        self.options = options
        self.config = options.model_server_config()
        self.registry = model_registry.ModelRegistry(
            self.config,
            replay_warmup=options.enable_model_warmup,
            predict_fn=predict.run_predict,
            max_num_load_retries=options.max_num_load_retries,
            load_retry_interval_seconds=options.load_retry_interval_micros / 1e6,
        )
        self._grpc = None
        self._rest = None
        self._rest_thread = None
        self.grpc_port = None
        self.rest_port = None

    def start(self):
        self.registry.poll()
        model_registry.check_labels(
            self.config, self.registry, self.options.allow_version_labels_for_unavailable_models
        )
        self.registry.start_polling(
            self.options.file_system_poll_wait_seconds,
            self.options.model_config_file,
            self.options.model_config_file_poll_wait_seconds,
        )
        opts = self.options
        self._grpc, self.grpc_port = grpc_service.create_grpc_server(
            self.registry,
            opts.host,
            opts.port,
            opts.max_request_bytes,
            opts.grpc_max_threads,
            opts.limits,
        )
        if opts.rest_api_port:
            self._rest = rest.create_rest_server(
                self.registry, opts.host, opts.rest_api_port, opts.max_request_bytes, opts.limits
            )
            self.rest_port = self._rest.server_address[1]
            self._rest_thread = threading.Thread(
                target=self._rest.serve_forever, name="rest", daemon=True
            )
            self._rest_thread.start()
        log.info(
            "Serving %s: gRPC on %s:%d, REST on %s",
            ", ".join(self.registry.model_names),
            opts.host,
            self.grpc_port,
            f"http://{opts.host}:{self.rest_port}" if self.rest_port else "(disabled)",
        )
        return self

    def stop(self):
        self.registry.stop()
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=1).wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
