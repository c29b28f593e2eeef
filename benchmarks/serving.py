"""Serving benchmark: latency and throughput of REST (uint8, JPEG), gRPC and the in-process SavedModel,
and latency and errors during a hot reload.

    python benchmarks/serving.py                      # small_cnn, 112x112, 8 frames, 200 requests
    python benchmarks/serving.py --requests 40 --sequential 10 --reload-lead 1   # quick smoke run

One clip (a real one from ../shared/data/clips when present, else synthetic), one exported model, one
local server (`serving/server.py`, a separate process), same run. The frames sent are those
`serving/client.py` sends: the sampled frames resized (`transport_frames`) to the short side the client
learns from the model's `preprocess` signature. For each path: p50 / p95 latency of sequential
requests, then 4 concurrent clients sending `--requests` requests in total (req/s, p50 / p95 under load,
errors), and the request size in bytes. Then the hot-reload row: `--reload-clients` (8) gRPC JPEG
clients send requests while `serving/export.py` (its own process) exports version 2 into the served
base path and the server (polling every `--poll-seconds`) loads it and retires version 1: errors, p50 /
p99 of the requests sent from the export's start to the end, the versions that answered before and
after. Writes benchmarks/results/serving.json (`--output` elsewhere)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.common import command_line, print_table, start_local_server, write_json  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "clips" / "arm_wrestling_k400.mp4"


def _clip_name():
    return CLIP.name if CLIP.exists() else "synthetic"


def _frames(args, short_side):
    """The frames `serving/client.py` sends: the sampled frames at the video's own size, resized by
    `transport_frames` to `short_side` (synthetic 4:3 frames when the clip is absent)."""
    from serving.client import load_clip

    if CLIP.exists():
        return load_clip(CLIP, args.frames, short_side=short_side)
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (args.frames, short_side, short_side * 4 // 3, 3), np.uint8)


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


def _reload_worker(client, data, fmt, stop, records, lock):
    """Sends requests until `stop`; records `(sent at, seconds, version or None, error or None)`."""
    from serving.client import SIGNATURES

    while not stop.is_set():
        t = time.perf_counter()
        try:
            _, version = client.predict_signature(SIGNATURES[fmt], {"frames": data})
            record = (t, time.perf_counter() - t, version, None)
        except Exception as e:  # counted, reported
            record = (t, time.perf_counter() - t, None, repr(e))
        with lock:
            records.append(record)


def _export_new_version(model, base, version):
    """Exports `model` as `version` of `base/ispan` with `serving/export.py` in its own process (as a
    deployment would); returns its wall seconds."""
    keras_path = pathlib.Path(base).parent / f"v{version}.keras"
    model.save(keras_path)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "serving/export.py", f"--model={keras_path}", f"--export-base={base}",
         "--name=ispan", f"--version={version}"],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - t


def _wait_for_version(records, lock, version, timeout):
    """`perf_counter` time of the first answer by `version` (None after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lock:
            sent = [r[0] + r[1] for r in records if r[2] == version]
        if sent:
            return min(sent)
        time.sleep(0.05)
    return None


def _hot_reload(grpc_target, model, base, data, args):
    """`--reload-clients` gRPC clients send `data` throughout: `--reload-lead` seconds on the old
    version, the export of a new version into the served base path, its hot load (the server polls
    every `--poll-seconds`), then `--reload-lead` seconds more. Latencies are those of the requests
    sent from the export's start to the end."""
    from serving.client import GrpcClient

    stop, lock, records = threading.Event(), threading.Lock(), []
    clients = [GrpcClient(grpc_target, "ispan") for _ in range(args.reload_clients)]
    threads = [
        threading.Thread(target=_reload_worker, args=(c, data, "jpeg", stop, records, lock))
        for c in clients
    ]
    for th in threads:
        th.start()
    try:
        time.sleep(args.reload_lead)
        t_export = time.perf_counter()
        export_s = _export_new_version(model, base, 2)
        t_done = time.perf_counter()
        t_first = _wait_for_version(records, lock, 2, timeout=180)
        time.sleep(args.reload_lead)
    finally:
        stop.set()
        for th in threads:
            th.join()
        for c in clients:
            c.close()
    return _reload_row(records, t_export, (export_s, t_done), t_first, args)


def _reload_row(records, t_export, export, t_first, args):
    """The row: `export` is `(seconds of serving/export.py, perf_counter time the export ended)`."""
    export_s, t_done = export
    before = [r for r in records if r[0] < t_export]
    during = [r for r in records if r[0] >= t_export]
    lat = [r[1] for r in during if r[3] is None]
    errors = [r[3] for r in records if r[3] is not None]
    ms = lambda xs, q: float(np.percentile(xs, q) * 1e3) if xs else None  # noqa: E731
    last = sorted(r for r in records if r[3] is None)[-args.reload_clients :]
    return {
        "path": f"gRPC JPEG, {args.reload_clients} clients, hot reload v1 -> v2",
        "requests": len(records), "requests_during_reload": len(during), "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "steady_p50_ms": ms([r[1] for r in before if r[3] is None], 50),
        "reload_p50_ms": ms(lat, 50), "reload_p99_ms": ms(lat, 99), "reload_max_ms": ms(lat, 100),
        "version_before": sorted({r[2] for r in before if r[3] is None}),
        "version_after": sorted({r[2] for r in last}),
        "export_s": export_s,
        "first_v2_answer_after_export_s": None if t_first is None else t_first - t_done,
        "answers_by_version": {
            str(v): sum(r[2] == v for r in records) for v in sorted({r[2] for r in records} - {None})
        },
        "poll_seconds": args.poll_seconds,
    }  # fmt: skip


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--requests", type=int, default=200, help="concurrent-phase requests per path")
    p.add_argument("--sequential", type=int, default=50, help="sequential requests per path")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--only", help="run only the paths whose name contains this text (e.g. JPEG)")
    p.add_argument("--reload-clients", type=int, default=8, help="clients during the hot reload")
    p.add_argument(
        "--reload-lead", type=float, default=3.0,
        help="seconds of requests before the export and after the new version first answers",
    )  # fmt: skip
    p.add_argument("--poll-seconds", type=float, default=1.0, help="server's version poll period")
    p.add_argument("--no-reload", action="store_true", help="skip the hot-reload row")
    p.add_argument("--output", type=pathlib.Path, help="JSON path (default: results/serving.json)")
    return p.parse_args(argv)


def _paths(sig, frames, rest_url, grpc_target):
    """`{path name: (make_call, request bytes)}` for `frames` (already at the transport size)."""
    import tensorflow as tf

    from serving.client import GrpcClient, RestClient, clip_input, rest_body

    uint8, jpeg = clip_input(frames, "uint8"), clip_input(frames, "jpeg")

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
    return {
        "in-process SavedModel (uint8)": (caller("in-process", "uint8"), uint8.nbytes),
        "REST uint8 (JSON)": (caller("REST", "uint8"), len(rest_body(uint8, "uint8"))),
        "REST JPEG (JSON b64)": (caller("REST", "jpeg"), len(rest_body(jpeg, "jpeg"))),
        "gRPC uint8": (caller("gRPC", "uint8"), grpc_bytes(uint8, "uint8").ByteSize()),
        "gRPC JPEG": (caller("gRPC", "jpeg"), grpc_bytes(jpeg, "jpeg").ByteSize()),
    }


def _run(args, model, tmp):
    """`(rows, reload row or None, frames sent, transport)` against one exported model and server."""
    import tensorflow as tf

    from keras_ispan.export.saved_model import export_model
    from serving.client import GrpcClient, clip_input

    result = export_model(model, tmp, name="ispan", version=1)
    loaded = tf.saved_model.load(str(result.version_dir))
    server, rest_url, grpc_target = start_local_server(
        result.models_config, poll_seconds=args.poll_seconds
    )
    try:
        transport = GrpcClient(grpc_target, "ispan").transport()  # as serving/client.py learns it
        frames = _frames(args, transport.short_side)
        rows = []
        for name, (make_call, nbytes) in _paths(
            loaded.signatures["serving_default"], frames, rest_url, grpc_target
        ).items():
            if args.only and args.only not in name:
                continue
            stats = _measure(make_call, args.sequential, args.requests, args.concurrency)
            rows.append({"path": name, "request_bytes": nbytes, **stats})
            print(f"{name}: {stats['req_per_s']:.1f} req/s, {stats['errors']} errors", flush=True)
        reload_row = None
        if not args.no_reload:
            reload_row = _hot_reload(grpc_target, model, tmp, clip_input(frames, "jpeg"), args)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows, reload_row, frames, transport


def main(argv=None):
    args = _parse(argv)
    from keras_ispan.models import build_classifier

    model = build_classifier(
        num_classes=10, backbone="small_cnn", image_size=args.image_size,
        class_names=[f"action_{i}" for i in range(10)],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        rows, reload_row, frames, transport = _run(args, model, pathlib.Path(tmp) / "models")
    print(
        f"\nclip {_clip_name()}: {args.frames} frames sent at {frames.shape[1]}x{frames.shape[2]} "
        f"(short side {transport.short_side}, learned from '{transport.source}'), model small_cnn "
        f"{args.image_size}x{args.image_size}, {args.concurrency} concurrent clients"
    )
    print_table(rows, ["path", "request_bytes", "p50_ms", "p95_ms", "load_p50_ms", "load_p95_ms",
                       "req_per_s", "requests", "errors"])  # fmt: skip
    if reload_row:
        print()
        print_table([reload_row], [k for k, v in reload_row.items() if not isinstance(v, dict)])
    payload = {
        "command": command_line(__file__, argv or None),
        "clip": _clip_name(), "frames_shape": list(frames.shape), "image_size": args.image_size,
        "short_side": transport.short_side, "short_side_source": transport.source,
        "concurrency": args.concurrency, "rows": rows, "hot_reload": reload_row,
    }  # fmt: skip
    _write(payload, args.output)
    rows_ok = all(r["errors"] == 0 for r in rows)
    reload_ok = reload_row is None or (
        reload_row["errors"] == 0 and reload_row["version_after"] == [2]
    )
    return 0 if rows_ok and reload_ok else 1


def _write(payload, output):
    if output is None:
        return write_json("serving", payload)
    from benchmarks.common import machine
    from keras_ispan.io.atomic import write_json_atomic

    write_json_atomic(output, {"machine": machine(), **payload}, indent=2)
    print(f"wrote {output}")
    return output


if __name__ == "__main__":
    sys.exit(main())
