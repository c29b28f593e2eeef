"""Latency measurements of `benchmarks/frames_tradeoff.py`: the exported signatures in-process
(anytime and fixed T = 8 called alternately on the same clips, so both see the same machine load),
through the local server over gRPC (`serving/server.py`, `serving/client.py`'s `GrpcClient`), and an
untrained backbone that dominates the cost (`--latency-backbone mobilenet_v2:160`).
"""

import tempfile

import numpy as np

from benchmarks.common import start_local_server, timed

K = 8
LEVELS = (1, 2, 4, 8)


def ms_stats(times_s):
    """`{"p50_ms", "p95_ms", "mean_ms"}` of wall times in seconds."""
    ms = np.asarray(times_s) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean())}  # fmt: skip


def export(model, base, name="ispan", threshold=0.9, check_points="doubling", criterion="top1"):
    """`export_model` with one small warmup, the anytime default `threshold`, `check_points` and
    `criterion`."""
    from keras_ispan.export.saved_model import ExportOptions, export_model

    options = ExportOptions(
        warmup_num_frames=(1,), anytime_threshold=threshold, anytime_check_points=check_points,
        anytime_criterion=criterion,
    )  # fmt: skip
    return export_model(model, base, name=name, options=options)


def load_signatures(version_dir):
    """`(loaded, serving_default, serve_anytime)` of an exported version, in-process."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    return loaded, loaded.signatures["serving_default"], loaded.signatures["serve_anytime"]


def transport_clips(clips, transform):
    """Clips at the model's size `(T, S, S, 3)`, edge-padded to the transform's short side so that
    the exported signatures' in-graph resize is a pass-through and their centre crop gives back
    exactly `clips` (the library's input). Raises `AssertionError` if it does not."""
    from keras_ispan.io.frames_tf import eval_resize_and_crop

    pad = transform.short_side - transform.image_size
    widths = ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2), (0, 0))
    out = [np.pad(clip, widths, mode="edge") for clip in clips]
    check = eval_resize_and_crop(out[0], transform.image_size, transform.resize_ratio).numpy()
    assert np.array_equal(check, clips[0]), "the transform does not give back the padded clip"
    return out


def alternate(calls, inputs, repeats=1):
    """Calls each of `calls` (`{name: fn(x)}`) on each input in turn, `repeats` rounds, after one
    warmup round on the first input; returns `{name: [seconds, ...]}`."""
    for fn in calls.values():
        fn(inputs[0])
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for x in inputs:
            for name, fn in calls.items():
                times[name] += timed(lambda fn=fn, x=x: fn(x), 1)
    return times


def served_sweep(signatures, clips, thresholds):
    """Per export (check-point schedule and criterion) and threshold: `serve_anytime` and
    `serving_default` (8 frames) called alternately on `clips` (`transport_clips`, in coarse-to-fine
    order): mean latencies, their ratio and the mean frames the signature used. `signatures`:
    `{(schedule, criterion): (default, anytime)}`; the rows are keyed `(schedule, criterion,
    threshold)`."""
    import tensorflow as tf

    rows = {}
    for key, (serving_default, serve_anytime) in signatures.items():
        for threshold in thresholds:
            t = tf.constant(threshold, tf.float32)
            used = []

            def anytime(clip, t=t, fn=serve_anytime, used=used):
                used.append(int(fn(frames=tf.constant(clip[None]), threshold=t)["frames_used"][0]))

            times = alternate(
                {"fixed": lambda c, fn=serving_default: fn(frames=tf.constant(c[None])),
                 "anytime": anytime}, clips,
            )  # fmt: skip
            fixed, served = ms_stats(times["fixed"]), ms_stats(times["anytime"])
            rows[(*key, float(threshold))] = {
                "served_mean_ms": served["mean_ms"],
                "served_p95_ms": served["p95_ms"],
                "served_fixed_t8_mean_ms": fixed["mean_ms"],
                "latency_ratio_to_t8": served["mean_ms"] / fixed["mean_ms"],
                "served_mean_frames": float(np.mean(used[1:])),  # without the warmup call
            }
    return rows


def grpc_latency(model, clips, frames, threshold, check_points, repeats, criterion="top1"):
    """Through the local server over gRPC: the export carries `threshold` (and `check_points`,
    `criterion`) as its anytime default
    (requests send `threshold = -1`, so the server applies the exported default). Returns
    `{"fixed": [{frames, p50_ms, p95_ms}], "anytime": {...}, "fixed_t8_same_clips": {...}}`."""
    from serving.client import GrpcClient

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as base:
        result = export(model, base, "ispan", threshold, check_points, criterion)
        proc, _, target = start_local_server(result.models_config)
        client = GrpcClient(target, model="ispan")
        try:
            size = clips[0].shape[1]
            fixed = []
            for t in frames:
                clip = rng.integers(0, 256, (1, t, size, size, 3), dtype=np.uint8)
                times = alternate(
                    {"f": lambda c: client.predict_signature("serving_default", {"frames": c})},
                    [clip], repeats,
                )  # fmt: skip
                stats = ms_stats(times["f"])
                fixed.append({"frames": t, "grpc_p50_ms": stats["p50_ms"],
                              "grpc_p95_ms": stats["p95_ms"]})  # fmt: skip
            used, applied = [], []

            def anytime(clip):
                inputs = {"frames": clip[None], "threshold": np.float32(-1.0)}
                out, _ = client.predict_signature("serve_anytime", inputs)
                used.append(int(out["frames_used"][0]))
                applied.append(float(out["threshold"][0]))

            times = alternate(
                {"fixed": lambda c: client.predict_signature("serving_default",
                                                             {"frames": c[None]}),
                 "anytime": anytime}, clips,
            )  # fmt: skip
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=60)
    served, same = ms_stats(times["anytime"]), ms_stats(times["fixed"])
    return {
        "fixed": fixed,
        "anytime": {
            **served,
            "mean_frames": float(np.mean(used[1:])),
            "default_threshold_applied": applied[-1],
        },  # fmt: skip
        "fixed_t8_same_clips": same,
        "latency_ratio_to_t8": served["mean_ms"] / same["mean_ms"],
    }


def backbone_latency(spec, num_classes, stop_fractions, repeats, check_points="doubling"):
    """An untrained classifier on a backbone that dominates the cost (`"mobilenet_v2:160"`), exported
    with `check_points`: `serving_default` at 1, 2, 4, 8 frames, and `serve_anytime` run to each
    frame count n where clips stop (its first n frames, threshold above 1: the cost of stopping after
    n frames), all called alternately. The expected anytime latency weights those costs with
    `stop_fractions` (`{n: fraction of clips stopping after n frames}`, measured on the trained model
    at the recommended threshold): its ratio to fixed T = 8 is an estimate, not a measurement of the
    trained big backbone (it has not been trained here, its own stops may differ)."""
    import tensorflow as tf

    from keras_ispan.models import build_classifier

    name, size = spec.split(":")
    size = int(size)
    model = build_classifier(num_classes, backbone=name, image_size=size, weights=None)
    clip = np.random.default_rng(0).integers(0, 256, (1, K, size, size, 3), dtype=np.uint8)
    never = tf.constant(2.0, tf.float32)
    stops = sorted({*stop_fractions, K})
    with tempfile.TemporaryDirectory() as base:
        result = export(model, base, check_points=check_points)
        _, serving_default, serve_anytime = load_signatures(result.version_dir)
        calls = {}
        for n in sorted({*LEVELS, *stops}):
            frames = tf.constant(clip[:, :n])
            if n in LEVELS:
                calls[f"fixed{n}"] = lambda _, f=frames: serving_default(frames=f)
            if n in stops:
                calls[f"anytime{n}"] = lambda _, f=frames: serve_anytime(frames=f, threshold=never)
        times = alternate(calls, [None], repeats)
    p50 = {key: ms_stats(value)["p50_ms"] for key, value in times.items()}
    rows = [{"frames": n, "fixed_p50_ms": p50.get(f"fixed{n}"),
             "anytime_to_n_p50_ms": p50.get(f"anytime{n}")} for n in sorted({*LEVELS, *stops})]  # fmt: skip
    t8 = p50[f"fixed{K}"]
    expected = sum(stop_fractions.get(n, 0.0) * p50[f"anytime{n}"] for n in stops)
    return {
        "backbone": name,
        "image_size": size,
        "check_points": check_points,
        "rows": rows,
        "stop_fractions": {str(k): v for k, v in stop_fractions.items()},
        "expected_anytime_ms": expected,
        "fixed_t8_p50_ms": t8,
        "expected_latency_ratio_to_t8": expected / t8,
    }
