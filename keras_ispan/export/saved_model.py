"""Exports a keras-ispan classifier as a TF Serving SavedModel version with signatures and warmup.

Layout written under `export_base` (TF Serving's):
`export_base/NAME/<version>/saved_model.pb, variables/, assets/labels.txt,
assets.extra/tf_serving_warmup_requests, assets.extra/keras_ispan.json`, plus
`export_base/models.config`, `batching.config` and `monitoring.config`. A version is written to a
temporary folder (not an integer, so servers ignore it) and renamed into place; an existing version is
never overwritten. The temporary folder is `NAME/.tmp-export-<pid>-<hex>`: an export killed mid-way
leaves it behind, and the next export to the same `NAME` removes it once its process is gone (or it is
more than `STALE_TMP_SECONDS` old), as `keras_ispan.data.convert` does for its own temporaries.

The transform is the model's own: `keras_ispan.models.classifier_info(model).transform` (the input side
`S` and the `resize_ratio` recorded in its `preprocessing` layer), the one `training/evaluate.py` and
`training/predict.py` apply. Every signature that takes decoded or encoded frames runs
`keras_ispan.io.frames_tf.eval_resize_and_crop(frames, S, resize_ratio)` in-graph (short side resized to
`round(S * resize_ratio)`, bilinear with antialiasing, centre `S x S` crop, rounded to uint8), so
`serving_default` on a clip's decoded frames feeds the model exactly the tensor evaluation feeds it on
the same decoded frames (`preprocess` returns that tensor). What evaluation on a prepared dataset adds
(frames stored as JPEGs already resized) is outside the SavedModel: see `keras_ispan.io.transform`.

Signatures (the frames axis is dynamic everywhere):
- `serving_default`: `frames` uint8 `(batch, frames, height, width, 3)`, any size; the transform, then
  the model.
- `serve_jpeg`: `frames` string `(batch, frames)` of encoded frames (JPEG; TensorFlow's decoder also
  reads PNG, GIF, BMP and WebP); each clip is decoded (all frames of a clip must have one size, clips
  may differ), then as `serving_default`.
- `serve_preprocessed`: `frames` float32 `(batch, frames, S, S, 3)` pixels in [0, 255]: the model only.
- `preprocess`: `frames` uint8 `(batch, frames, height, width, 3)`, any size, to `frames` uint8
  `(batch, frames, S, S, 3)` (the model input `serving_default` computes), `short_side` and
  `image_size` int32 `(batch,)` (the transform's numbers, the same for every clip). A client learns
  the transform from it through the TF Serving API.
- `serve_anytime`: `frames` uint8 `(batch, K, height, width, 3)`, any size, up to K frames in the
  coarse-to-fine order (`keras_ispan.io.coarse_to_fine.coarse_to_fine_indices`), and `threshold` float32
  scalar (negative: the export's default, `ExportOptions.anytime_threshold`); the transform, then the
  frames level by level (1, 2, 4, 8, ... frames; `ExportOptions.anytime_check_points`) inside one
  `tf.while_loop` (`keras_ispan.export.anytime`): a clip stops when its top-1 probability reaches the
  threshold. Outputs `probabilities` `(batch, classes)`, `frames_used` int32 `(batch,)`, `attention`
  `(batch, K, h, w)` (zeros on the frames not used), `threshold` float32 `(batch,)` (the one
  applied) and the `top_k_*` outputs below. `keras_ispan.json` records the default threshold and the check points (`anytime`).
Outputs of the other classifying signatures: `logits` and `probabilities` float32 `(batch, classes)`
(softmax, or per-class sigmoid scores for a multi-label model), `attention` `(batch, frames, h, w)`,
`top_k_classes` string `(batch, k)`, `top_k_scores` `(batch, k)` and `top_k_indices` int32 `(batch, k)`.
Class names come from the labels asset file through a lookup table.

`assets.extra/keras_ispan.json` records the class names, `multi_label`, the transform
(`ClipTransform.to_dict()`), `top_k`, the keras-ispan version, the `modality` (`rgb`, `flow`,
`two_stream`) and `flow_length`, and every signature's inputs and outputs.

Flow and two-stream models get the signatures of `keras_ispan.export.streams` instead (inputs `frames`
and `flow`, uint8 and JPEG, and `serve_rgb`, the RGB stream alone).
"""

import dataclasses
import json
import logging
import math
import os
import pathlib
import shutil
import tempfile
import time
import uuid
import warnings

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_ispan.export import server_configs as configs
from keras_ispan.export import warmup
from keras_ispan.export.anytime import anytime_outputs
from keras_ispan.export.server_configs import check_model_name
from keras_ispan.io import frames_tf
from keras_ispan.io.atomic import fault_point, publish_dir
from keras_ispan.io.coarse_to_fine import check_schedule
from keras_ispan.io.transform import ClipTransform
from keras_ispan.models import (
    AnytimeClassifier,
    classifier_info,
    export_outputs_model,
    load_classifier,
)

log = logging.getLogger(__name__)

SIGNATURE_FRAMES = "serving_default"
SIGNATURE_JPEG = "serve_jpeg"
SIGNATURE_PREPROCESSED = "serve_preprocessed"
SIGNATURE_PREPROCESS = "preprocess"
SIGNATURE_ANYTIME = "serve_anytime"
SIGNATURES = (
    SIGNATURE_FRAMES,
    SIGNATURE_JPEG,
    SIGNATURE_PREPROCESSED,
    SIGNATURE_PREPROCESS,
    SIGNATURE_ANYTIME,
)
CLASSIFY_SIGNATURES = (SIGNATURE_FRAMES, SIGNATURE_JPEG, SIGNATURE_PREPROCESSED)
INPUT_KEY = "frames"
OUTPUT_KEYS = (
    "logits",
    "probabilities",
    "attention",
    "top_k_classes",
    "top_k_scores",
    "top_k_indices",
)
PREPROCESS_OUTPUT_KEYS = ("frames", "short_side", "image_size")
THRESHOLD_KEY = "threshold"
ANYTIME_OUTPUT_KEYS = (
    "probabilities",
    "frames_used",
    "attention",
    "threshold",
    "top_k_classes",
    "top_k_scores",
    "top_k_indices",
)
LABELS_FILE = "labels.txt"
INFO_FILE = "keras_ispan.json"
INFO_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How a model is exported.

    Args:
        top_k: how many top classes the signatures return (capped at the number of classes).
        resize_ratio: None (default) uses the ratio recorded in the model
            (`classifier_info(model).transform`); a number overrides it (a warning says so when it
            differs from the model's).
        warmup_num_frames: frame counts of the warmup requests (one request per signature and count).
        warmup_size: `(height, width)` of the raw warmup frames; None uses a 4:3 frame whose short
            side is the transform's.
        anytime_threshold: the default threshold of `serve_anytime`: applied in the graph to a
            request whose `threshold` is negative, and recorded in `keras_ispan.json`
            (`benchmarks/frames_tradeoff.py` recommends one; `serving/export.py
            --anytime-threshold`).
        anytime_check_points: when `serve_anytime` checks whether to stop: `"doubling"` (after
            1, 2, 4, 8, ... frames), `"every_frame"`, or increasing prefix lengths
            (`keras_ispan.io.coarse_to_fine.check_points`).
    """

    top_k: int = 5
    resize_ratio: float | None = None
    warmup_num_frames: tuple = (8,)
    warmup_size: tuple | None = None
    anytime_threshold: float = 0.9
    anytime_check_points: str | tuple = "doubling"

    def __post_init__(self):
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"`top_k` must be a positive integer. Received: top_k={self.top_k}")
        if self.resize_ratio is not None and not self.resize_ratio >= 1.0:
            raise ValueError(
                f"`resize_ratio` must be >= 1 or None. Received: resize_ratio={self.resize_ratio}"
            )
        counts = tuple(self.warmup_num_frames)
        if not counts or not all(isinstance(t, int) and t >= 1 for t in counts):
            raise ValueError(
                "`warmup_num_frames` must be a non-empty tuple of positive integers. "
                f"Received: warmup_num_frames={self.warmup_num_frames}"
            )
        object.__setattr__(self, "warmup_num_frames", counts)
        if not (isinstance(self.anytime_threshold, int | float) and self.anytime_threshold >= 0):
            raise ValueError(
                "`anytime_threshold` must be a number >= 0. "
                f"Received: anytime_threshold={self.anytime_threshold!r}"
            )
        explicit = check_schedule(self.anytime_check_points)
        if explicit is not None:
            object.__setattr__(self, "anytime_check_points", explicit)


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
    transform: ClipTransform | None = None
    info_file: pathlib.Path | None = None


class ModelFileError(ValueError):
    """A model file that cannot be exported: `path` and `reason` (what is wrong, without the path)."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"{self.path}: {self.reason}")


def check_model_path(path):
    """Raises `ModelFileError` unless `path` names an existing `.keras` file."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ModelFileError(path, "file not found")
    if path.is_dir():
        raise ModelFileError(
            path, "is a folder; give the .keras file that training/fit.py or model.save writes"
        )
    if path.suffix != ".keras":
        raise ModelFileError(
            path,
            f"not a .keras model file (the name ends in {path.suffix or 'no suffix'!r}); give the "
            ".keras file that training/fit.py or model.save writes",
        )
    return path


def load_model_file(path):
    """`keras_ispan.models.load_classifier(path)`, its errors as `ModelFileError`."""
    path = check_model_path(path)
    try:
        return load_classifier(path)
    except FileNotFoundError:
        raise ModelFileError(path, "file not found") from None
    except ValueError as error:
        raise ModelFileError(path, _without_path(str(error), path)) from None


def _without_path(message, path):
    """`message` without a leading mention of `path` (load_classifier's messages start with it)."""
    for prefix in (str(path), path.name):
        if message.startswith(prefix):
            message = message[len(prefix) :].lstrip(": ")
            break
    return message[3:] if message.startswith("is not ") else message


def outputs_model(model):
    """The dict-output model `{logits, probabilities, attention}` for `model`, and its `ClassifierInfo`.

    Raises:
        ValueError: not a keras-ispan classifier (`classifier_info`), or not the TensorFlow backend.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "Export needs the TensorFlow Keras backend. "
            f"Received: backend={keras.backend.backend()}"
        )
    info = classifier_info(model)
    export = model if isinstance(model.output, dict) else export_outputs_model(model)
    missing = {"logits", "probabilities", "attention"} - set(export.output)
    if missing:
        raise ValueError(
            f"The export model lacks outputs {sorted(missing)}. Received: {export.output}"
        )
    return export, info


def export_transform(info, resize_ratio=None):
    """The transform the signatures apply: the model's, or with an explicit `resize_ratio`.

    Warns (`UserWarning`) when `resize_ratio` differs from the ratio the model records.
    """
    model_transform = info.transform
    if resize_ratio is None:
        return model_transform
    transform = ClipTransform(model_transform.image_size, resize_ratio)
    if not math.isclose(transform.resize_ratio, model_transform.resize_ratio, rel_tol=1e-9):
        warnings.warn(
            f"resize_ratio={transform.resize_ratio:.6g} overrides the model's "
            f"{model_transform.resize_ratio:.6g}: the export resizes the short side to "
            f"{transform.short_side} px, evaluation to {model_transform.short_side} px",
            UserWarning,
            stacklevel=2,
        )
    return transform


def _signature_fns(export, table, transform, k, options):
    size, ratio, short_side = transform.image_size, transform.resize_ratio, transform.short_side

    def top_k(probabilities):
        scores, indices = tf.math.top_k(probabilities, k=k)
        return {
            "top_k_classes": table.lookup(tf.cast(indices, tf.int64)),
            "top_k_scores": scores,
            "top_k_indices": indices,
        }

    def outputs(pixels):
        out = export(pixels, training=False)
        probabilities = tf.cast(out["probabilities"], tf.float32)
        return {
            "logits": tf.cast(out["logits"], tf.float32),
            "probabilities": probabilities,
            "attention": tf.cast(out["attention"], tf.float32),
            **top_k(probabilities),
        }

    def model_input(frames):  # the one transform: uint8 (B, T, H, W, 3) -> uint8 (B, T, S, S, 3)
        return frames_tf.eval_resize_and_crop(frames, size, resize_ratio=ratio)

    def clip_from_jpeg(encoded):  # one clip: its frames share one size, clips may differ
        return model_input(frames_tf.decode_jpeg_frames(encoded)[None])[0]

    def serve_frames(frames):
        return outputs(tf.cast(model_input(frames), tf.float32))

    def serve_jpeg(frames):
        pixels = tf.map_fn(
            clip_from_jpeg,
            frames,
            fn_output_signature=tf.TensorSpec([None, size, size, 3], tf.uint8),
        )
        return outputs(tf.cast(pixels, tf.float32))

    def serve_preprocessed(frames):
        return outputs(frames)

    def preprocess(frames):
        batch = tf.shape(frames)[:1]
        return {
            "frames": model_input(frames),
            "short_side": tf.fill(batch, tf.constant(short_side, tf.int32)),
            "image_size": tf.fill(batch, tf.constant(size, tf.int32)),
        }

    spec = tf.TensorSpec
    uint8_frames = spec([None, None, None, None, 3], tf.uint8, INPUT_KEY)
    return {
        SIGNATURE_ANYTIME: _anytime_signature(export, model_input, uint8_frames, options, top_k),
        SIGNATURE_FRAMES: (serve_frames, uint8_frames),
        SIGNATURE_JPEG: (serve_jpeg, spec([None, None], tf.string, INPUT_KEY)),
        SIGNATURE_PREPROCESSED: (
            serve_preprocessed,
            spec([None, None, size, size, 3], tf.float32, INPUT_KEY),
        ),
        SIGNATURE_PREPROCESS: (preprocess, uint8_frames),
    }


def _anytime_signature(export, model_input, frames_spec, options, top_k):
    """`serve_anytime`: the transform, then `keras_ispan.export.anytime.anytime_outputs`, top k."""
    anytime = AnytimeClassifier(export)

    def serve_anytime(frames, threshold):
        pixels = tf.cast(model_input(frames), tf.float32)
        out = anytime_outputs(
            anytime, pixels, threshold, options.anytime_check_points, options.anytime_threshold
        )
        return {**out, **top_k(out["probabilities"])}

    return serve_anytime, [frames_spec, tf.TensorSpec([], tf.float32, THRESHOLD_KEY)]


def warmup_inputs(transform, options):
    """Representative warmup inputs: `[(signature_name, {"frames": array}), ...]`, deterministic.

    Args:
        transform: the export's `ClipTransform` (an int is taken as the image size with the default
            ratio).
        options: `ExportOptions`.
    """
    if not isinstance(transform, ClipTransform):
        transform = ClipTransform(int(transform))
    size = transform.image_size
    if options.warmup_size is None:
        short = transform.short_side
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
        pixels = rng.uniform(0, 255, size=(1, steps, size, size, 3)).astype(np.float32)
        out += [
            (SIGNATURE_FRAMES, {INPUT_KEY: frames}),
            (SIGNATURE_JPEG, {INPUT_KEY: jpegs}),
            (SIGNATURE_PREPROCESSED, {INPUT_KEY: pixels}),
            (SIGNATURE_PREPROCESS, {INPUT_KEY: frames}),
            (SIGNATURE_ANYTIME, {INPUT_KEY: frames, THRESHOLD_KEY: np.float32(2.0)}),
        ]
    return out


def _warmup_inputs(transform, options, info):
    if info.modality == "rgb":
        return warmup_inputs(transform, options)
    from keras_ispan.export import streams

    return streams.warmup_inputs(transform, options, info)


def next_version(model_dir):
    """One more than the largest integer folder in `model_dir` (1 when there is none)."""
    model_dir = pathlib.Path(model_dir)
    versions = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(versions, default=0) + 1


def _signatures(export, table, transform, k, info, options):
    """`{name: (fn, spec)}`: an RGB model's signatures, or `keras_ispan.export.streams`'."""
    if info.modality == "rgb":
        return _signature_fns(export, table, transform, k, options)
    from keras_ispan.export import streams
    from keras_ispan.models import is_two_stream, stream_classifier

    rgb = export_outputs_model(stream_classifier(export, "rgb")) if is_two_stream(export) else None
    return streams.signature_fns(export, rgb, table, transform, k, info)


def _write_saved_model(export, info, transform, options, tmp_dir):
    class_names = info.class_names
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
        for name, (fn, spec) in _signatures(export, table, transform, k, info, options).items():
            specs = spec if isinstance(spec, list) else [spec]
            archive.add_endpoint(name, fn, input_signature=specs)
        archive.write_out(str(tmp_dir), verbose=False)
    finally:
        shutil.rmtree(labels_src.parent, ignore_errors=True)


def _tensor_info(info):
    shape = None
    if not info.tensor_shape.unknown_rank:
        shape = [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]
    return {"dtype": tf.as_dtype(info.dtype).name, "shape": shape}


def signature_summary(version_dir):
    """`{signature: {"inputs": {key: {dtype, shape}}, "outputs": {...}}}` read from `saved_model.pb`."""
    meta = saved_model_pb2.SavedModel()
    meta.ParseFromString((pathlib.Path(version_dir) / "saved_model.pb").read_bytes())
    sigs = meta.meta_graphs[0].signature_def
    return {
        name: {
            "inputs": {k: _tensor_info(v) for k, v in sorted(sigs[name].inputs.items())},
            "outputs": {k: _tensor_info(v) for k, v in sorted(sigs[name].outputs.items())},
        }
        for name in sorted(sigs)
        if not name.startswith("__")
    }


def write_info(version_dir, info, transform, top_k, options=None):
    """Writes `assets.extra/keras_ispan.json` (what the export applies and returns); returns its path."""
    import keras_ispan

    options = options or ExportOptions()
    record = {
        "format": INFO_FORMAT,
        "keras_ispan_version": keras_ispan.__version__,
        "class_names": list(info.class_names),
        "num_classes": info.num_classes,
        "multi_label": info.multi_label,
        "top_k": min(top_k, info.num_classes),
        "transform": transform.to_dict(),
        "modality": info.modality,
        "flow_length": info.flow_length,
        "signatures": signature_summary(version_dir),
    }
    if info.modality == "rgb":  # only RGB exports have serve_anytime
        record["anytime"] = {
            "threshold": float(options.anytime_threshold),
            "check_points": _json_schedule(options.anytime_check_points),
            "order": "coarse_to_fine",
        }
    path = pathlib.Path(version_dir) / "assets.extra" / INFO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def _json_schedule(schedule):
    return schedule if isinstance(schedule, str) else list(schedule)


def read_info(version_dir):
    """The `keras_ispan.json` record of an exported version (None for an export without one)."""
    path = pathlib.Path(version_dir) / "assets.extra" / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _check_anytime_options(info, options):
    """A flow or two-stream model's export has no `serve_anytime`: anytime options other than the
    defaults would be ignored, so they are an error."""
    defaults = ExportOptions()
    given = (options.anytime_threshold, options.anytime_check_points)
    if info.modality != "rgb" and given != (
        defaults.anytime_threshold,
        defaults.anytime_check_points,
    ):
        raise ValueError(
            f"the anytime options set the default of {SIGNATURE_ANYTIME}, which the export of a "
            f"{info.modality} model does not have (RGB models only). Received: "
            f"anytime_threshold={options.anytime_threshold}, "
            f"anytime_check_points={options.anytime_check_points!r}"
        )


def export_model(model, export_base, name="ispan", version=None, options=None):
    """Exports `model` as version `version` (next free integer when None) of `export_base/name`.

    Also adds `name` to `export_base/models.config` and writes `batching.config` and
    `monitoring.config` when absent; every config is validated by parsing it with TF Serving's protos.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: bad arguments, or `model` is not a keras-ispan classifier; FileExistsError:
            `version` already exists.
    """
    options = options or ExportOptions()
    check_model_name(name)
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ValueError(
            f"`version` must be a positive integer or None. Received: version={version}"
        )
    export, info = outputs_model(model)
    _check_anytime_options(info, options)
    transform = export_transform(info, options.resize_ratio)
    base = pathlib.Path(export_base).resolve()
    model_dir = base / name
    model_dir.mkdir(parents=True, exist_ok=True)
    if version is not None and (model_dir / str(version)).exists():
        raise FileExistsError(f"Version folder already exists: {model_dir / str(version)}")
    remove_stale_temporaries(model_dir)
    tmp_dir = model_dir / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        _write_saved_model(export, info, transform, options, tmp_dir)
        write_info(tmp_dir, info, transform, options.top_k, options)
        requests = [
            warmup.make_predict_request(name, sig, inputs)
            for sig, inputs in _warmup_inputs(transform, options, info)
        ]
        warmup.write_warmup(tmp_dir, requests)
        fault_point("export_before_rename")
        version = _rename_into_place(tmp_dir, model_dir, version)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    version_dir = model_dir / str(version)
    return ExportResult(
        version_dir=version_dir,
        version=version,
        signatures=SIGNATURES if info.modality == "rgb" else tuple(signature_summary(version_dir)),
        class_names=tuple(info.class_names),
        models_config=configs.write_models_config(base / "models.config", name, model_dir),
        batching_config=configs.write_default_config(
            base / "batching.config", configs.DEFAULT_BATCHING, configs.BatchingParameters
        ),
        monitoring_config=configs.write_default_config(
            base / "monitoring.config", configs.DEFAULT_MONITORING, configs.MonitoringConfig
        ),
        docker_command=configs.docker_command(base),
        transform=transform,
        info_file=version_dir / "assets.extra" / INFO_FILE,
    )


TMP_PREFIX = ".tmp-export-"
STALE_TMP_SECONDS = 3600


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(model_dir, max_age_seconds=STALE_TMP_SECONDS):
    """Removes this tool's temporary folders left in `model_dir` by exports that were killed.

    A `.tmp-export-<pid>-<hex>` folder is stale when process `pid` no longer runs, or when it is older
    than `max_age_seconds` (a reused pid, a folder of an older naming without pid). Returns the
    removed paths; each is logged as a warning.
    """
    removed = []
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return removed
    now = time.time()
    for path in model_dir.glob(f"{TMP_PREFIX}*"):
        parts = path.name[len(TMP_PREFIX) :].split("-", 1)
        pid = int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else None
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue  # removed meanwhile
        dead = pid is not None and pid != os.getpid() and not _pid_alive(pid)
        if dead or age > max_age_seconds:
            shutil.rmtree(path, ignore_errors=True)
            log.warning(
                "Removed a stale export temporary %s (%s)",
                path,
                f"process {pid} is gone" if dead else f"{age / 3600:.1f} h old",
            )
            removed.append(path)
    return removed


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
    """What `serving/export.py` exports: a `.keras` file to `export_base/name/<version>`.

    Raises:
        ModelFileError (a `ValueError`): `model_path` is not an existing `.keras` file.
        ValueError: a bad `name` or `version`.
    """

    model_path: str
    export_base: str
    name: str = "ispan"
    version: int | None = None
    options: ExportOptions = dataclasses.field(default_factory=ExportOptions)

    def __post_init__(self):
        check_model_path(self.model_path)
        check_model_name(self.name)
        if self.version is not None and (not isinstance(self.version, int) or self.version < 1):
            raise ValueError(
                f"`version` must be a positive integer or None. Received: version={self.version}"
            )


def run_export(config):
    """Loads `config.model_path` with `keras_ispan.models.load_classifier` and exports it.

    Raises:
        ModelFileError: the file cannot be loaded as a keras-ispan classifier.
    """
    model = load_model_file(config.model_path)
    return export_model(model, config.export_base, config.name, config.version, config.options)
