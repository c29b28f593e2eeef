"""The development model server: a `ModelRegistry` behind TF Serving's REST and gRPC APIs.

`ModelServer(ServerOptions(...)).start()` loads every configured model (replaying warmup files), then
serves gRPC on `port` and REST on `rest_api_port` (0 disables REST, as in TF Serving), and polls the
model folders for new versions every `file_system_poll_wait_seconds`. Production uses TF Serving.
"""

import logging
import threading

from serving.devserver import grpc_service, model_registry, rest
from serving.devserver import signatures as predict
from serving.devserver.options import ServerOptions  # noqa: F401 (its home before)

log = logging.getLogger("serving")


class ModelServer:
    """Starts and stops the registry, the version poller, gRPC and REST."""

    def __init__(self, options, config=None):
        """`config`: the `ModelServerConfig` when already read (default: read from `options`)."""
        self.options = options
        self.config = config if config is not None else options.model_server_config()
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
