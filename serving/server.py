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


def _bool(text):
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1")


def _fail(message):
    """One line on stderr, exit status 2 (no traceback), like argparse's usage errors."""
    print(f"server.py: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def parse_args(argv=None):
    from serving.devserver.app import ServerOptions

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    d = ServerOptions.__dataclass_fields__
    p.add_argument("--port", type=int, default=d["port"].default, help="gRPC port")
    p.add_argument("--rest_api_port", type=int, default=0, help="REST port; 0 disables REST")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    p.add_argument("--model_config_file", help="ModelServerConfig text proto (models.config)")
    p.add_argument("--model_name", help="model name, with --model_base_path")
    p.add_argument("--model_base_path", help="folder of integer version folders")
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0)
    p.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0.0)
    p.add_argument("--enable_model_warmup", type=_bool, default=True)
    p.add_argument("--allow_version_labels_for_unavailable_models", type=_bool, default=False)
    p.add_argument("--max_request_bytes", type=int, default=d["max_request_bytes"].default)
    p.add_argument("--grpc_max_threads", type=int, default=16)
    for name in ("max_batch_size", "max_clip_frames", "max_tensor_elements"):
        p.add_argument(f"--{name}", type=int, default=d[name].default)
    p.add_argument("--max_num_load_retries", type=int, default=d["max_num_load_retries"].default)
    p.add_argument(
        "--load_retry_interval_micros", type=int, default=d["load_retry_interval_micros"].default
    )
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    verbose = args.__dict__.pop("verbose")
    if args.model_config_file is None and args.model_name is None:
        args.model_name = "default"  # TF Serving's default model name
    try:
        return ServerOptions(**vars(args)), verbose
    except ValueError as e:
        _fail(str(e).splitlines()[0])


def main(argv=None):
    options, verbose = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    from serving.devserver.app import ModelServer
    from serving.devserver.errors import ServingError

    try:
        server = ModelServer(options).start()
    except (ValueError, OSError) as e:  # unparsable config, bad name, port in use
        flag = "--model_config_file" if options.model_config_file else "--model_name"
        _fail(f"{flag}: {str(e).splitlines()[0]}" if isinstance(e, ValueError) else str(e))
    except ServingError as e:  # a label naming a version that is not loaded
        _fail(e.message)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rest = f"http://{options.host}:{server.rest_port}" if server.rest_port else "off"
    print(f"READY grpc={options.host}:{server.grpc_port} rest={rest}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
