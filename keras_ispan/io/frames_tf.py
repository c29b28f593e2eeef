"""TensorFlow frame preprocessing shared by evaluation (`keras_ispan/data/pipeline.py`) and serving export.

All functions take uint8 frames `(..., height, width, 3)` with any number of leading axes (for example
`(frames, H, W, 3)` or `(batch, frames, H, W, 3)`) and return uint8; normalisation lives in the model.
`eval_crops` also takes other channel counts (flow stacks `(..., H, W, 2L)`, see `data/augment.py`).
They are graph-safe with dynamic sizes (usable in `tf.data` maps and `tf.function` signatures).
"""

import tensorflow as tf

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO, short_side_for

__all__ = [
    "DEFAULT_RESIZE_RATIO",
    "decode_jpeg_center_crop",
    "decode_jpeg_frames",
    "eval_crops",
    "eval_resize_and_crop",
    "resize_short_side",
    "transport_frames",
]


def decode_jpeg_frames(encoded, dct_method=""):
    """Decodes a string tensor of JPEG frames, any shape `(...)`, to uint8 `(..., H, W, 3)`.

    All frames must have the same size (frames of one clip do). `dct_method` is passed to
    `tf.io.decode_jpeg` (`""` lets TensorFlow choose; `"INTEGER_FAST"` is faster, slightly less exact).
    """
    encoded = tf.convert_to_tensor(encoded, dtype=tf.string)
    flat = tf.reshape(encoded, [-1])
    images = tf.map_fn(
        lambda x: tf.io.decode_jpeg(x, channels=3, dct_method=dct_method),
        flat,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )
    shape = tf.concat([tf.shape(encoded), tf.shape(images)[1:]], axis=0)
    return tf.reshape(images, shape)


def _flatten(frames):
    frames = tf.convert_to_tensor(frames)
    if frames.shape.rank is not None and frames.shape.rank < 3:
        raise ValueError(
            f"`frames` must have shape (..., height, width, 3). Received: frames.shape={frames.shape}"
        )
    shape = tf.shape(frames)
    flat = tf.reshape(frames, tf.concat([[-1], shape[-3:]], axis=0))
    return flat, shape[:-3]


def _unflatten(images, lead, size):
    channels = images.shape[-1] if images.shape[-1] is not None else tf.shape(images)[-1]
    return tf.reshape(images, tf.concat([lead, [size, size, channels]], axis=0))


def resize_short_side(frames, short_side):
    """Resizes uint8 `(N, H, W, 3)` so that the shorter side is `short_side` (bilinear, antialiased).

    Returns float32 `(N, H', W', 3)` in [0, 255]; frames already of the right size are passed through.
    """
    shape = tf.shape(frames)
    h, w = shape[1], shape[2]
    short = tf.minimum(h, w)
    scale = tf.cast(short_side, tf.float64) / tf.cast(short, tf.float64)
    new_h = tf.where(
        h == short, short_side, tf.cast(tf.round(tf.cast(h, tf.float64) * scale), tf.int32)
    )
    new_w = tf.where(
        w == short, short_side, tf.cast(tf.round(tf.cast(w, tf.float64) * scale), tf.int32)
    )
    frames_f = tf.cast(frames, tf.float32)
    return tf.cond(
        tf.logical_and(new_h == h, new_w == w),
        lambda: frames_f,
        lambda: tf.image.resize(frames_f, tf.stack([new_h, new_w]), antialias=True),
    )


def transport_frames(frames_uint8, short_side):
    """Step 1 of the evaluation transform alone: uint8 `(..., H, W, 3)` to uint8 with shorter side `short_side`.

    A client that sends these frames to an exported signature (which resizes to the same short side,
    a no-op here, then crops) gets exactly `eval_resize_and_crop` of the original frames: rounding to
    uint8 commutes with the crop. Used by `serving/client.py` to keep requests small.
    """
    flat, lead = _flatten(frames_uint8)
    resized = _to_uint8(resize_short_side(flat, short_side))
    return tf.reshape(resized, tf.concat([lead, tf.shape(resized)[1:]], axis=0))


def _to_uint8(images):
    return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)


def _check_size(image_size, resize_ratio):
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(
            f"`image_size` must be a positive integer. Received: image_size={image_size}"
        )
    if not resize_ratio >= 1.0:
        raise ValueError(f"`resize_ratio` must be >= 1. Received: resize_ratio={resize_ratio}")


def eval_resize_and_crop(frames_uint8, image_size, resize_ratio=DEFAULT_RESIZE_RATIO):
    """Evaluation preprocessing: resize the short side to `round(image_size * resize_ratio)`, centre crop.

    Args:
        frames_uint8: uint8 `(..., H, W, 3)`, any size.
        image_size: `S`, the side of the square output.
        resize_ratio: short side before cropping divided by `S` (TSN: 256 / 224).

    Returns:
        uint8 `(..., S, S, 3)`.
    """
    return eval_crops(frames_uint8, image_size, num_crops=1, resize_ratio=resize_ratio)[0]


def decode_jpeg_center_crop(encoded, image_size, resize_ratio=DEFAULT_RESIZE_RATIO, dct_method=""):
    """`eval_resize_and_crop(decode_jpeg_frames(encoded), ...)`, decoding only the crop when it can.

    When the frames' short side already is `round(image_size * resize_ratio)` (no resize: datasets
    converted at that short side, 256 for 224 crops), only the centre `S x S` window of each JPEG is
    decoded (`tf.io.decode_and_crop_jpeg`); otherwise the frames are decoded whole, resized and cropped.
    Cropped decoding may differ from decode-then-crop by the chroma upsampling at the window's edges
    (4:2:0 JPEGs): a mean absolute difference well under one grey level.

    Args:
        encoded: string `(...)`, at least one JPEG frame, all of the same size (one clip's frames).
        image_size: `S`, the side of the square output.
        resize_ratio: short side before cropping divided by `S` (TSN: 256 / 224).
        dct_method: passed to the JPEG decoder (see `decode_jpeg_frames`).

    Returns:
        uint8 `(..., S, S, 3)`.
    """
    _check_size(image_size, resize_ratio)
    encoded = tf.convert_to_tensor(encoded, dtype=tf.string)
    flat = tf.reshape(encoded, [-1])
    s, short_side = image_size, short_side_for(image_size, resize_ratio)
    shape = tf.io.extract_jpeg_shape(flat[0])
    h, w = shape[0], shape[1]
    window = tf.stack([(h - s) // 2, (w - s) // 2, s, s])

    def cropped():
        return tf.map_fn(
            lambda x: tf.io.decode_and_crop_jpeg(x, window, channels=3, dct_method=dct_method),
            flat,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )

    def whole():
        frames = decode_jpeg_frames(flat, dct_method=dct_method)
        return eval_resize_and_crop(frames, s, resize_ratio=resize_ratio)

    images = tf.cond(tf.minimum(h, w) == short_side, cropped, whole)
    return tf.reshape(images, tf.concat([tf.shape(encoded), [s, s, 3]], axis=0))


def eval_crops(frames_uint8, image_size, num_crops=1, resize_ratio=DEFAULT_RESIZE_RATIO):
    """Multi-crop evaluation views `(num_crops, ..., S, S, 3)` uint8.

    - 1: the centre crop after resizing the short side to `round(S * resize_ratio)`.
    - 3: resize the short side to `S`, then three `S x S` crops along the long side (start, centre,
      end), as TSN's three-crop test.
    - 10: resize the short side to `round(S * resize_ratio)`, then the four corners and the centre, and
      their horizontal flips.
    """
    _check_size(image_size, resize_ratio)
    if num_crops not in (1, 3, 10):
        raise ValueError(f"`num_crops` must be 1, 3 or 10. Received: num_crops={num_crops}")
    flat, lead = _flatten(frames_uint8)
    s = image_size
    short_side = s if num_crops == 3 else short_side_for(s, resize_ratio)
    resized = resize_short_side(flat, short_side)
    shape = tf.shape(resized)
    h, w = shape[1], shape[2]
    cy, cx = (h - s) // 2, (w - s) // 2
    if num_crops == 1:
        offsets = [(cy, cx)]
    elif num_crops == 3:
        offsets = [
            (0, 0),
            (cy, cx),
            (h - s, w - s),
        ]  # one axis has no slack: crops run along the other
    else:
        offsets = [(0, 0), (0, w - s), (h - s, 0), (h - s, w - s), (cy, cx)]
    crops = [resized[:, y : y + s, x : x + s, :] for y, x in offsets]
    if num_crops == 10:
        crops += [tf.reverse(c, axis=[2]) for c in crops]
    return tf.stack([_unflatten(_to_uint8(c), lead, s) for c in crops], axis=0)
