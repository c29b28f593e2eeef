"""Classifying one video through a served model: `classify_video`, the record `client.py --json` prints."""

import time
import warnings

import numpy as np

from serving.client_inputs import (
    SIGNATURES,
    _check_format,
    _sample,
    clip_input,
    flow_inputs,
    transport,
)


class TopKWarning(UserWarning):
    """More classes were asked for than the export returns (`export.py --top-k`)."""


def _video_inputs(client, path, fmt, num_frames, short, quality):
    """`(inputs, frame indices, decode info)`: the sampled frames, and the flow stacks too when the
    model reads flow (computed here, as in conversion)."""
    flow_channels = client.flow_channels()
    if not flow_channels:
        frames, indices, info = _sample(path, num_frames)
        return {"frames": clip_input(transport(frames, short), fmt, quality)}, indices, info
    inputs, indices, info = flow_inputs(
        path, num_frames, flow_channels // 2, short, fmt, quality, client.flow_settings()
    )
    if "frames" not in client.signatures().get(SIGNATURES["uint8"], {}):
        inputs.pop("frames")  # a flow model
    return inputs, indices, info


def top_classes(outputs, index=0, k=None, prefix=""):
    """`[(class name, score), ...]` of one clip from predict outputs (the first `k`, or all);
    `prefix="rgb_"` or `"flow_"`: a two-stream model's stream alone."""
    names = [
        n.decode() if isinstance(n, bytes) else str(n)
        for n in outputs[f"{prefix}top_k_classes"][index]
    ]
    pairs = list(zip(names, [float(s) for s in outputs[f"{prefix}top_k_scores"][index]]))
    return pairs if k is None else pairs[:k]


def classify_video(client, path, fmt="jpeg", num_frames=8, top_k=5, short_side=None, quality=90):
    """Samples, transports and sends one video; returns the record `client.py --json` prints.

    Args:
        client: a `RestClient` or `GrpcClient`.
        path: the video file.
        fmt: `"jpeg"` (`serve_jpeg`; lossy, smaller) or `"uint8"` (`serving_default`; exact).
        num_frames: frames sampled at the segment centres.
        top_k: classes returned (at most what the export returns, its `--top-k`).
        short_side: resize to this short side instead of the model's (`client.transport()`).
        quality: JPEG quality for `fmt="jpeg"`.

    Returns:
        `{"video", "top_k": [{"class", "score"}], "frames_used", "frame_indices",
        "attention_shape", "latency_ms" (the predict request's round trip), "model", "version" (the
        version that answered: gRPC answers say; over REST the model status's, `served_version`),
        "transport", "format", "rotation" (display rotation applied, degrees counter-clockwise),
        "warnings" (what the decoder reports: rotation applied, incomplete file, ...)}`, and for
        a two-stream model `"streams"`: `{"rgb": [{"class", "score"}], "flow": [...]}`, each
        stream's top k alone (the keys of `predict.py --json`).

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the video; `ServerError`
        (REST) or `grpc.RpcError` for an error answer.
    """
    _check_format(fmt)
    short = client.transport(short_side).short_side
    inputs, indices, info = _video_inputs(client, path, fmt, num_frames, short, quality)
    start = time.perf_counter()
    outputs, version = client.predict_signature(SIGNATURES[fmt], inputs)
    latency_ms = (time.perf_counter() - start) * 1000.0
    returned = len(outputs["top_k_classes"][0])
    num_classes = np.asarray(outputs["probabilities"]).shape[-1]
    if top_k > returned and returned < num_classes:
        warnings.warn(
            f"the model returns its top {returned} of {num_classes} classes (export.py --top-k); "
            f"--top-k {top_k} gives {returned}",
            TopKWarning,
            stacklevel=2,
        )
    if version is None:
        version = client.served_version()
    streams = {
        stream: [
            {"class": c, "score": s} for c, s in top_classes(outputs, 0, top_k, prefix=f"{stream}_")
        ]
        for stream in ("rgb", "flow")
        if f"{stream}_top_k_classes" in outputs
    }
    return {
        "video": str(path),
        "top_k": [{"class": c, "score": s} for c, s in top_classes(outputs, 0, top_k)],
        **({"streams": streams} if streams else {}),
        "frames_used": int(len(indices)),
        "frame_indices": [int(i) for i in indices],
        "attention_shape": [int(d) for d in np.asarray(outputs["attention"]).shape[1:]],
        "latency_ms": round(latency_ms, 3),
        "model": client.model,
        "version": version,
        "transport": client.transport_name,
        "format": fmt,
        "rotation": int(info["rotation"]),
        "warnings": list(info["warnings"]),
    }
