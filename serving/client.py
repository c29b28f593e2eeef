"""REST and gRPC clients for a served keras-ispan model, as functions and a CLI.

    python serving/client.py VIDEO [VIDEO ...] --model ispan --rest http://127.0.0.1:8501
    python serving/client.py VIDEO --model ispan --grpc 127.0.0.1:8500 --format uint8 --json
    python serving/client.py VIDEO --grpc 127.0.0.1:8500 --anytime --json   # stops when sure

Each video is decoded at its own resolution and sampled as `training/predict.py` does (8 frames at the
TSN segment centres, `keras_ispan.io.video.read_clip`). The client then applies step 1 of the model's
transform itself (`keras_ispan.io.frames_tf.transport_frames`: the short side resized to the model's
`short_side`, learned once from the server's `preprocess` signature) and sends those frames, raw uint8
(`serving_default`) or JPEG-encoded (`serve_jpeg`, smaller, lossy). The server's in-graph resize is
then a pass-through and its centre crop finishes the transform, so with `--format uint8` the model sees
exactly what `training/predict.py` feeds it. `--anytime` sends up to `--max-frames` frames in
coarse-to-fine order to `serve_anytime`, which stops once the model is sure (`serving/client_anytime.py`;
the same frames and answer as `training/predict.py --anytime`). Prints the top-k classes, or one JSON
object per video (`--json`). Errors print one line `client.py: error: ...` on stderr: exit status 2 when nothing could be
sent (bad flags, no server, unknown model), 1 when a video failed.
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import base64  # noqa: E402
import dataclasses  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

PROG = "client.py"
SIGNATURES = {"jpeg": "serve_jpeg", "uint8": "serving_default"}
PREPROCESS_SIGNATURE = "preprocess"
PREPROCESSED_SIGNATURE = "serve_preprocessed"
MAX_MESSAGE_BYTES = 256 * 2**20


class TopKWarning(UserWarning):
    """More classes were asked for than the export returns (`export.py --top-k`)."""


class ServerError(RuntimeError):
    """An error answer of the server: `status` (HTTP code, or gRPC code name) and its message."""

    def __init__(self, status, message):
        self.status = status
        self.message = str(message)
        super().__init__(f"{status}: {self.message}")


def sample_clip(path, num_frames=8):
    """The frames `training/predict.py` samples: `(frames (T, H, W, 3) uint8, frame indices (T,))`.

    `T = num_frames` frames at the TSN segment centres, at the video's own resolution.

    Raises:
        keras_ispan.io.video.VideoDecodeError (a `ValueError`) naming the file.
    """
    frames, indices, _ = _sample(path, num_frames)
    return frames, indices


def _sample(path, num_frames):
    """`sample_clip` and `read_clip`'s info (rotation, warnings)."""
    from keras_ispan.io.video import read_clip

    clip, info = read_clip(path, num_frames, short_side=None)
    return clip[0], np.asarray(info["frame_indices"][0]), info


def load_clip(path, num_frames=8, short_side=None):
    """The sampled frames of `path` (`sample_clip`), resized by `transport_frames` when `short_side`."""
    frames, _ = sample_clip(path, num_frames)
    return frames if short_side is None else transport(frames, short_side)


def transport(frames, short_side):
    """`keras_ispan.io.frames_tf.transport_frames` as NumPy: uint8 `(..., H, W, 3)`, short side resized."""
    from keras_ispan.io.frames_tf import transport_frames

    return np.asarray(transport_frames(np.asarray(frames, np.uint8), int(short_side)))


def encode_jpeg(frames, quality=90):
    """JPEG-encodes uint8 `(T, H, W, 3)` frames; returns a list of `bytes`."""
    import tensorflow as tf

    return [tf.io.encode_jpeg(f, quality=quality).numpy() for f in np.asarray(frames, np.uint8)]


def _check_format(fmt):
    if fmt not in SIGNATURES:
        raise ValueError(f"`fmt` must be one of {sorted(SIGNATURES)}. Received: fmt={fmt!r}")


def clip_input(frames, fmt="jpeg", quality=90):
    """The `frames` input for one clip: `(1, T)` JPEG bytes or `(1, T, H, W, 3)` uint8."""
    _check_format(fmt)
    frames = np.asarray(frames, np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"`frames` must have shape (T, H, W, 3). Received: shape={frames.shape}")
    if fmt == "jpeg":
        return np.array([encode_jpeg(frames, quality)], dtype=object)
    return frames[None]


def flow_inputs(path, num_frames, flow_length, short_side, fmt="jpeg", quality=90):
    """`({"frames", "flow"}, frame indices, decode info)` of a video for a two-stream export.

    The whole video is decoded, resized to `short_side` (`transport`) and sampled as `training/predict.py`
    does (`keras_ispan.io.flow_clip.read_two_stream_clip`: RGB frames at the segment centres, flow stacks
    from `keras_ispan.io.flow.clip_flow`, the conversion's code). `fmt="uint8"`: frames `(1, K, H, W, 3)`
    and flow `(1, K, H, W, 2L)` uint8; `"jpeg"`: frames `(1, K)` JPEG and flow `(1, K, 2L)` grey JPEGs.
    """
    from keras_ispan.io.flow_clip import read_two_stream_clip

    rgb, flow, indices, info = read_two_stream_clip(
        path, num_frames, flow_length, resize=lambda f: transport(f, short_side)
    )
    if fmt == "uint8":
        return {"frames": rgb[None], "flow": flow[None]}, indices, info
    channels = np.moveaxis(flow, -1, 1)[..., None]  # (K, 2L, H, W, 1)
    grey = [[_grey_jpeg(image, quality) for image in clip] for clip in channels]
    inputs = {
        "frames": clip_input(rgb, "jpeg", quality),
        "flow": np.array([grey], dtype=object),
    }
    return inputs, indices, info


def _video_inputs(client, path, fmt, num_frames, short, quality):
    """`(inputs, frame indices, decode info)`: the sampled frames, and the flow stacks too when the
    model reads flow (computed here, as in conversion)."""
    flow_channels = client.flow_channels()
    if not flow_channels:
        frames, indices, info = _sample(path, num_frames)
        return {"frames": clip_input(transport(frames, short), fmt, quality)}, indices, info
    inputs, indices, info = flow_inputs(path, num_frames, flow_channels // 2, short, fmt, quality)
    if "frames" not in client.signatures().get(SIGNATURES["uint8"], {}):
        inputs.pop("frames")  # a flow model
    return inputs, indices, info


def _grey_jpeg(image, quality=90):
    import tensorflow as tf

    return tf.io.encode_jpeg(np.asarray(image, np.uint8), quality=quality).numpy()


def _json_tensor(value):
    value = np.asarray(value)
    if value.dtype.kind in "OS":
        return np.vectorize(
            lambda b: {"b64": base64.b64encode(b).decode("ascii")}, otypes=[object]
        )(value).tolist()
    return value.tolist()


def predict_body(signature_name, inputs):
    """A REST predict body (columnar `inputs` format) as `bytes`; string tensors go as `{"b64": ...}`."""
    body = {
        "signature_name": signature_name,
        "inputs": {k: _json_tensor(v) for k, v in inputs.items()},
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def rest_body(frames_input, fmt):
    """The REST predict body of a `clip_input(...)` batch as `bytes`."""
    _check_format(fmt)
    return predict_body(SIGNATURES[fmt], {"frames": frames_input})


@dataclasses.dataclass(frozen=True)
class Transport:
    """What the client resizes to before sending: `short_side`, the model's `image_size` (when known),
    and `source`: `"preprocess"` (learned from the model), `"fallback"` (the model has no `preprocess`
    signature: `round(S * 256 / 224)` with S from `serve_preprocessed`) or `"override"`."""

    short_side: int
    image_size: int | None
    source: str

    @property
    def note(self):
        if self.source != "fallback":
            return None
        return (
            f"the model has no '{PREPROCESS_SIGNATURE}' signature (exported before it existed): "
            f"assuming short side {self.short_side} = round({self.image_size} * 256 / 224)"
        )


@dataclasses.dataclass
class _ClientBase:
    """What both clients share: the model version or label asked for, the timeout (seconds),
    keyword-only; learning the transport from the server, classifying a clip."""

    _: dataclasses.KW_ONLY
    version: int | None = None
    label: str | None = None
    timeout: float = 60.0

    def transport(self, short_side=None):
        """The `Transport` to use (learned once per client and cached; `short_side` overrides)."""
        if short_side is not None:
            return Transport(int(short_side), None, "override")
        cached = getattr(self, "_transport", None)
        if cached is None:
            cached = self._learn_transport()
            self._transport = cached
        return cached

    def _learn_transport(self):
        from keras_ispan.io.transform import short_side_for

        signatures = self.signatures()
        if PREPROCESS_SIGNATURE in signatures:
            tiny = np.zeros((1, 1, 1, 1, 3), np.uint8)
            outputs, _ = self.predict_signature(PREPROCESS_SIGNATURE, {"frames": tiny})
            return Transport(
                int(np.asarray(outputs["short_side"]).ravel()[0]),
                int(np.asarray(outputs["image_size"]).ravel()[0]),
                "preprocess",
            )
        shape = signatures.get(PREPROCESSED_SIGNATURE, {}).get("frames")
        if not shape or len(shape) != 5 or not shape[2] or shape[2] < 1:
            raise ServerError(
                "FAILED_PRECONDITION",
                f"the model has neither a '{PREPROCESS_SIGNATURE}' nor a '{PREPROCESSED_SIGNATURE}' "
                f"signature with a fixed frame size (signatures: {sorted(signatures)}); "
                "give --short-side",
            )
        return Transport(short_side_for(int(shape[2])), int(shape[2]), "fallback")

    def served_version(self):
        """The version that answers this client's requests now: `version` when given, else the
        largest AVAILABLE one the model status lists (for a `label`, the version it names; the
        status request follows the predict request, so a version loaded in between is reported)."""
        if self.version is not None:
            return int(self.version)
        available = [v for v, state in self._version_states() if state == "AVAILABLE"]
        return max(available) if available else None

    def flow_channels(self):
        """`2L` when the model's `serving_default` takes `flow` (a flow or two-stream model), else 0."""
        cached = getattr(self, "_flow_channels", None)
        if cached is None:
            shape = self.signatures().get(SIGNATURES["uint8"], {}).get("flow")
            cached = int(shape[-1]) if shape and shape[-1] else 0
            self._flow_channels = cached
        return cached

    def predict(self, frames_input, fmt="jpeg"):
        """Outputs `{name: np.ndarray}` for a `clip_input(...)` batch."""
        _check_format(fmt)
        return self.predict_signature(SIGNATURES[fmt], {"frames": frames_input})[0]


@dataclasses.dataclass
class RestClient(_ClientBase):
    """A TF Serving REST client on one persistent HTTP connection (one client per thread)."""

    transport_name = "rest"  # not a field: the `transport` of `--json` records
    url: str
    model: str

    def __post_init__(self):
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"`url` must be http://HOST:PORT. Received: url={self.url!r}")
        try:
            self._host, self._port = parts.hostname, parts.port or 80
        except ValueError as e:
            raise ValueError(f"`url` has a bad port ({e}). Received: url={self.url!r}") from None
        self._conn = None
        quoted = urllib.parse.quote(self.model, safe="")
        self._prefix = f"/v1/models/{quoted}"
        if self.version is not None:
            self._prefix += f"/versions/{int(self.version)}"
        elif self.label:
            self._prefix += f"/labels/{urllib.parse.quote(self.label, safe='')}"

    def request(self, method, path, body=None):
        """`(http_status, parsed JSON)` of one request; reconnects once on a dropped connection."""
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, json.loads(data) if data else None
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.close()
                if attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _ok(self, status, data):
        if status != 200:
            message = data.get("error", data) if isinstance(data, dict) else data
            raise ServerError(status, message)
        return data

    def predict_body(self, body):
        return self._ok(*self.request("POST", self._prefix + ":predict", body))["outputs"]

    def predict_signature(self, signature_name, inputs):
        """`(outputs {name: np.ndarray}, None)`: REST answers do not say which version answered."""
        outputs = self.predict_body(predict_body(signature_name, inputs))
        if not isinstance(outputs, dict):  # a one-output signature answers the bare value
            raise ServerError(200, "expected named outputs in the answer")
        return {k: np.asarray(v) for k, v in outputs.items()}, None

    def status(self):
        return self._ok(*self.request("GET", self._prefix))

    def _version_states(self):
        return [
            (int(v["version"]), v.get("state"))
            for v in self.status().get("model_version_status", [])
        ]

    def metadata(self):
        return self._ok(*self.request("GET", self._prefix + "/metadata"))

    def signatures(self):
        """`{signature name: {input key: shape list (None for unknown dims)}}` from the metadata."""
        sigs = self.metadata()["metadata"]["signature_def"]["signature_def"]
        out = {}
        for name, sig in sigs.items():
            out[name] = {}
            for key, info in sig.get("inputs", {}).items():
                shape = info.get("tensor_shape", {})
                dims = [int(d.get("size", -1)) for d in shape.get("dim", [])]
                out[name][key] = (
                    None if shape.get("unknown_rank") else [d if d >= 0 else None for d in dims]
                )
        return out


def grpc_channel(target, max_message_bytes=MAX_MESSAGE_BYTES):
    """An insecure channel with large message limits (gRPC's default receive limit is 4 MiB)."""
    import grpc

    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    return grpc.insecure_channel(target, options=options)


@dataclasses.dataclass
class GrpcClient(_ClientBase):
    """A TF Serving gRPC client (`PredictionService` and `ModelService` stubs); thread-safe."""

    transport_name = "grpc"  # not a field: the `transport` of `--json` records
    target: str
    model: str
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def __post_init__(self):
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        if "://" in self.target:
            raise ValueError(
                f"`target` must be HOST:PORT (gRPC, no scheme). Received: target={self.target!r}"
            )
        self.channel = grpc_channel(self.target, self.max_message_bytes)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _spec(self, spec, signature_name=None):
        spec.name = self.model
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label:
            spec.version_label = self.label
        if signature_name:
            spec.signature_name = signature_name

    def signature_request(self, signature_name, inputs):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        return request

    def predict_request(self, frames_input, fmt="jpeg"):
        _check_format(fmt)
        return self.signature_request(SIGNATURES[fmt], {"frames": frames_input})

    def predict_signature(self, signature_name, inputs):
        """`(outputs {name: np.ndarray}, version that answered)`."""
        import tensorflow as tf

        response = self.predictions.Predict(
            self.signature_request(signature_name, inputs), timeout=self.timeout
        )
        outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
        return outputs, int(response.model_spec.version.value) or None

    def status(self):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        return self.models.GetModelStatus(request, timeout=self.timeout)

    def _version_states(self):
        from tensorflow_serving.apis import get_model_status_pb2

        names = get_model_status_pb2.ModelVersionStatus.State
        return [(int(v.version), names.Name(v.state)) for v in self.status().model_version_status]

    def metadata(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        return self.predictions.GetModelMetadata(request, timeout=self.timeout)

    def signatures(self):
        """`{signature name: {input key: shape list (None for unknown dims)}}` from the metadata."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        sig_map = get_model_metadata_pb2.SignatureDefMap()
        self.metadata().metadata["signature_def"].Unpack(sig_map)
        out = {}
        for name, sig in sig_map.signature_def.items():
            out[name] = {}
            for key, info in sig.inputs.items():
                shape = info.tensor_shape
                out[name][key] = (
                    None
                    if shape.unknown_rank
                    else [d.size if d.size >= 0 else None for d in shape.dim]
                )
        return out

    def close(self):
        self.channel.close()


def top_classes(outputs, index=0, k=None):
    """`[(class name, score), ...]` of one clip from predict outputs (the first `k`, or all)."""
    names = [
        n.decode() if isinstance(n, bytes) else str(n) for n in outputs["top_k_classes"][index]
    ]
    pairs = list(zip(names, [float(s) for s in outputs["top_k_scores"][index]]))
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
        "warnings" (what the decoder reports: rotation applied, incomplete file, ...)}`.

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
    return {
        "video": str(path),
        "top_k": [{"class": c, "score": s} for c, s in top_classes(outputs, 0, top_k)],
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


# ---------------------------------------------------------------- command line


class UsageError(Exception):
    """A problem with the command line or the server it names: one line, exit status 2."""


def _parser():
    from serving.cli import HelpFormatter, add_common_flags

    p = argparse.ArgumentParser(
        prog=PROG,
        description="Classify videos with a served keras-ispan model.",
        formatter_class=HelpFormatter,
    )
    add_common_flags(p)
    p.add_argument("videos", nargs="+", help="video files (MP4, AVI, WebM, GIF, ...)")
    p.add_argument("--model", default="ispan", help="served model name")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--rest", help="http://HOST:PORT of the REST API (TF Serving: 8501)")
    target.add_argument("--grpc", help="HOST:PORT of the gRPC API (TF Serving: 8500)")
    version = p.add_mutually_exclusive_group()
    version.add_argument("--version", type=int, help="model version (default: the latest)")
    version.add_argument("--label", help="model version label (e.g. stable, canary)")
    p.add_argument(
        "--format",
        choices=sorted(SIGNATURES),
        help="jpeg (default): JPEG-encoded frames to serve_jpeg, smaller but lossy (the scores "
        "differ slightly from training/predict.py); uint8: raw frames to serving_default, exact "
        "(the only format of --anytime)",
    )
    p.add_argument(
        "--frames", type=int, default=8, help="frames sampled per video (segment centres; 8)"
    )
    p.add_argument("--top-k", type=int, default=5, help="classes printed")
    p.add_argument(
        "--short-side",
        type=int,
        help="resize frames to this short side before sending (default: the model's, learned from "
        "its preprocess signature)",
    )
    p.add_argument("--quality", type=int, default=90, help="JPEG quality (--format jpeg)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per video per line (with --anytime also frames used, latency "
        "and anytime {threshold, stopped, confidence})",
    )
    anytime = p.add_argument_group("anytime inference (--anytime)")
    anytime.add_argument(
        "--anytime",
        action="store_true",
        help="send the frames coarse to fine to serve_anytime, which stops when the top-1 "
        "probability reaches the threshold; the output says how many frames were used",
    )
    anytime.add_argument(
        "--threshold",
        type=float,
        help="confidence that stops --anytime (default: the export's, export.py "
        "--anytime-threshold; > 1: never)",
    )
    anytime.add_argument(
        "--max-frames", type=int, help="frames at most with --anytime (default: --frames)"
    )
    return p


def _check_args(args):
    for flag, value, low, high in (
        ("--frames", args.frames, 1, None),
        ("--top-k", args.top_k, 1, None),
        ("--short-side", args.short_side, 1, None),
        ("--quality", args.quality, 1, 100),
        ("--version", args.version, 1, None),
    ):
        if value is not None and (value < low or (high is not None and value > high)):
            bound = f"between {low} and {high}" if high else f">= {low}"
            raise UsageError(f"{flag} {value}: must be {bound}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout {args.timeout}: must be > 0")
    _check_anytime_args(args)
    if args.rest is not None:
        parts = urllib.parse.urlsplit(args.rest)
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(
                f"--rest {args.rest}: expected http://HOST:PORT (for example http://127.0.0.1:8501)"
            )
        try:
            parts.port  # noqa: B018 - raises for a bad port
        except ValueError:
            raise UsageError(f"--rest {args.rest}: the port is not a number 0-65535") from None
    if args.grpc is not None and ("://" in args.grpc or ":" not in args.grpc):
        raise UsageError(
            f"--grpc {args.grpc}: expected HOST:PORT without a scheme (for example 127.0.0.1:8500)"
        )


def _check_anytime_args(args):
    given = [flag for flag, value in (("--threshold", args.threshold),
                                      ("--max-frames", args.max_frames)) if value is not None]  # fmt: skip
    if given and not args.anytime:
        raise UsageError(f"{', '.join(given)} need --anytime")
    if args.anytime and args.format == "jpeg":
        raise UsageError("--format jpeg: serve_anytime takes uint8 frames (drop --format)")
    if args.threshold is not None and not args.threshold >= 0:
        raise UsageError(f"--threshold {args.threshold}: must be >= 0")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames {args.max_frames}: must be >= 1")


def _classify(client, video, args):
    """`classify_video`, or `classify_video_anytime` with `--anytime`."""
    if args.anytime:
        from serving.client_anytime import classify_video_anytime

        return classify_video_anytime(
            client, video, args.threshold, args.max_frames or args.frames, args.top_k,
            args.short_side,
        )  # fmt: skip
    return classify_video(
        client, video, args.format or "jpeg", args.frames, args.top_k, args.short_side,
        args.quality,
    )  # fmt: skip


def _model_text(args):
    text = f"--model {args.model}"
    if args.version is not None:
        text += f" --version {args.version}"
    elif args.label:
        text += f" --label {args.label}"
    return text


def _server_problem(error, args):
    """A one-line description of a failure to reach or use the server, naming the flag."""
    import grpc

    where = f"--rest {args.rest}" if args.rest else f"--grpc {args.grpc}"
    if isinstance(error, ServerError):
        if error.status == 404:
            return f"{_model_text(args)}: not served at {args.rest}: {error.message}"
        return f"{where}: HTTP {error.status}: {error.message}"
    if isinstance(error, grpc.RpcError):
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.NOT_FOUND:
            return f"{_model_text(args)}: not served at {args.grpc}: {details}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"{where}: no answer within --timeout {args.timeout:g} s"
        lower = details.lower()
        if "http1" in lower or "http/1" in lower or "parsing http/2" in lower:
            return f"{where}: the server there does not speak gRPC (is it the REST port?)"
        if code == grpc.StatusCode.UNAVAILABLE:
            if "refused" in lower:
                return f"{where}: no server is listening (connection refused)"
            return f"{where}: no gRPC server answers ({details.splitlines()[0] if details else code.name})"
        return f"{where}: {code.name}: {details}"
    if isinstance(error, ConnectionRefusedError):
        return f"{where}: no server is listening (connection refused)"
    if isinstance(error, http.client.HTTPException | json.JSONDecodeError | UnicodeDecodeError):
        return f"{where}: the server did not answer TF Serving's REST API (is it the gRPC port?)"
    if isinstance(error, TimeoutError):
        return f"{where}: no answer within --timeout {args.timeout:g} s"
    if isinstance(error, OSError):
        return f"{where}: cannot connect ({error.strerror or error})"
    return f"{where}: {type(error).__name__}: {error}"


def _print_result(record, as_json):
    if as_json:
        print(json.dumps(record), flush=True)
        return
    print(f"{record['video']}:")
    for entry in record["top_k"]:
        print(f"  {entry['score']:7.4f}  {entry['class']}")
    anytime = record.get("anytime")
    if anytime:
        print(f"  anytime: {record['frames_used']} of {anytime['max_frames']} frames "
              f"({anytime['stopped']} at threshold {anytime['threshold']:g}), "
              f"{record['latency_ms']:.1f} ms")  # fmt: skip


def _classify_one(client, video, args, noted):
    """Classifies one video for `main`: `(record or None, notes)`; prints its errors and warnings."""
    import grpc

    notes = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TopKWarning)
            record = _classify(client, video, args)
        for w in caught:
            if issubclass(w.category, TopKWarning) and str(w.message) not in noted:
                noted.add(str(w.message))
                notes.append(str(w.message))
            elif not issubclass(w.category, TopKWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except ServerError as e:
        print(f"{PROG}: error: {video}: the server refused it: HTTP {e.status}: {e.message}",
              file=sys.stderr)  # fmt: skip
        return None
    except grpc.RpcError as e:
        print(f"{PROG}: error: {video}: the server refused it: {e.code().name}: "
              f"{e.details()}", file=sys.stderr)  # fmt: skip
        return None
    except (OSError, http.client.HTTPException) as e:
        print(f"{PROG}: error: {video}: {_server_problem(e, args)}", file=sys.stderr)
        return None
    except ValueError as e:  # VideoDecodeError names the file
        message = str(e) if str(video) in str(e) else f"{video}: {e}"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return None
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if record["warnings"]:  # rotation applied, incomplete file, ...: one line per video
        print(f"{PROG}: warning: {video}: {'; '.join(record['warnings'])}", file=sys.stderr)
    return record


def main(argv=None):
    from serving.cli import quiet_libraries

    args = _parser().parse_args(argv)
    quiet_libraries(args.verbose)
    import grpc

    client = None
    try:
        _check_args(args)
        kwargs = dict(
            model=args.model, version=args.version, label=args.label, timeout=args.timeout
        )
        client = RestClient(args.rest, **kwargs) if args.rest else GrpcClient(args.grpc, **kwargs)
        try:
            transport_info = client.transport(args.short_side)
            if args.short_side is not None:
                client.signatures()  # fails fast on a wrong server or model
        except (ServerError, grpc.RpcError, OSError, http.client.HTTPException, ValueError) as e:
            raise UsageError(_server_problem(e, args)) from None
        if transport_info.note:
            print(f"{PROG}: note: {transport_info.note}", file=sys.stderr)
        return _classify_all(client, args)
    except UsageError as e:
        if args.debug:
            raise
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()


def _classify_all(client, args):
    """Classifies and prints each video; 1 when a video failed (its line on stderr), else 0."""
    status, noted = 0, set()
    for video in args.videos:
        record = _classify_one(client, video, args, noted)
        if record is None:
            status = 1
            continue
        _print_result(record, args.json)
    return status


if __name__ == "__main__":
    sys.exit(main())
