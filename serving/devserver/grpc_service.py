"""TF Serving's gRPC API: `PredictionService/Predict`, `GetModelMetadata`, `ModelService/GetModelStatus`.

Implemented with `tensorflow-serving-api`'s generated stubs, so any TF Serving client works unchanged.
Message size limits are raised on the server (`max_message_bytes` for receiving and sending): gRPC's
4 MiB default would refuse one 32x224x224x3 uint8 clip.
"""

import concurrent.futures
import functools
import logging

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from serving.devserver import signatures as predict
from serving.devserver.errors import ServingError, invalid_argument

log = logging.getLogger("serving")


def _resolve(registry, spec):
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.WhichOneof("version_choice") == "version_label" else None
    return registry.resolve(spec.name, version, label)


def _abort(context, error):
    context.abort(error.grpc_code, error.message)


def _rpc(method):
    """A servicer method whose `ServingError` aborts the call with its gRPC code, and any other error
    with INTERNAL (logged)."""

    @functools.wraps(method)
    def handler(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as e:
            _abort(context, e)
        except Exception as e:
            log.exception("gRPC %s failed", method.__name__)
            _abort(context, ServingError("INTERNAL", f"{type(e).__name__}: {e}"))

    return handler


def _to_ndarray(key, proto, limits):
    """`tf.make_ndarray` of a request's TensorProto, after checking its declared shape."""
    if proto.tensor_shape.unknown_rank:
        raise invalid_argument(f"Input '{key}' has an unknown rank; a request tensor needs a shape")
    if limits is not None:
        limits.check(key, [d.size for d in proto.tensor_shape.dim])
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid_argument(f"Malformed input tensor '{key}': {e}") from e


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry, limits=None):
        self._registry = registry
        self._limits = limits

    @_rpc
    def Predict(self, request, context):
        servable = _resolve(self._registry, request.model_spec)
        inputs = {k: _to_ndarray(k, v, self._limits) for k, v in request.inputs.items()}
        name, _ = predict.signature_def(servable, request.model_spec.signature_name)
        outputs = predict.run_predict(servable, name, inputs)
        keys = set(request.output_filter) or set(outputs)
        unknown = keys - set(outputs)
        if unknown:
            raise invalid_argument(f"output tensor alias not found in signature: {sorted(unknown)}")
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = name
        for key in sorted(keys):
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
        return response

    @_rpc
    def GetModelMetadata(self, request, context):
        fields = list(request.metadata_field)
        if not fields:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in fields:
            if field != "signature_def":
                raise invalid_argument(f"Metadata field {field} is not supported")
        servable = _resolve(self._registry, request.model_spec)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, value in servable.signature_defs.items():
            sig_map.signature_def[key].CopyFrom(value)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(sig_map)
        return response

    def _unimplemented(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Not supported by this server; use Predict")

    Classify = Regress = MultiInference = _unimplemented


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry):
        self._registry = registry

    @_rpc
    def GetModelStatus(self, request, context):
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        if spec.WhichOneof("version_choice") == "version_label":
            version = self._registry.resolve(spec.name, label=spec.version_label).version
        response = get_model_status_pb2.GetModelStatusResponse()
        for v, state, code, message in self._registry.status(spec.name, version):
            entry = response.model_version_status.add(version=v)
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
            entry.status.CopyFrom(
                status_pb2.StatusProto(error_code=_code_number(code), error_message=message)
            )
        return response

    def HandleReloadConfigRequest(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Config reload over gRPC is not supported")


def _code_number(name):
    return getattr(grpc.StatusCode, name).value[0]


def create_grpc_server(registry, host, port, max_message_bytes, max_workers=16, limits=None):
    """A started gRPC server on `host:port` serving both services; returns `(server, bound_port)`."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        (
            "grpc.so_reuseport",
            0,
        ),  # a port held by another server is an error, not a shared listener
    ]
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=options,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(registry, limits), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(registry), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"--port={port}: cannot listen on {host}:{port}; another server is using it")
    server.start()
    return server, bound
