"""Serving benchmark: latency and throughput of REST (uint8, JPEG), gRPC and the in-process SavedModel.

    python benchmarks/serving.py                      # small_cnn, 112x112, 8 frames, 200 requests
    python benchmarks/serving.py --requests 40 --sequential 10   # quick smoke run

One clip (a real one from ../shared/data/clips when present, else synthetic), one exported model, one
local server (`serving/server.py`, a separate process), same run. For each path: p50 / p95 latency of
sequential requests, then 4 concurrent clients sending `--requests` requests in total (req/s, p50 /
p95 under load, errors), and the request size in bytes. Writes benchmarks/results/serving.json.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.common import print_table, write_json  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
CLIPS = REPO.parent / "shared" / "data" / "clips"


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clip(args):
    from serving.client import load_clip

    path = CLIPS / "arm_wrestling_k400.mp4"
    short = int(round(args.image_size * 256 / 224))
    if path.exists():
        return load_clip(path, args.frames, short_side=short), path.name
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (args.frames, short, short * 4 // 3, 3), np.uint8), "synthetic"


def _start_server(config):
    rest, grpc_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [sys.executable, "serving/server.py", f"--port={grpc_port}", f"--rest_api_port={rest}",
         f"--model_config_file={config}", "--file_system_poll_wait_seconds=0"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/models/ispan", timeout=2) as r:
                if b"AVAILABLE" in r.read():
                    return proc, f"http://127.0.0.1:{rest}", f"127.0.0.1:{grpc_port}"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise TimeoutError("server did not start")


def _measure(make_call, sequential, requests, concurrency):
    """Sequential latencies, then `requests` calls from `concurrency` threads (one caller each)."""
    call = make_call()
    for _ in range(3):
        call()
    seq = []
    for _ in range(sequential):
        t = time.perf_counter()
        call()
        seq.append(time.perf_counter() - t)
    lat, errors, lock = [], [], threading.Lock()
    per_thread = [
        requests // concurrency + (i < requests % concurrency) for i in range(concurrency)
    ]

    def worker(n):
        fn = make_call()
        for _ in range(n):
            t = time.perf_counter()
            try:
                fn()
                with lock:
                    lat.append(time.perf_counter() - t)
            except Exception as e:  # counted, reported
                with lock:
                    errors.append(repr(e))

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, per_thread))
    wall = time.perf_counter() - start
    ms = lambda xs, q: float(np.percentile(xs, q) * 1e3) if xs else None  # noqa: E731
    return {
        "p50_ms": ms(seq, 50), "p95_ms": ms(seq, 95),
        "load_p50_ms": ms(lat, 50), "load_p95_ms": ms(lat, 95),
        "req_per_s": len(lat) / wall, "requests": len(lat) + len(errors), "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }  # fmt: skip


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--requests", type=int, default=200, help="concurrent-phase requests per path")
    p.add_argument("--sequential", type=int, default=50, help="sequential requests per path")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--only", help="run only the paths whose name contains this text (e.g. JPEG)")
    args = p.parse_args(argv)

    import tensorflow as tf

    from keras_ispan.export.saved_model import export_model
    from keras_ispan.models import build_classifier
    from serving.client import GrpcClient, RestClient, clip_input, rest_body

    frames, clip_name = _clip(args)
    model = build_classifier(
        num_classes=10, backbone="small_cnn", image_size=args.image_size,
        class_names=[f"action_{i}" for i in range(10)],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        result = export_model(model, tmp, name="ispan")
        loaded = tf.saved_model.load(str(result.version_dir))
        server, rest_url, grpc_target = _start_server(result.models_config)
        try:
            uint8, jpeg = clip_input(frames, "uint8"), clip_input(frames, "jpeg")
            sig = loaded.signatures["serving_default"]

            def caller(kind, fmt):
                def make():
                    if kind == "in-process":
                        return lambda: sig(frames=tf.constant(uint8))
                    client = (RestClient if kind == "REST" else GrpcClient)(
                        rest_url if kind == "REST" else grpc_target, "ispan"
                    )
                    data = uint8 if fmt == "uint8" else jpeg
                    return lambda: client.predict(data, fmt)

                return make

            grpc_bytes = GrpcClient(grpc_target, "ispan").predict_request
            paths = {
                "in-process SavedModel (uint8)": (caller("in-process", "uint8"), uint8.nbytes),
                "REST uint8 (JSON)": (caller("REST", "uint8"), len(rest_body(uint8, "uint8"))),
                "REST JPEG (JSON b64)": (caller("REST", "jpeg"), len(rest_body(jpeg, "jpeg"))),
                "gRPC uint8": (caller("gRPC", "uint8"), grpc_bytes(uint8, "uint8").ByteSize()),
                "gRPC JPEG": (caller("gRPC", "jpeg"), grpc_bytes(jpeg, "jpeg").ByteSize()),
            }
            rows = []
            for name, (make_call, nbytes) in paths.items():
                if args.only and args.only not in name:
                    continue
                stats = _measure(make_call, args.sequential, args.requests, args.concurrency)
                rows.append({"path": name, "request_bytes": nbytes, **stats})
                print(
                    f"{name}: {stats['req_per_s']:.1f} req/s, {stats['errors']} errors", flush=True
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"\nclip {clip_name}: {frames.shape[0]} frames {frames.shape[1]}x{frames.shape[2]}, model "
        f"small_cnn {args.image_size}x{args.image_size}, {args.concurrency} concurrent clients"
    )
    print_table(rows, ["path", "request_bytes", "p50_ms", "p95_ms", "load_p50_ms", "load_p95_ms",
                       "req_per_s", "requests", "errors"])  # fmt: skip
    write_json("serving", {
        "command": "python benchmarks/serving.py " + " ".join(argv or sys.argv[1:]),
        "clip": clip_name, "frames_shape": list(frames.shape), "image_size": args.image_size,
        "concurrency": args.concurrency, "rows": rows,
    })  # fmt: skip
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
