"""TF Serving warmup files: a TFRecord of `PredictionLog` records in `assets.extra/`.

TF Serving replays the records once when it loads a version (at most 1000 are read); the local server
does the same.
"""

import pathlib

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def warmup_path(version_dir):
    return pathlib.Path(version_dir) / "assets.extra" / WARMUP_FILE


def make_predict_request(model_name, signature_name, inputs, version=None):
    """A `PredictRequest` for `inputs`, a dict of NumPy arrays (strings as `bytes` object arrays)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    return request


def write_warmup(version_dir, requests):
    """Writes `requests` (a list of `PredictRequest`) as the warmup file of `version_dir`."""
    if not 0 < len(requests) <= MAX_WARMUP_RECORDS:
        raise ValueError(
            f"`requests` must hold 1 to {MAX_WARMUP_RECORDS} requests. "
            f"Received: len(requests)={len(requests)}"
        )
    path = warmup_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup(version_dir):
    """The `PredictRequest`s of the warmup file of `version_dir` (empty when there is none)."""
    path = warmup_path(version_dir)
    if not path.exists():
        return []
    requests = []
    for i, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        if i >= MAX_WARMUP_RECORDS:
            break
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"Warmup record {i} of {path} is not a predict_log")
        requests.append(log.predict_log.request)
    return requests
