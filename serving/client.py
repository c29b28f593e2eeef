"""REST and gRPC clients for a served keras-ispan model, as functions and a CLI.

    python serving/client.py VIDEO --model ispan --rest http://127.0.0.1:8501
    python serving/client.py VIDEO --model ispan --grpc 127.0.0.1:8500 --format uint8

The video is decoded and sampled as in evaluation (`keras_ispan.io.video`: TSN segment centres); frames
go as JPEG (`serve_jpeg`, about 20 times smaller) or raw uint8 (`serving_default`); the server resizes
and crops them in-graph. Prints the top-k classes.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import base64  # noqa: E402
import dataclasses  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import urllib.parse  # noqa: E402

import numpy as np  # noqa: E402

SIGNATURES = {"jpeg": "serve_jpeg", "uint8": "serving_default"}
MAX_MESSAGE_BYTES = 256 * 2**20


def load_clip(path, num_frames=8, short_side=256):
    """Decodes `path` and returns the evaluation frames, uint8 `(num_frames, H, W, 3)`."""
    from keras_ispan.io.video import decode_video, sample_segment_indices

    frames, _ = decode_video(path, short_side=short_side)
    return frames[sample_segment_indices(frames.shape[0], num_frames, mode="center")]


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


def rest_body(frames_input, fmt):
    """The REST predict body (columnar `inputs` format) as `bytes`."""
    _check_format(fmt)
    if fmt == "jpeg":
        value = [
            [{"b64": base64.b64encode(b).decode("ascii")} for b in row] for row in frames_input
        ]
    else:
        value = frames_input.tolist()
    body = {"signature_name": SIGNATURES[fmt], "inputs": {"frames": value}}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


@dataclasses.dataclass
class RestClient:
    """A TF Serving REST client on one persistent HTTP connection (one client per thread)."""

    url: str
    model: str
    version: int | None = None
    label: str | None = None
    timeout: float = 60.0

    def __post_init__(self):
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"`url` must be http://HOST:PORT. Received: url={self.url!r}")
        self._host, self._port = parts.hostname, parts.port or 80
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
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _ok(self, status, data):
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {(data or {}).get('error', data)}")
        return data

    def predict_body(self, body):
        return self._ok(*self.request("POST", self._prefix + ":predict", body))["outputs"]

    def predict(self, frames_input, fmt="jpeg"):
        """Outputs `{name: np.ndarray}` for a `clip_input(...)` batch."""
        outputs = self.predict_body(rest_body(frames_input, fmt))
        return {k: np.asarray(v) for k, v in outputs.items()}

    def status(self):
        return self._ok(*self.request("GET", self._prefix))

    def metadata(self):
        return self._ok(*self.request("GET", self._prefix + "/metadata"))


def grpc_channel(target, max_message_bytes=MAX_MESSAGE_BYTES):
    """An insecure channel with large message limits (gRPC's default receive limit is 4 MiB)."""
    import grpc

    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    return grpc.insecure_channel(target, options=options)


@dataclasses.dataclass
class GrpcClient:
    """A TF Serving gRPC client (`PredictionService` and `ModelService` stubs); thread-safe."""

    target: str
    model: str
    version: int | None = None
    label: str | None = None
    timeout: float = 60.0
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def __post_init__(self):
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

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

    def predict_request(self, frames_input, fmt="jpeg"):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        _check_format(fmt)
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, SIGNATURES[fmt])
        request.inputs["frames"].CopyFrom(tf.make_tensor_proto(frames_input))
        return request

    def predict(self, frames_input, fmt="jpeg"):
        """Outputs `{name: np.ndarray}` for a `clip_input(...)` batch."""
        import tensorflow as tf

        response = self.predictions.Predict(
            self.predict_request(frames_input, fmt), timeout=self.timeout
        )
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def status(self):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        return self.models.GetModelStatus(request, timeout=self.timeout)

    def metadata(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        return self.predictions.GetModelMetadata(request, timeout=self.timeout)

    def close(self):
        self.channel.close()


def top_classes(outputs, index=0):
    """`[(class name, score), ...]` of one clip from predict outputs."""
    names = [
        n.decode() if isinstance(n, bytes) else str(n) for n in outputs["top_k_classes"][index]
    ]
    return list(zip(names, [float(s) for s in outputs["top_k_scores"][index]]))


def classify_video(client, path, fmt="jpeg", num_frames=8, short_side=256, quality=90):
    """Decodes, samples and sends one video; returns `[(class name, score), ...]`."""
    frames = load_clip(path, num_frames=num_frames, short_side=short_side)
    return top_classes(client.predict(clip_input(frames, fmt, quality), fmt))


def main(argv=None):
    p = argparse.ArgumentParser(description="Classify a video with a served keras-ispan model.")
    p.add_argument("video")
    p.add_argument("--model", default="ispan")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--rest", help="http://HOST:PORT of the REST API")
    target.add_argument("--grpc", help="HOST:PORT of the gRPC API")
    version = p.add_mutually_exclusive_group()
    version.add_argument("--version", type=int)
    version.add_argument("--label")
    p.add_argument("--format", choices=sorted(SIGNATURES), default="jpeg")
    p.add_argument("--frames", type=int, default=8, help="frames sampled (segment centres)")
    p.add_argument("--short-side", type=int, default=256, help="decode with this short side")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    kwargs = dict(model=args.model, version=args.version, label=args.label, timeout=args.timeout)
    client = RestClient(args.rest, **kwargs) if args.rest else GrpcClient(args.grpc, **kwargs)
    try:
        result = classify_video(
            client, args.video, args.format, args.frames, args.short_side, args.quality
        )
    finally:
        client.close()
    for rank, (name, score) in enumerate(result, 1):
        print(f"{rank}. {name}  {score:.4f}")


if __name__ == "__main__":
    main()
