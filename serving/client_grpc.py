"""A TF Serving gRPC client (`GrpcClient`: `PredictionService` and `ModelService` stubs)."""

import dataclasses

from serving.client_base import _ClientBase
from serving.client_inputs import SIGNATURES, _check_format

MAX_MESSAGE_BYTES = 256 * 2**20


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
