"""The info file `assets.extra/keras_ispan.json` of an exported version: what the export applies and
returns (class names, transform, top k, modality, anytime defaults, every signature's inputs and
outputs read back from `saved_model.pb`).
"""

import json
import pathlib

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_ispan.export.options import ExportOptions

INFO_FILE = "keras_ispan.json"
INFO_FORMAT = 1


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
    if info.modality != "rgb":  # how to compute the flow inputs (None: not recorded by training)
        record["flow_settings"] = info.flow_settings and info.flow_settings.to_dict()
    if info.modality == "rgb":  # only RGB exports have serve_anytime
        record["anytime"] = {
            "threshold": float(options.anytime_threshold),
            "check_points": _json_schedule(options.anytime_check_points),
            "criterion": options.anytime_criterion,
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
