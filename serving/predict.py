"""Runs a signature of a loaded version on NumPy inputs, with TF Serving's input checks.

Shared by REST, gRPC and warmup replay. Inputs are checked against the `SignatureDef` (keys, dtype,
rank, fixed dimensions) before anything runs, so a bad request gets `INVALID_ARGUMENT` and never reaches
the model.
"""

import tensorflow as tf

from serving.errors import ServingError, invalid_argument

DEFAULT_SIGNATURE = "serving_default"


def signature_def(servable, signature_name):
    """The `SignatureDef` proto called `signature_name` (`""` means `serving_default`)."""
    name = signature_name or DEFAULT_SIGNATURE
    sig = servable.signature_defs.get(name)
    if sig is None or name not in servable.loaded.signatures:
        raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
    return name, sig


def input_dtypes(servable, signature_name):
    """`{input key: tf.DType}` of a signature."""
    _, sig = signature_def(servable, signature_name)
    return {k: tf.as_dtype(v.dtype) for k, v in sig.inputs.items()}


def check_inputs(sig, inputs):
    """Checks `inputs` (dict of NumPy arrays) against the `SignatureDef` `sig`; raises `ServingError`."""
    expected, sent = set(sig.inputs), set(inputs)
    if expected != sent:
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"Sent extra: {sorted(sent - expected)} Missing but required: {sorted(expected - sent)}."
        )
    for key, info in sig.inputs.items():
        value, want = inputs[key], tf.as_dtype(info.dtype)
        got = tf.string if value.dtype.kind in "OSU" else tf.as_dtype(value.dtype)
        if got != want:
            raise invalid_argument(
                f"Expects arg '{key}' to be {want.name} but {got.name} is provided"
            )
        if not info.tensor_shape.unknown_rank:
            dims = [d.size for d in info.tensor_shape.dim]
            if value.ndim != len(dims) or any(d >= 0 and d != s for d, s in zip(dims, value.shape)):
                raise invalid_argument(
                    f"Input '{key}' must have shape {tuple(d if d >= 0 else None for d in dims)}. "
                    f"Received: shape {value.shape}"
                )


_TF_CODES = {
    cls: name
    for name, cls in (
        ("INVALID_ARGUMENT", tf.errors.InvalidArgumentError),
        ("NOT_FOUND", tf.errors.NotFoundError),
        ("OUT_OF_RANGE", tf.errors.OutOfRangeError),
        ("RESOURCE_EXHAUSTED", tf.errors.ResourceExhaustedError),
        ("FAILED_PRECONDITION", tf.errors.FailedPreconditionError),
        ("UNIMPLEMENTED", tf.errors.UnimplementedError),
        ("DEADLINE_EXCEEDED", tf.errors.DeadlineExceededError),
    )
}


def run_predict(servable, signature_name, inputs):
    """Runs the signature on `inputs` (dict of NumPy arrays) and returns `{output key: NumPy array}`."""
    name, sig = signature_def(servable, signature_name)
    check_inputs(sig, inputs)
    fn = servable.loaded.signatures[name]
    try:
        outputs = fn(
            **{k: tf.constant(v, tf.as_dtype(sig.inputs[k].dtype)) for k, v in inputs.items()}
        )
    except tf.errors.OpError as e:
        code = _TF_CODES.get(type(e), "INTERNAL")
        raise ServingError(code, e.message.split("\n")[0]) from e
    except (TypeError, ValueError) as e:
        raise invalid_argument(str(e).split("\n")[0]) from e
    return {k: v.numpy() for k, v in outputs.items()}
