"""Runs a signature of a loaded version on NumPy inputs, with TF Serving's input checks.

Shared by REST, gRPC and warmup replay. Inputs are checked against the `SignatureDef` (keys, dtype,
rank, fixed dimensions) before anything runs, so a bad request gets `INVALID_ARGUMENT` and never reaches
the model. Inputs named `frames` (keras-ispan's signatures) are also checked for what would otherwise
fail deep in the graph: an empty batch, clip or frame, and encoded frames that are not images or whose
sizes differ within a clip (read from the headers, without decoding). An error that still comes from
the graph is answered with its first meaningful line, prefixed with the input's name, instead of
TensorFlow's `Graph execution error:` preamble; a decoding error names the frame that fails.
"""

import dataclasses
import re
import struct

import numpy as np
import tensorflow as tf

from serving.devserver.errors import ServingError, invalid_argument

DEFAULT_SIGNATURE = "serving_default"
FRAMES_KEY = "frames"


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """What one request may ask the server to do, checked from declared shapes before allocating.

    A request's cost is its shape, not its bytes: a 51-byte gRPC message may declare a string tensor
    of 3 million elements, and 10,000 frames of 1x1 pixels cost 10,000 resized frames in the model.

    Args:
        max_batch_size: examples per input (axis 0); flag `--max_batch_size`.
        max_clip_frames: frames per clip (axis 1 of inputs named `frames`); flag `--max_clip_frames`.
        max_tensor_elements: elements per input tensor; flag `--max_tensor_elements`.
    """

    max_batch_size: int = 16
    max_clip_frames: int = 128
    max_tensor_elements: int = 2**26

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{field.name}` must be an integer >= 1. Received: {field.name}={value!r}"
                )

    def check(self, key, shape):
        """Raises `INVALID_ARGUMENT` naming the limit and its flag when `shape` asks for too much."""
        shape = [int(d) for d in shape]
        if any(d < 0 for d in shape):
            raise invalid_argument(
                f"Input '{key}' declares a negative dimension: {_shape_text(shape)}"
            )
        if shape and shape[0] > self.max_batch_size:
            raise invalid_argument(
                f"Input '{key}' declares a batch of {shape[0]} (shape {_shape_text(shape)}); the "
                f"server's limit is {self.max_batch_size} (--max_batch_size)"
            )
        if key == FRAMES_KEY and len(shape) > 1 and shape[1] > self.max_clip_frames:
            raise invalid_argument(
                f"Input '{key}' declares {shape[1]} frames per clip (shape {_shape_text(shape)}); "
                f"the server's limit is {self.max_clip_frames} (--max_clip_frames)"
            )
        elements = 1
        for d in shape:
            elements *= d
        if elements > self.max_tensor_elements:
            raise invalid_argument(
                f"Input '{key}' declares {elements} elements (shape {_shape_text(shape)}); the "
                f"server's limit is {self.max_tensor_elements} per tensor (--max_tensor_elements)"
            )


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
        if key == FRAMES_KEY and 0 in value.shape:
            raise invalid_argument(_empty_message(key, value.shape))
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


def _shape_text(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _empty_message(key, shape):
    if shape[0] == 0:
        what = "at least one clip is required"
    elif len(shape) > 1 and shape[1] == 0:
        what = "at least one frame per clip is required"
    else:
        what = "frames of at least 1x1 pixels are required"
    return f"{key}: {what}, got shape {_shape_text(shape)}"


# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they hold the frame size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Other formats TensorFlow's `decode_jpeg` also reads (it detects the format from the first bytes).
_OTHER_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"\xff\x0a",  # JPEG XL codestream
    b"\x00\x00\x00\x0cJXL ",  # JPEG XL container
)


def _jpeg_size(data):
    """`(height, width)` from a JPEG's start-of-frame header; raises `ValueError(reason)`."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ValueError("not a JPEG image (corrupt header: no marker where one belongs)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            break  # end of image or start of scan before any frame header
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _JPEG_SOF:
            if i + 9 > n:
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return (height, width) if height and width else None
        i += 2 + length
    raise ValueError("truncated or corrupt JPEG image (no frame header with its size)")


def encoded_image_size(data):
    """`(height, width)` of an encoded frame from its header, or None when the header does not say.

    Raises:
        ValueError: with the reason, for bytes that TensorFlow's image decoder would refuse as not an
            image (or a JPEG whose header is cut short).
    """
    data = bytes(data)
    if not data:
        raise ValueError("empty (0 bytes), not a JPEG image")
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data.startswith(_OTHER_IMAGE_MAGIC[0]) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return height, width
    if data.startswith(_OTHER_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return None  # a format the decoder reads; its size is checked when it is decoded
    raise ValueError(f"not a JPEG image (it starts with {data[:8]!r})")


def check_encoded_frames(key, value):
    """Checks a string `(batch, frames)` input of encoded frames before decoding; raises `ServingError`."""
    if value.ndim != 2:
        return
    for b in range(value.shape[0]):
        first = None
        for t in range(value.shape[1]):
            try:
                size = encoded_image_size(value[b, t])
            except ValueError as e:
                raise invalid_argument(f"{key}[{b}, {t}]: {e}") from None
            if size is None:
                continue
            if first is None:
                first = (t, size)
            elif size != first[1]:
                (h0, w0), (h1, w1) = first[1], size
                raise invalid_argument(
                    f"{key}: clip {b} has frames of {h0}x{w0} (frame {first[0]}) and {h1}x{w1} "
                    f"(frame {t}), as height x width; all frames of a clip must have one size"
                )


_NOISE = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[", "File ")
_MERGE = re.compile(
    r"Incompatible shapes during merge: \[(\d+),(\d+),\d+\] vs\. \[(\d+),(\d+),\d+\]"
)


def first_meaningful_line(message):
    """The line of a TensorFlow error message that says what is wrong (not the graph's location)."""
    for line in str(message).splitlines():
        text = re.sub(r"\{\{function_node [^}]*\}\}", "", line)
        text = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", text).strip()
        if text and not text.startswith(_NOISE):
            return text
    return str(message).strip() or "the signature failed"


def _locate_decode_error(key, value):
    """`key[b, t]: ...` for the first encoded frame TensorFlow cannot decode, or None."""
    for index in np.ndindex(*value.shape):
        try:
            tf.io.decode_jpeg(value[index], channels=3)
        except tf.errors.OpError as e:
            where = ", ".join(str(i) for i in index)
            return f"{key}[{where}]: cannot be decoded ({first_meaningful_line(e.message)})"
    return None


def explain_error(error, sig, inputs):
    """A one-line message naming the input and what is wrong, for an error raised by the graph."""
    line = first_meaningful_line(error.message)
    keys = sorted(sig.inputs)
    key = keys[0] if len(keys) == 1 else None
    if (
        key is not None
        and inputs[key].dtype.kind in "OS"
        and isinstance(error, tf.errors.InvalidArgumentError)
    ):
        located = _locate_decode_error(key, inputs[key])
        if located:
            return located
    match = _MERGE.search(line)
    if match:
        h0, w0, h1, w1 = match.groups()
        line = (
            f"a clip has frames of {h0}x{w0} and {h1}x{w1} (height x width); all frames of a clip "
            "must have one size"
        )
    if key is not None and not line.startswith(key):
        line = f"{key}: {line}"
    return line


def run_predict(servable, signature_name, inputs):
    """Runs the signature on `inputs` (dict of NumPy arrays) and returns `{output key: NumPy array}`."""
    name, sig = signature_def(servable, signature_name)
    check_inputs(sig, inputs)
    value = inputs.get(FRAMES_KEY)
    if value is not None and tf.as_dtype(sig.inputs[FRAMES_KEY].dtype) == tf.string:
        check_encoded_frames(FRAMES_KEY, value)
    fn = servable.loaded.signatures[name]
    try:
        outputs = fn(
            **{k: tf.constant(v, tf.as_dtype(sig.inputs[k].dtype)) for k, v in inputs.items()}
        )
    except tf.errors.OpError as e:
        code = _TF_CODES.get(type(e), "INTERNAL")
        raise ServingError(code, explain_error(e, sig, inputs)) from e
    except (TypeError, ValueError) as e:
        raise invalid_argument(str(e).split("\n")[0]) from e
    return {k: v.numpy() for k, v in outputs.items()}
