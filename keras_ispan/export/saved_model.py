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
  `tf.while_loop` (`keras_ispan.export.anytime`): a clip stops when its confidence reaches the
  threshold (`ExportOptions.anytime_criterion`: the top-1 probability, or its margin over the
  second). Outputs `probabilities` `(batch, classes)`, `frames_used` int32 `(batch,)`, `attention`
  `(batch, K, h, w)` (zeros on the frames not used), `threshold` float32 `(batch,)` (the one
  applied), `confidence` float32 `(batch,)` and `criterion` string `(batch,)` (`top1` or `margin`),
  and the `top_k_*` outputs below. `keras_ispan.json` records the default threshold, the check
  points and the criterion (`anytime`).
Outputs of the other classifying signatures: `logits` and `probabilities` float32 `(batch, classes)`
(softmax, or per-class sigmoid scores for a multi-label model), `attention` `(batch, frames, h, w)`,
`top_k_classes` string `(batch, k)`, `top_k_scores` `(batch, k)` and `top_k_indices` int32 `(batch, k)`.
Class names come from the labels asset file through a lookup table.

`assets.extra/keras_ispan.json` records the class names, `multi_label`, the transform
(`ClipTransform.to_dict()`), `top_k`, the keras-ispan version, the `modality` (`rgb`, `flow`,
`two_stream`) and `flow_length`, and every signature's inputs and outputs.

Modules: `signatures` (the RGB signatures and warmup inputs), `options` (`ExportOptions`,
`ExportConfig`, `ExportResult`, `ModelFileError`), `info_file` (`keras_ispan.json`); this one writes
and versions. Their names are importable from here as well.

Flow and two-stream models get the signatures of `keras_ispan.export.streams` instead (inputs `frames`
and `flow`, uint8 and JPEG, and `serve_rgb`, the RGB stream alone).
"""

import logging
import os
import pathlib
import shutil
import tempfile
import time
import uuid

import keras
import tensorflow as tf

from keras_ispan.export import server_configs as configs
from keras_ispan.export import warmup
from keras_ispan.export.info_file import (  # noqa: F401 (re-exported)
    INFO_FILE,
    INFO_FORMAT,
    read_info,
    signature_summary,
    write_info,
)
from keras_ispan.export.options import (  # noqa: F401 (re-exported)
    ExportConfig,
    ExportOptions,
    ExportResult,
    ModelFileError,
    check_model_path,
    load_model_file,
)
from keras_ispan.export.server_configs import check_model_name  # noqa: F401 (re-exported)
from keras_ispan.export.signatures import (  # noqa: F401 (re-exported)
    ANYTIME_OUTPUT_KEYS,
    CLASSIFY_SIGNATURES,
    INPUT_KEY,
    OUTPUT_KEYS,
    PREPROCESS_OUTPUT_KEYS,
    SIGNATURE_ANYTIME,
    SIGNATURE_FRAMES,
    SIGNATURE_JPEG,
    SIGNATURE_PREPROCESS,
    SIGNATURE_PREPROCESSED,
    SIGNATURES,
    THRESHOLD_KEY,
    _signatures,
    _warmup_inputs,
    export_transform,
    outputs_model,
    warmup_inputs,
)
from keras_ispan.io.atomic import fault_point, publish_dir

log = logging.getLogger(__name__)

LABELS_FILE = "labels.txt"


def next_version(model_dir):
    """One more than the largest integer folder in `model_dir` (1 when there is none)."""
    model_dir = pathlib.Path(model_dir)
    versions = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(versions, default=0) + 1


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


def _check_anytime_options(info, options):
    """A flow or two-stream model's export has no `serve_anytime`: anytime options other than the
    defaults would be ignored, so they are an error."""
    defaults = ExportOptions()
    names = ("anytime_threshold", "anytime_check_points", "anytime_criterion")
    if info.modality != "rgb" and any(
        getattr(options, name) != getattr(defaults, name) for name in names
    ):
        raise ValueError(
            f"the anytime options set the default of {SIGNATURE_ANYTIME}, which the export of a "
            f"{info.modality} model does not have (RGB models only). Received: "
            f"anytime_threshold={options.anytime_threshold}, "
            f"anytime_check_points={options.anytime_check_points!r}, "
            f"anytime_criterion={options.anytime_criterion!r}"
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


def run_export(config):
    """Loads `config.model_path` with `keras_ispan.models.load_classifier` and exports it.

    Raises:
        ModelFileError: the file cannot be loaded as a keras-ispan classifier.
    """
    model = load_model_file(config.model_path)
    return export_model(model, config.export_base, config.name, config.version, config.options)
