"""Error answers name the input and what is wrong with it, over real HTTP and real gRPC.

Run against every `server`; the status codes are TF Serving's, and for the development server the
message is checked too (TF Serving words its own messages).
"""

import base64

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_utils import http, random_frames, smooth_frames
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.devserver import signatures as predict
from serving.devserver.errors import ServingError

GOOD = random_frames((1, 2, 36, 48, 3), seed=4)
MAX = 64 * 2**20


def _jpeg(height, width, seed=0):
    return tf.io.encode_jpeg(smooth_frames((height, width, 3), seed=seed), quality=90).numpy()


JPEG = _jpeg(40, 52)
SMALL_JPEG = _jpeg(20, 26)
PNG = tf.io.encode_png(smooth_frames((40, 52, 3), seed=1)).numpy()
NOT_JPEG = b"not a jpeg at all"
CUT_JPEG = JPEG[: len(JPEG) // 2]  # header intact, scan data cut

# name: (signature, frames, expected message parts)
_CASES = {
    "not a jpeg": ("serve_jpeg", [[JPEG, NOT_JPEG]], ["frames[0, 1]: not a JPEG image"]),
    "empty string": ("serve_jpeg", [[JPEG], [b""]], ["frames[1, 0]: empty (0 bytes)"]),
    "cut jpeg": ("serve_jpeg", [[JPEG, CUT_JPEG]], ["frames[0, 1]: cannot be decoded"]),
    "two sizes in a clip": (
        "serve_jpeg",
        [[JPEG, JPEG, SMALL_JPEG]],
        [
            "frames: clip 0 has frames of 40x52 (frame 0) and 20x26 (frame 2)",
            "all frames of a clip must have one size",
        ],
    ),  # fmt: skip
    "png sizes in a clip": (
        "serve_jpeg",
        [[PNG, _jpeg(30, 52)]],
        ["frames: clip 0 has frames of 40x52", "30x52", "all frames of a clip must have one size"],
    ),
}


def _b64(clips):
    return [[{"b64": base64.b64encode(b).decode()} for b in clip] for clip in clips]


def _check_message(server, message, parts):
    assert message and "Graph execution error" not in message, message
    if server.kind == "local":
        for part in parts:
            assert part in message, (part, message)


def _good_rest(server):
    status, body = http(
        "POST", f"{server.rest}/v1/models/ispan:predict", {"inputs": {"frames": GOOD.tolist()}}
    )
    assert status == 200, body


def _grpc(server, signature, frames):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ispan"
    request.model_spec.signature_name = signature
    request.inputs["frames"].CopyFrom(tf.make_tensor_proto(frames))
    options = [("grpc.max_send_message_length", MAX), ("grpc.max_receive_message_length", MAX)]
    with grpc.insecure_channel(server.grpc, options=options) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=120
        )


@pytest.mark.parametrize("case", sorted(_CASES))
def test_rest_encoded_frame_errors(server, case):
    signature, clips, parts = _CASES[case]
    body = {"signature_name": signature, "inputs": {"frames": _b64(clips)}}
    status, out = http("POST", f"{server.rest}/v1/models/ispan:predict", body)
    assert status == 400, (case, out)
    _check_message(server, out["error"], parts)
    _good_rest(server)


@pytest.mark.parametrize("case", sorted(_CASES))
def test_grpc_encoded_frame_errors(server, case):
    signature, clips, parts = _CASES[case]
    frames = np.array(clips, dtype=object)
    with pytest.raises(grpc.RpcError) as info:
        _grpc(server, signature, frames)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    _check_message(server, info.value.details(), parts)
    assert _grpc(server, "", GOOD).outputs["logits"].tensor_shape.dim[1].size == 3


_EMPTY = {
    "zero frames": (
        "serving_default",
        np.zeros((1, 0, 36, 48, 3), np.uint8),
        "frames: at least one frame per clip is required, got shape [1, 0, 36, 48, 3]",
    ),
    "zero batch": (
        "serving_default",
        np.zeros((0, 2, 36, 48, 3), np.uint8),
        "frames: at least one clip is required, got shape [0, 2, 36, 48, 3]",
    ),
    "zero height": (
        "preprocess",
        np.zeros((1, 2, 0, 48, 3), np.uint8),
        "frames: frames of at least 1x1 pixels are required, got shape [1, 2, 0, 48, 3]",
    ),
    "zero jpeg frames": (
        "serve_jpeg",
        np.zeros((1, 0), object),
        "frames: at least one frame per clip is required, got shape [1, 0]",
    ),
    "zero preprocessed frames": (
        "serve_preprocessed",
        np.zeros((2, 0, 32, 32, 3), np.float32),
        "frames: at least one frame per clip is required, got shape [2, 0, 32, 32, 3]",
    ),
}


@pytest.mark.parametrize("case", sorted(_EMPTY))
def test_grpc_empty_inputs(server, case):
    signature, frames, message = _EMPTY[case]
    with pytest.raises(grpc.RpcError) as info:
        _grpc(server, signature, frames)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    _check_message(server, info.value.details(), [message])


@pytest.mark.parametrize(
    "body, message",
    [
        ({"inputs": {"frames": []}}, "frames: at least one clip is required, got shape [0]"),
        ({"inputs": {"frames": [[]]}}, "frames: at least one frame per clip is required"),
        ({"instances": [{"frames": []}]}, "frames: at least one frame per clip is required"),
        (
            {"signature_name": "serve_jpeg", "inputs": {"frames": [[]]}},
            "frames: at least one frame per clip is required, got shape [1, 0]",
        ),
        (
            {"inputs": {"frames": [GOOD[0, :1].tolist() + [GOOD[0, 1, :10].tolist()]]}},
            "Input 'frames' is ragged",
        ),
    ],
    ids=["no clips", "no frames", "row no frames", "jpeg no frames", "ragged"],
)
def test_rest_empty_and_ragged_inputs(server, body, message):
    status, out = http("POST", f"{server.rest}/v1/models/ispan:predict", body)
    assert status == 400, out
    _check_message(server, out["error"], [message])
    _good_rest(server)


# ---------------------------------------------------------------- the functions, without a server


def test_encoded_image_size_reads_headers():
    assert predict.encoded_image_size(JPEG) == (40, 52)
    assert predict.encoded_image_size(PNG) == (40, 52)
    assert predict.encoded_image_size(b"GIF89a" + bytes(20)) is None  # decoded later
    progressive = tf.io.encode_jpeg(smooth_frames((17, 23, 3)), progressive=True).numpy()
    assert predict.encoded_image_size(progressive) == (17, 23)
    with pytest.raises(ValueError, match="not a JPEG image"):
        predict.encoded_image_size(NOT_JPEG)
    with pytest.raises(ValueError, match="truncated or corrupt JPEG"):
        predict.encoded_image_size(JPEG[:12])


def test_graph_errors_become_their_first_meaningful_line():
    message = (
        "Graph execution error:\n\nDetected at node map/TensorArrayV2Stack/TensorListStack defined "
        "at (most recent call last):\n<stack traces unavailable>\nPartialTensorShape: Incompatible "
        "shapes during merge: [40,50,3] vs. [20,25,3]\n\t [[{{node map/TensorListStack}}]] "
        "[Op:__inference_signature_wrapper_serve_jpeg_6615]"
    )
    assert predict.first_meaningful_line(message) == (
        "PartialTensorShape: Incompatible shapes during merge: [40,50,3] vs. [20,25,3]"
    )
    sig = type("Sig", (), {"inputs": {"frames": None}})()
    error = tf.errors.InvalidArgumentError(None, None, message)
    explained = predict.explain_error(error, sig, {"frames": np.array([[JPEG, JPEG]], object)})
    assert explained == (
        "frames: a clip has frames of 40x50 and 20x25 (height x width); all frames of a clip must "
        "have one size"
    )
    error = tf.errors.InvalidArgumentError(None, None, "Graph execution error:\n\nsomething odd")
    assert predict.explain_error(error, sig, {"frames": GOOD}) == "frames: something odd"
    assert isinstance(predict.invalid_argument("x"), ServingError)
