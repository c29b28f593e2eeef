"""Exports a keras-ispan classifier as a TF Serving SavedModel version with signatures and warmup.

Layout written under `export_base` (TF Serving's):
`export_base/NAME/<version>/saved_model.pb, variables/, assets/labels.txt,
assets.extra/tf_serving_warmup_requests`, plus `export_base/models.config`, `batching.config` and
`monitoring.config`. A version is written to a temporary folder (not an integer, so servers ignore it)
and renamed into place; an existing version is never overwritten.

Signatures (the frames axis is dynamic everywhere):
- `serving_default`: `frames` uint8 `(batch, frames, height, width, 3)`, any size; resized and
  centre-cropped in-graph exactly as evaluation does (`keras_ispan.io.frames_tf.eval_resize_and_crop`).
- `serve_jpeg`: `frames` string `(batch, frames)` of encoded JPEG frames; decoded, then as above.
- `serve_preprocessed`: `frames` float32 `(batch, frames, S, S, 3)` pixels in [0, 255], no resizing.
Outputs: `logits` and `probabilities` `(batch, classes)` (softmax, or per-class sigmoid scores for a
multi-label model), `attention` `(batch, frames, h, w)`, `top_k_classes` string `(batch, k)`,
`top_k_scores` `(batch, k)` and `top_k_indices` int32 `(batch, k)`. Class names come from the labels
asset file through a lookup table.
"""

import dataclasses
import pathlib
import shutil
import tempfile
import uuid

import keras
import numpy as np
import tensorflow as tf

from keras_ispan.io import frames_tf
from keras_ispan.io.atomic import publish_dir
from serving import configs, warmup
from serving.configs import check_model_name

SIGNATURE_FRAMES = "serving_default"
SIGNATURE_JPEG = "serve_jpeg"
SIGNATURE_PREPROCESSED = "serve_preprocessed"
SIGNATURES = (SIGNATURE_FRAMES, SIGNATURE_JPEG, SIGNATURE_PREPROCESSED)
INPUT_KEY = "frames"
OUTPUT_KEYS = (
    "logits",
    "probabilities",
    "attention",
    "top_k_classes",
    "top_k_scores",
    "top_k_indices",
)
LABELS_FILE = "labels.txt"


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How a model is exported.

    Args:
        top_k: how many top classes the signatures return (capped at the number of classes).
        resize_ratio: short side before the centre crop divided by the model's image size (as in
            evaluation; TSN's 256 / 224).
        warmup_num_frames: frame counts of the warmup requests (one request per signature and count).
        warmup_size: `(height, width)` of the raw warmup frames; None uses a 4:3 frame whose short
            side is the evaluation resize.
    """

    top_k: int = 5
    resize_ratio: float = frames_tf.DEFAULT_RESIZE_RATIO
    warmup_num_frames: tuple = (8,)
    warmup_size: tuple | None = None

    def __post_init__(self):
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"`top_k` must be a positive integer. Received: top_k={self.top_k}")
        if not self.resize_ratio >= 1.0:
            raise ValueError(
                f"`resize_ratio` must be >= 1. Received: resize_ratio={self.resize_ratio}"
            )
        counts = tuple(self.warmup_num_frames)
        if not counts or not all(isinstance(t, int) and t >= 1 for t in counts):
            raise ValueError(
                "`warmup_num_frames` must be a non-empty tuple of positive integers. "
                f"Received: warmup_num_frames={self.warmup_num_frames}"
            )
        object.__setattr__(self, "warmup_num_frames", counts)


@dataclasses.dataclass(frozen=True)
class ExportResult:
    version_dir: pathlib.Path
    version: int
    signatures: tuple
    class_names: tuple
    models_config: pathlib.Path
    batching_config: pathlib.Path
    monitoring_config: pathlib.Path
    docker_command: str


def outputs_model(model):
    """The dict-output model `{logits, probabilities, attention}` for `model`, and its class info.

    Returns `(export_model, class_names, multi_label, image_size)`. A single-output classifier is
    converted with `keras_ispan.models.export_outputs_model`.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "Export needs the TensorFlow Keras backend. "
            f"Received: backend={keras.backend.backend()}"
        )
    export = model
    if not isinstance(model.output, dict):
        from keras_ispan.models import export_outputs_model

        export = export_outputs_model(model)
    missing = {"logits", "probabilities", "attention"} - set(export.output)
    if missing:
        raise ValueError(
            f"The export model lacks outputs {sorted(missing)}. Received: {export.output}"
        )
    image_size = model.inputs[0].shape[2]
    if len(model.inputs) != 1 or model.inputs[0].shape[2:] != (image_size, image_size, 3):
        raise ValueError(
            "`model` must take one input (batch, frames, S, S, 3). "
            f"Received: inputs={[i.shape for i in model.inputs]}"
        )
    num_classes = export.output["logits"].shape[-1]
    class_names, multi_label = None, False
    try:
        layer = model.get_layer("logits")
        class_names = getattr(layer, "class_names", None)
        multi_label = bool(getattr(layer, "multi_label", False))
    except ValueError:
        pass
    if class_names is None:
        class_names = [f"class_{i}" for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes.")
    return export, list(class_names), multi_label, int(image_size)


def _signature_fns(export, table, image_size, k, resize_ratio):
    def outputs(pixels):
        out = export(pixels, training=False)
        scores, indices = tf.math.top_k(out["probabilities"], k=k)
        return {
            "logits": out["logits"],
            "probabilities": out["probabilities"],
            "attention": out["attention"],
            "top_k_classes": table.lookup(tf.cast(indices, tf.int64)),
            "top_k_scores": scores,
            "top_k_indices": indices,
        }

    def from_uint8(frames):
        pixels = frames_tf.eval_resize_and_crop(frames, image_size, resize_ratio=resize_ratio)
        return outputs(tf.cast(pixels, tf.float32))

    def serve_frames(frames):
        return from_uint8(frames)

    def serve_jpeg(frames):
        return from_uint8(frames_tf.decode_jpeg_frames(frames))

    def serve_preprocessed(frames):
        return outputs(frames)

    spec = tf.TensorSpec
    return {
        SIGNATURE_FRAMES: (serve_frames, spec([None, None, None, None, 3], tf.uint8, INPUT_KEY)),
        SIGNATURE_JPEG: (serve_jpeg, spec([None, None], tf.string, INPUT_KEY)),
        SIGNATURE_PREPROCESSED: (
            serve_preprocessed,
            spec([None, None, image_size, image_size, 3], tf.float32, INPUT_KEY),
        ),
    }


def warmup_inputs(image_size, options):
    """Representative warmup inputs: `[(signature_name, {"frames": array}), ...]`, deterministic."""
    if options.warmup_size is None:
        short = int(round(image_size * options.resize_ratio))
        height, width = short, int(round(short * 4 / 3))
    else:
        height, width = options.warmup_size
    rng = np.random.default_rng(0)
    out = []
    for steps in options.warmup_num_frames:
        frames = rng.integers(0, 256, size=(1, steps, height, width, 3), dtype=np.uint8)
        jpegs = np.array(
            [[tf.io.encode_jpeg(f, quality=90).numpy() for f in frames[0]]], dtype=object
        )
        pixels = rng.uniform(0, 255, size=(1, steps, image_size, image_size, 3)).astype(np.float32)
        out += [
            (SIGNATURE_FRAMES, {INPUT_KEY: frames}),
            (SIGNATURE_JPEG, {INPUT_KEY: jpegs}),
            (SIGNATURE_PREPROCESSED, {INPUT_KEY: pixels}),
        ]
    return out


def next_version(model_dir):
    """One more than the largest integer folder in `model_dir` (1 when there is none)."""
    model_dir = pathlib.Path(model_dir)
    versions = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(versions, default=0) + 1


def _write_saved_model(export, class_names, image_size, options, tmp_dir):
    labels_src = pathlib.Path(tempfile.mkdtemp(prefix="labels-")) / LABELS_FILE
    try:
        labels_src.write_text("".join(f"{c}\n" for c in class_names))
        table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                str(labels_src), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )  # fmt: skip
        k = min(options.top_k, len(class_names))
        archive = keras.export.ExportArchive()
        archive.track(export)
        archive.track(table)
        for name, (fn, spec) in _signature_fns(
            export, table, image_size, k, options.resize_ratio
        ).items():
            archive.add_endpoint(name, fn, input_signature=[spec])
        archive.write_out(str(tmp_dir), verbose=False)
    finally:
        shutil.rmtree(labels_src.parent, ignore_errors=True)


def export_model(model, export_base, name="ispan", version=None, options=None):
    """Exports `model` as version `version` (next free integer when None) of `export_base/name`.

    Also adds `name` to `export_base/models.config` and writes `batching.config` and
    `monitoring.config` when absent; every config is validated by parsing it with TF Serving's protos.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: bad arguments; FileExistsError: `version` already exists.
    """
    options = options or ExportOptions()
    check_model_name(name)
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ValueError(
            f"`version` must be a positive integer or None. Received: version={version}"
        )
    export, class_names, _, image_size = outputs_model(model)
    base = pathlib.Path(export_base).resolve()
    model_dir = base / name
    model_dir.mkdir(parents=True, exist_ok=True)
    if version is not None and (model_dir / str(version)).exists():
        raise FileExistsError(f"Version folder already exists: {model_dir / str(version)}")
    tmp_dir = model_dir / f".tmp-export-{uuid.uuid4().hex}"
    try:
        _write_saved_model(export, class_names, image_size, options, tmp_dir)
        requests = [
            warmup.make_predict_request(name, sig, inputs)
            for sig, inputs in warmup_inputs(image_size, options)
        ]
        warmup.write_warmup(tmp_dir, requests)
        version = _rename_into_place(tmp_dir, model_dir, version)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return ExportResult(
        version_dir=model_dir / str(version),
        version=version,
        signatures=SIGNATURES,
        class_names=tuple(class_names),
        models_config=configs.write_models_config(base / "models.config", name, model_dir),
        batching_config=configs.write_default_config(
            base / "batching.config", configs.DEFAULT_BATCHING, configs.BatchingParameters
        ),
        monitoring_config=configs.write_default_config(
            base / "monitoring.config", configs.DEFAULT_MONITORING, configs.MonitoringConfig
        ),
        docker_command=configs.docker_command(base),
    )


def _rename_into_place(tmp_dir, model_dir, version):
    """Renames `tmp_dir` to `model_dir/<version>`; retries the next number for automatic versions.

    The folder and its files first get the modes `mkdir` / `open` would give them under the umask
    (`keras_ispan.io.atomic.publish_dir`), so a server running as another user can read the version.
    """
    for _ in range(100):
        target = model_dir / str(version if version is not None else next_version(model_dir))
        try:
            publish_dir(tmp_dir, target)
            return int(target.name)
        except FileExistsError:
            if version is not None:
                raise FileExistsError(f"Version folder already exists: {target}") from None
    raise FileExistsError(f"Could not find a free version folder in {model_dir}")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What `serving/export.py` exports: a `.keras` file to `export_base/name/<version>`."""

    model_path: str
    export_base: str
    name: str = "ispan"
    version: int | None = None
    options: ExportOptions = dataclasses.field(default_factory=ExportOptions)

    def __post_init__(self):
        path = pathlib.Path(self.model_path)
        if path.suffix != ".keras" or not path.is_file():
            raise ValueError(
                f"`model_path` must be an existing .keras file. Received: model_path={self.model_path}"
            )
        check_model_name(self.name)
        if self.version is not None and (not isinstance(self.version, int) or self.version < 1):
            raise ValueError(
                f"`version` must be a positive integer or None. Received: version={self.version}"
            )


def run_export(config):
    """Loads `config.model_path` (with the keras-ispan layers registered) and exports it."""
    import keras_ispan  # noqa: F401  (registers the custom layers for loading)

    model = keras.saving.load_model(config.model_path)
    return export_model(model, config.export_base, config.name, config.version, config.options)
