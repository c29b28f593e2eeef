"""`decode_jpeg_center_crop` (evaluation's centre crop decoding only its window) against the previous
path `eval_resize_and_crop(decode_jpeg_frames(...))`, eagerly, in graph and inside `Dataset.map`."""

import numpy as np
import tensorflow as tf

from keras_ispan.data import augment
from keras_ispan.data.records import encode_jpeg
from keras_ispan.io.frames_tf import (
    decode_jpeg_center_crop,
    decode_jpeg_frames,
    eval_crops,
    eval_resize_and_crop,
)
from tests.keras_ispan.data.helpers import smooth_frames

# Cropped decoding differs from decode-then-crop only by 4:2:0 chroma upsampling at the window's edges:
# tolerance = mean absolute difference < 0.1 grey level, >= 97% of the values equal, max <= 8
# (measured: mean 0.01-0.02, 98-99% equal, max 2 here; mean < 0.002, max 6 on the shared clips).
MEAN_TOL, EQUAL_FRACTION, MAX_TOL = 0.1, 0.97, 8


def _jpegs(frames):
    return np.array([encode_jpeg(f, 90) for f in frames], dtype=object)


def _reference(encoded, size, ratio):
    return eval_resize_and_crop(decode_jpeg_frames(encoded), size, resize_ratio=ratio).numpy()


def _assert_close(got, expected):
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.mean() < MEAN_TOL, diff.mean()
    assert (diff == 0).mean() >= EQUAL_FRACTION, (diff == 0).mean()
    assert diff.max() <= MAX_TOL, diff.max()


def test_window_decode_matches_decode_then_crop():
    # short side 40 = round(32 * 1.25): the crop window [4:36, 12:44] is decoded directly
    encoded = _jpegs(smooth_frames(4, 40, 56, seed=2))
    got = decode_jpeg_center_crop(encoded, 32, resize_ratio=1.25).numpy()
    assert got.shape == (4, 32, 32, 3) and got.dtype == np.uint8
    _assert_close(got, _reference(encoded, 32, 1.25))
    # the window is the centre: the full decode sliced there is within the same tolerance
    full = decode_jpeg_frames(encoded).numpy()
    _assert_close(got, full[:, 4:36, 12:44])


def test_frames_needing_a_resize_take_the_previous_path_exactly():
    encoded = _jpegs(smooth_frames(3, 48, 64, seed=3))  # short side 48 != 40: resize, then crop
    got = decode_jpeg_center_crop(encoded, 32, resize_ratio=1.25).numpy()
    np.testing.assert_array_equal(got, _reference(encoded, 32, 1.25))


def test_leading_axes_graph_and_dataset_map_equal_eager():
    encoded = _jpegs(smooth_frames(6, 40, 48, seed=4)).reshape(2, 3)
    eager = decode_jpeg_center_crop(encoded, 32, resize_ratio=1.25).numpy()
    assert eager.shape == (2, 3, 32, 32, 3)
    _assert_close(eager, _reference(encoded, 32, 1.25))
    fn = tf.function(
        lambda e: decode_jpeg_center_crop(e, 32, resize_ratio=1.25),
        input_signature=[tf.TensorSpec([None, None], tf.string)],
    )
    np.testing.assert_array_equal(fn(encoded).numpy(), eager)
    mapped = tf.data.Dataset.from_tensor_slices(encoded).map(
        lambda e: decode_jpeg_center_crop(e, 32, resize_ratio=1.25)
    )
    np.testing.assert_array_equal(np.stack([x.numpy() for x in mapped]), eager)


def test_eval_clip_centre_crop_matches_previous_composition():
    frames = smooth_frames(10, 40, 52, seed=5)
    encoded = tf.constant(_jpegs(frames))
    kw = dict(resize_ratio=1.25, dct_method="")
    got = augment.eval_clip(encoded, 4, 32, num_clips=2, crops=1, **kw).numpy()
    indices = augment.tsn_clip_indices(10, 4, 2)
    previous = eval_crops(decode_jpeg_frames(tf.gather(encoded, indices)), 32, resize_ratio=1.25)
    assert got.shape == (2, 4, 32, 32, 3)
    _assert_close(got, previous.numpy()[0])
    mapped = next(iter(tf.data.Dataset.from_tensors(encoded).map(
        lambda e: augment.eval_clip(e, 4, 32, num_clips=2, crops=1, **kw)
    )))  # fmt: skip
    np.testing.assert_array_equal(mapped.numpy(), got)
