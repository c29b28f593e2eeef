"""TF Serving configuration files: `models.config`, `batching.config`, `monitoring.config`.

Each file is written atomically with the umask's mode (`keras_ispan.io.atomic`) and validated by
parsing it back with TF Serving's protos: `ModelServerConfig` from `tensorflow-serving-api`; the
`BatchingParameters` and `MonitoringConfig` messages are not shipped in that package, so they are
declared here with TF Serving's field names, types and numbers (session_bundle_config.proto,
monitoring_config.proto).
"""

import pathlib

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from keras_ispan.io.atomic import write_text_atomic

_FIELD = descriptor_pb2.FieldDescriptorProto


def _build_messages():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FileDescriptorProto(
        name="keras_ispan_serving/tfs_extra.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = f.message_type.add(name="BatchingParameters")
    for number, name in enumerate(
        ["max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"], 1
    ):
        batching.field.add(
            name=name,
            number=number,
            type=_FIELD.TYPE_MESSAGE,
            type_name=".google.protobuf.Int64Value",
        )
    batching.field.add(
        name="thread_pool_name", number=5, type=_FIELD.TYPE_MESSAGE,
        type_name=".google.protobuf.StringValue",
    )  # fmt: skip
    batching.field.add(
        name="allowed_batch_sizes", number=6, type=_FIELD.TYPE_INT64, label=_FIELD.LABEL_REPEATED
    )
    batching.field.add(name="pad_variable_length_inputs", number=7, type=_FIELD.TYPE_BOOL)
    prometheus = f.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=_FIELD.TYPE_BOOL)
    prometheus.field.add(name="path", number=2, type=_FIELD.TYPE_STRING)
    monitoring = f.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config", number=1, type=_FIELD.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
    )  # fmt: skip
    pool.Add(f)
    get = message_factory.GetMessageClass
    return (
        get(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")),
        get(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")),
    )


_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_model_name(name):
    """Model names become folder names: letters, digits, `_ - .`, not starting with `.`."""
    if not isinstance(name, str) or not name or name[0] == "." or set(name) - _NAME_CHARS:
        raise ValueError(
            "`name` must be letters, digits, '_', '-' or '.', not starting with '.'. "
            f"Received: name={name!r}"
        )
    return name


BatchingParameters, MonitoringConfig = _build_messages()
ModelServerConfig = model_server_config_pb2.ModelServerConfig

DEFAULT_BATCHING = """\
# Used only with --enable_batching. TF Serving pads variable-length inputs with the tensor's first
# element, so batch only when every client sends the same number of frames.
max_batch_size { value: 8 }
batch_timeout_micros { value: 2000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 4 }
"""
DEFAULT_MONITORING = """\
prometheus_config {
  enable: true
  path: "/monitoring/prometheus/metrics"
}
"""


def parse_text_proto(path, message_class):
    """Parses a text-proto file; raises `ValueError` naming the file when it is not valid."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"Cannot read config file {path}: {e}") from e
    try:
        return text_format.Parse(text, message_class())
    except text_format.ParseError as e:
        raise ValueError(f"Invalid {message_class.DESCRIPTOR.name} in {path}: {e}") from e


def read_model_server_config(path):
    """The `ModelServerConfig` of a `models.config` file; raises `ValueError` naming the file."""
    config = parse_text_proto(path, ModelServerConfig)
    if not config.HasField("model_config_list") or not config.model_config_list.config:
        raise ValueError(f"No model_config_list entries in {path}")
    names = [c.name for c in config.model_config_list.config]
    for c in config.model_config_list.config:
        if not c.name or not c.base_path:
            raise ValueError(f"Every config needs a name and a base_path in {path}: {c}")
        if c.model_platform not in ("", "tensorflow"):
            raise ValueError(f"Unsupported model_platform {c.model_platform!r} in {path}")
    if len(set(names)) != len(names):
        raise ValueError(f"Duplicate model names {names} in {path}")
    return config


def write_models_config(path, name, base_path):
    """Adds (or keeps) the model `name` in `models.config` at `path`; other entries are kept as they are.

    A new entry serves the latest version (`latest { num_versions: 1 }`, TF Serving's default). An
    existing entry with the same name is left unchanged except for its `base_path`.
    """
    path = pathlib.Path(path)
    config = read_model_server_config(path) if path.exists() else ModelServerConfig()
    entries = config.model_config_list.config
    entry = next((c for c in entries if c.name == name), None)
    if entry is None:
        entry = entries.add(name=name, model_platform="tensorflow")
        entry.model_version_policy.latest.num_versions = 1
    entry.base_path = str(base_path)
    write_text_atomic(path, text_format.MessageToString(config))
    read_model_server_config(path)
    return path


def write_default_config(path, text, message_class):
    """Writes `text` to `path` unless the file exists, then validates the file by parsing it."""
    path = pathlib.Path(path)
    if not path.exists():
        write_text_atomic(path, text)
    parse_text_proto(path, message_class)
    return path


def docker_command(export_base, image="tensorflow/serving", batching=False):
    """The `docker run` command serving every model of `models.config` (same paths inside the container)."""
    base = str(pathlib.Path(export_base).resolve())
    parts = [
        "docker run --rm -p 8500:8500 -p 8501:8501",
        f'-v "{base}:{base}:ro"',
        image,
        f"--model_config_file={base}/models.config",
        "--model_config_file_poll_wait_seconds=60",
        f"--monitoring_config_file={base}/monitoring.config",
    ]
    if batching:
        parts.append(f"--enable_batching=true --batching_parameters_file={base}/batching.config")
    return " ".join(parts)
