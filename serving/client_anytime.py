"""Anytime classification through a served model's `serve_anytime` signature (`client.py --anytime`).

The client samples `max_frames` frames at the TSN segment centres (as `training/predict.py --anytime
--max-frames` does), resizes them for transport (`serving.client.transport`), and sends them in
coarse-to-fine order (`keras_ispan.io.coarse_to_fine.coarse_to_fine_indices`: the centre first, then
evenly spread 2, 4, 8, ... frames) as raw uint8 in one request. The server stops inside the graph once
the confidence reaches the threshold, at the check points the export chose (by default after 1, 2, 4,
8, ... frames). The criterion (the top-1 probability, or its margin over the second) is the export's
(`serving/export.py --anytime-criterion`) and comes back with the answer; a request cannot change it,
so `criterion` (`client.py --criterion`) only asks the served model to match it (an error otherwise:
a threshold means something else under the other criterion). An export made before the criterion
existed answers without it: its criterion is the top-1 probability. Without a threshold of its own the request sends `-1`, and the server applies
the export's default (`serving/export.py --anytime-threshold`, recommended by
`benchmarks/frames_tradeoff.py`); the answer says which threshold it applied.
"""

import time

import numpy as np

from keras_ispan.options import ANYTIME_CRITERIA
from serving.client_classify import top_classes
from serving.client_inputs import _sample, clip_input, transport

CRITERIA = ANYTIME_CRITERIA

__all__ = ["ANYTIME_SIGNATURE", "check_anytime_model", "classify_video_anytime"]

ANYTIME_SIGNATURE = "serve_anytime"
USE_EXPORT_DEFAULT = -1.0


def classify_video_anytime(
    client, path, threshold=None, max_frames=8, top_k=5, short_side=None, criterion=None
):  # fmt: skip
    """Samples, orders and sends one video to `serve_anytime`; returns the `client.py --anytime
    --json` record.

    Args:
        client: a `serving.client.RestClient` or `GrpcClient`.
        path: the video file.
        threshold: stop when the top-1 probability reaches it (above 1: never); None for the
            export's default.
        max_frames: frames at most (the TSN centres of that many segments).
        top_k: classes returned (at most what the export returns).
        short_side: resize to this short side instead of the model's (`client.transport()`).
        criterion: `"top1"` or `"margin"`: the stop criterion the served export must use; None
            for whichever it uses.

    Returns:
        The keys of `serving.client.classify_video`'s record (`frames_used` and `frame_indices`:
        the frames the model used, in the order taken; `attention_shape` over those frames;
        `format` `"uint8"`), and `anytime`: `{"threshold"` (the one the server applied),
        `"criterion"` (the export's), `"max_frames"`, `"budget_ms": None`, `"stopped"`
        (`"confident"` or `"exhausted"`), `"confidence"}`, as `training/predict.py --anytime --json`.

    Raises:
        ValueError: a bad `threshold`, `max_frames` or `criterion`, a served export whose criterion
        is not `criterion`, a model that reads flow (no `serve_anytime`), or a video that cannot be
        decoded (naming it);
        `serving.client.ServerError` (REST) or `grpc.RpcError` for an error answer.
    """
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_indices

    _check_request(client, threshold, max_frames, criterion)
    short = client.transport(short_side).short_side
    frames, indices, info = _sample(path, max_frames)
    order = coarse_to_fine_indices(len(frames))
    inputs = {
        "frames": clip_input(transport(frames[order], short), "uint8"),
        "threshold": np.float32(USE_EXPORT_DEFAULT if threshold is None else threshold),
    }
    start = time.perf_counter()
    outputs, version = client.predict_signature(ANYTIME_SIGNATURE, inputs)
    latency_ms = (time.perf_counter() - start) * 1000.0
    used = int(np.asarray(outputs["frames_used"]).ravel()[0])
    record = _anytime_record(outputs, max_frames, criterion, client.model)
    attention = np.asarray(outputs["attention"])[0, :used]
    if version is None:
        version = client.served_version()
    return {
        "video": str(path),
        "top_k": [{"class": c, "score": s} for c, s in top_classes(outputs, 0, top_k)],
        "frames_used": used,
        "frame_indices": [int(i) for i in np.asarray(indices)[order[:used]]],
        "attention_shape": [int(d) for d in attention.shape],
        "latency_ms": round(latency_ms, 3),
        "model": client.model,
        "version": version,
        "transport": client.transport_name,
        "format": "uint8",
        "rotation": int(info["rotation"]),
        "warnings": list(info["warnings"]),
        "anytime": record,
    }


def _check_request(client, threshold, max_frames, criterion):
    """Raises `ValueError` for a bad `threshold`, `max_frames` or `criterion`, or a model without
    `serve_anytime`."""
    if threshold is not None and not threshold >= 0:
        raise ValueError(f"`threshold` must be >= 0 or None. Received: threshold={threshold}")
    if criterion not in (None, *CRITERIA):
        raise ValueError(f"`criterion` must be one of {CRITERIA} or None. Received: {criterion!r}")
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(
            f"`max_frames` must be a positive integer. Received: max_frames={max_frames}"
        )
    check_anytime_model(client)


def check_anytime_model(client):
    """Raises `ValueError` naming `client.model` when it reads optical flow: only RGB exports have
    `serve_anytime`."""
    if client.flow_channels():  # say so before decoding
        raise ValueError(
            f"--anytime: model {client.model!r} reads optical flow (a flow or two-stream model) and "
            f"has no {ANYTIME_SIGNATURE} (RGB models only); classify it without --anytime"
        )


class CriterionMismatch(ValueError):
    """`--criterion` names a stop rule the served export does not use (fixed at export): the same for
    every video, so `client.py` stops at the first (a usage error, exit status 2)."""


def _anytime_record(outputs, max_frames, criterion, model):
    """The record's `anytime` entry: the threshold and criterion the server applied and why the model
    stopped. Raises `ValueError` when `criterion` is given and is not the export's."""
    applied = float(np.asarray(outputs["threshold"]).ravel()[0])
    served, confidence = _served_confidence(outputs)
    if criterion is not None and served != criterion:
        raise CriterionMismatch(
            f"--criterion {criterion}: model {model!r} stops by {served} (fixed at export); "
            f"export it with `serving/export.py ... --anytime-criterion {criterion}` or drop "
            "--criterion"
        )
    return {
        "threshold": round(applied, 6),
        "criterion": served,
        "max_frames": int(max_frames),
        "budget_ms": None,
        "stopped": "confident" if confidence >= applied else "exhausted",
        "confidence": round(confidence, 6),
    }


def _served_confidence(outputs):
    """`(criterion, confidence)` of the first clip of a `serve_anytime` answer; an export without
    those outputs (made before they existed) stops by the top-1 probability."""
    if "criterion" not in outputs:
        return "top1", float(np.max(np.asarray(outputs["probabilities"])[0]))
    served = np.asarray(outputs["criterion"]).ravel()[0]
    served = served.decode() if isinstance(served, bytes) else str(served)
    return served, float(np.asarray(outputs["confidence"]).ravel()[0])
