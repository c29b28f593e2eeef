"""TF Serving's REST JSON format for predict: requests to NumPy inputs, outputs to JSON.

Requests hold exactly one of `"instances"` (row format: a list with one entry per example, each a
value or an object keyed by input name) or `"inputs"` (columnar: a value or an object of batched
values), and optionally `"signature_name"`. String tensors take UTF-8 strings or `{"b64": "..."}`.
Answers are `{"predictions": [...]}` (row) or `{"outputs": ...}` (columnar); string outputs whose
name ends with `_bytes` are written as `{"b64": ...}`, others as UTF-8 text.
"""

import base64
import binascii
import json
import re

import numpy as np
import tensorflow as tf

from serving.devserver.errors import invalid_argument

ROW, COLUMNAR = "row", "columnar"
MAX_NESTING = 32  # JSON lists inside lists (a tensor's rank); deeper bodies are refused


def _strings(value, key):
    if isinstance(value, list):
        return [_strings(v, key) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise invalid_argument(f"Unable to base64 decode input '{key}': {e}") from e
    raise invalid_argument(
        f"Input '{key}' of type string expects strings or {{\"b64\": ...}} objects. "
        f"Received: {_shortened(json.dumps(value))}"
    )


def _shortened(text, limit=100):
    """`text`, or its first `limit` characters and how many more (an error never cuts silently)."""
    return (
        text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"
    )


def json_shape(value, key):
    """The shape a nested JSON list declares (lengths along its first elements), before conversion."""
    shape = []
    while isinstance(value, list):
        if len(shape) == MAX_NESTING:
            raise invalid_argument(
                f"Input '{key}' is nested more than {MAX_NESTING} lists deep (a tensor's rank)"
            )
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def to_array(value, dtype, key, limits=None):
    """Converts a JSON value to a NumPy array of the TensorFlow `dtype`; raises `INVALID_ARGUMENT`.

    The shape the value declares is checked against `limits` (a `RequestLimits`) first.
    """
    shape = json_shape(value, key)
    if limits is not None:
        limits.check(key, shape)
    if dtype == tf.string:
        nested = _strings(value, key)
        array = np.array(nested, dtype=object)
        if not all(isinstance(x, bytes) for x in array.flat):
            raise invalid_argument(f"Input '{key}' is ragged: every list must have the same length")
        return array
    try:
        array = np.asarray(value)
    except ValueError as e:
        after = re.search(r"after (\d+) dimensions", str(e))
        where = f" after {after.group(1)} dimensions" if after else ""
        raise invalid_argument(
            f"Input '{key}' is ragged: its nested lists differ in length{where} (a tensor has one "
            "length per axis: every clip the same number of frames, every frame the same size)"
        ) from e
    kind = array.dtype.kind
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    if array.size == 0 and array.ndim > 0:  # `[]`, `[[]]`: no values, so no type to check
        return np.zeros(array.shape, np_dtype)
    allowed = {"b": "b", "i": "iu", "u": "iu", "f": "iuf", "c": "iufc"}.get(np_dtype.kind, "")
    if kind not in allowed or (array.size == 0 and array.ndim == 0):
        raise invalid_argument(
            f"Input '{key}' expects values of type {dtype.name}. Received JSON values of kind "
            f"{'nested/mixed' if kind == 'O' else array.dtype.name}"
        )
    if np_dtype.kind in "iu" and array.size:
        info = np.iinfo(np_dtype)
        if array.min() < info.min or array.max() > info.max:
            raise invalid_argument(f"Input '{key}' has values outside the range of {dtype.name}")
    return array.astype(np_dtype, copy=False)


def parse_predict_request(body, input_dtypes_for, limits=None):
    """Parses a REST predict body.

    Args:
        body: the request body (`bytes`).
        input_dtypes_for: `signature_name -> {input key: tf.DType}` (raises `ServingError` for an
            unknown signature).
        limits: a `RequestLimits`, checked on each input's declared shape before conversion.

    Returns:
        `(signature_name, inputs, format)` with `inputs` a dict of NumPy arrays.
    """
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid_argument(f"JSON Parse error: {e}") from e
    except RecursionError:
        raise invalid_argument(
            f"JSON Parse error: the body is nested too deep (at most {MAX_NESTING} levels)"
        ) from None
    if not isinstance(request, dict):
        raise invalid_argument("JSON Parse error: the request must be a JSON object")
    signature_name = request.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    if ("instances" in request) == ("inputs" in request):
        raise invalid_argument(
            "Missing 'inputs' or 'instances' key"
            if "inputs" not in request
            else "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exists"
        )
    dtypes = input_dtypes_for(signature_name)
    if "instances" in request:
        return signature_name, _rows(request["instances"], dtypes, limits), ROW
    return signature_name, _columns(request["inputs"], dtypes, limits), COLUMNAR


def _rows(instances, dtypes, limits):
    if not isinstance(instances, list) or not instances:
        raise invalid_argument("'instances' must be a non-empty JSON list")
    named = all(isinstance(i, dict) and "b64" not in i for i in instances)
    if not named:
        if len(dtypes) != 1:
            raise invalid_argument(
                f"The signature has inputs {sorted(dtypes)}: each instance must be a JSON object"
            )
        (key,) = dtypes
        return {key: to_array(instances, dtypes[key], key, limits)}
    keys = set(instances[0])
    if any(set(i) != keys for i in instances):
        raise invalid_argument("Every instance must have the same input keys")
    unknown = keys - set(dtypes)
    if unknown:
        raise invalid_argument(
            f"Unknown inputs {sorted(unknown)}; the signature has {sorted(dtypes)}"
        )
    return {k: to_array([i[k] for i in instances], dtypes[k], k, limits) for k in keys}


def _columns(inputs, dtypes, limits):
    if isinstance(inputs, dict) and "b64" not in inputs:
        unknown = set(inputs) - set(dtypes)
        if unknown:
            raise invalid_argument(
                f"Unknown inputs {sorted(unknown)}; the signature has {sorted(dtypes)}"
            )
        return {k: to_array(v, dtypes[k], k, limits) for k, v in inputs.items()}
    if len(dtypes) != 1:
        raise invalid_argument(
            f"The signature has inputs {sorted(dtypes)}: 'inputs' must be an object"
        )
    (key,) = dtypes
    return {key: to_array(inputs, dtypes[key], key, limits)}


def _json_value(name, array):
    if array.dtype.kind in "OS":
        if name.endswith("_bytes"):
            convert = np.vectorize(
                lambda b: {"b64": base64.b64encode(b).decode("ascii")}, otypes=[object]
            )
        else:
            convert = np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])
        return convert(array).tolist() if array.size else array.tolist()
    return array.tolist()


def format_predict_response(outputs, fmt):
    """The JSON body (`bytes`) of a predict answer in the request's format."""
    if fmt == COLUMNAR:
        values = {k: _json_value(k, v) for k, v in outputs.items()}
        body = {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    else:
        batch = {v.shape[0] if v.ndim else None for v in outputs.values()}
        if len(batch) != 1 or None in batch:
            raise invalid_argument(
                "Tensors in the row format must share the batch size; use the columnar 'inputs' format"
            )
        values = {k: _json_value(k, v) for k, v in outputs.items()}
        if len(values) == 1:
            predictions = next(iter(values.values()))
        else:
            predictions = [{k: values[k][i] for k in values} for i in range(batch.pop())]
        body = {"predictions": predictions}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
