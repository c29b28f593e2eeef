"""Development model server speaking TF Serving's REST and gRPC APIs (production: TF Serving).

    python serving/server.py --port=8500 --rest_api_port=8501 --model_config_file=models/models.config
    python serving/server.py --rest_api_port=8501 --model_name=ispan --model_base_path=models/ispan

Flags are TF Serving's (`--flag=value`, booleans as true/false). It binds to 127.0.0.1 unless `--host`
says otherwise. Logic lives in `serving/devserver/app.py`.
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402

PROG = "server.py"


def _bool(text):
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1")


_REFUSED = "a request may declare; beyond it: INVALID_ARGUMENT / HTTP 400"
# int flags of the request limits, gRPC threads and load retries (--help order; ServerOptions' defaults)
REQUEST_FLAGS = {
    "max_request_bytes": "largest request accepted",
    "grpc_max_threads": "gRPC worker threads",
    "max_batch_size": f"largest examples per request input (axis 0) {_REFUSED}",
    "max_clip_frames": f"largest frames per clip of an input named frames (axis 1) {_REFUSED}",
    "max_tensor_elements": f"largest elements per request input tensor {_REFUSED}",
    "max_num_load_retries": "retries of a version that failed to load (the serving version stays)",
    "load_retry_interval_micros": "microseconds between load retries",
}


def _add_request_flags(p, defaults):
    for name, text in REQUEST_FLAGS.items():
        p.add_argument(f"--{name}", type=int, default=defaults[name].default, help=text)


def parse_args(argv=None):
    """`(ServerOptions, flags)`: the options (raises `ValueError` on a bad value) and `--verbose`,
    `--debug`; nothing heavy is imported."""
    from serving.cli import HelpFormatter, add_common_flags
    from serving.devserver.options import ServerOptions

    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    d = ServerOptions.__dataclass_fields__
    p.add_argument("--port", type=int, default=d["port"].default, help="gRPC port")
    p.add_argument("--rest_api_port", type=int, default=0, help="REST port; 0 disables REST")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind")
    p.add_argument("--model_config_file", help="ModelServerConfig text proto (models.config)")
    p.add_argument("--model_name", help="model name, with --model_base_path (default: 'default')")
    p.add_argument("--model_base_path", help="folder of integer version folders")
    p.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between scans for new versions",
    )
    p.add_argument(
        "--model_config_file_poll_wait_seconds", type=float, default=0.0,
        help="seconds between re-reads of --model_config_file; 0 never",
    )  # fmt: skip
    p.add_argument("--enable_model_warmup", type=_bool, default=True, help="replay warmup requests")
    p.add_argument(
        "--allow_version_labels_for_unavailable_models", type=_bool, default=False,
        help="accept labels of versions not loaded",
    )  # fmt: skip
    _add_request_flags(p, d)
    add_common_flags(p)
    args = p.parse_args(argv)
    flags = argparse.Namespace(
        verbose=args.__dict__.pop("verbose"), debug=args.__dict__.pop("debug")
    )
    if args.model_config_file is None and args.model_name is None:
        args.model_name = "default"  # TF Serving's default model name
    return ServerOptions(**vars(args)), flags


def check_before_loading(options):
    """What can be refused before any model loads: a missing config file, a base path without
    versions, a port another server holds (raises `ValueError` / `OSError`)."""
    from serving.devserver.options import check_base_path, check_port_free

    if options.model_config_file is not None:
        if not pathlib.Path(options.model_config_file).is_file():
            raise ValueError(f"--model_config_file {options.model_config_file}: no such file")
    else:
        check_base_path("--model_base_path", options.model_name, options.model_base_path)
    check_port_free("--port", options.host, options.port)
    check_port_free("--rest_api_port", options.host, options.rest_api_port)


def start_server(options):
    """Reads the model config (every base path checked), loads the models, starts gRPC and REST."""
    from serving.devserver.app import ModelServer
    from serving.devserver.options import check_base_path

    try:
        config = options.model_server_config()
    except ValueError as error:
        if options.model_config_file is None:
            raise
        raise ValueError(f"--model_config_file {options.model_config_file}: {error}") from None
    if options.model_config_file is not None:
        # A base path that is a file (a .keras model) can never serve: refused. A folder without
        # versions yet is logged and watched, as TF Serving does (versions may be exported later).
        for entry in config.model_config_list.config:
            if pathlib.Path(entry.base_path).is_file():
                check_base_path(
                    f"--model_config_file {options.model_config_file}: model {entry.name!r}: "
                    "base_path", entry.name, entry.base_path,
                )  # fmt: skip
    return ModelServer(options, config=config).start()


def main(argv=None):
    from serving.cli import fail, quiet_libraries

    try:
        options, flags = parse_args(argv)
    except ValueError as error:
        return fail(PROG, error)
    quiet_libraries(flags.verbose)
    logging.basicConfig(
        level=logging.DEBUG if flags.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    from serving.devserver.errors import ServingError

    try:
        check_before_loading(options)
        server = start_server(options)
    except (ValueError, OSError) as error:
        if flags.debug:
            raise
        return fail(PROG, error)
    except ServingError as error:  # a version label naming a version that is not loaded
        if flags.debug:
            raise
        return fail(PROG, error.message)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rest = f"http://{options.host}:{server.rest_port}" if server.rest_port else "off"
    print(f"READY grpc={options.host}:{server.grpc_port} rest={rest}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
