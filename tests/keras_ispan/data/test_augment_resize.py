"""`augment.resize_bilinear_uint8` and one clip's training frames (`tests.keras_ispan.data.helpers.train_clip`) against the previous resize path
(`tf.cast(tf.image.resize(crops) + 0.5, tf.uint8)`): bit-identical, eagerly, in graph, in `Dataset.map`."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import augment
from keras_ispan.data.records import encode_jpeg
from tests.keras_ispan.data.helpers import crop_window, smooth_frames, train_clip


def _previous_resize(frames, size):
    return tf.cast(tf.image.resize(frames, [size, size]) + 0.5, tf.uint8).numpy()


@pytest.mark.parametrize("shape", [(3, 40, 40), (2, 21, 27), (1, 32, 12), (2, 24, 24)])
def test_resize_equals_previous_path(shape):
    frames = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    got = augment.resize_bilinear_uint8(frames, 24).numpy()
    assert got.shape == (shape[0], 24, 24, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, _previous_resize(frames, 24))


def test_resize_graph_and_dataset_map_equal_eager():
    frames = np.random.default_rng(7).integers(0, 256, (4, 30, 26, 3), dtype=np.uint8)
    eager = augment.resize_bilinear_uint8(frames, 16).numpy()
    fn = tf.function(
        lambda f: augment.resize_bilinear_uint8(f, 16),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
    )
    np.testing.assert_array_equal(fn(frames).numpy(), eager)
    mapped = next(iter(tf.data.Dataset.from_tensors(frames).map(
        lambda f: augment.resize_bilinear_uint8(f, 16)
    )))  # fmt: skip
    np.testing.assert_array_equal(mapped.numpy(), eager)


def _previous_train_clip(encoded, k, size, seed, scales, max_distort):
    """The previous `train_clip`: same indices, window and flip, `tf.image.resize` of the crops."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    sampled = tf.gather(encoded, augment.tsn_random_indices(tf.shape(encoded)[0], k, seeds[0]))
    shape = tf.io.extract_jpeg_shape(sampled[0])
    window = crop_window(shape[0], shape[1], scales, max_distort, seeds[1])
    crops = tf.stack([tf.io.decode_and_crop_jpeg(x, window, channels=3) for x in sampled])
    frames = crops.numpy() if tuple(window[2:].numpy()) == (size, size) else None
    if frames is None:
        frames = _previous_resize(crops, size)
    if tf.random.stateless_uniform([], seeds[2]) < 0.5:
        frames = frames[:, :, ::-1]
    return frames


def test_train_clip_equals_previous_path_eager_and_in_dataset_map():
    encoded = tf.constant(np.array([encode_jpeg(f, 90) for f in smooth_frames(9, 40, 56)], object))
    kw = dict(scales=(1.0, 0.875, 0.75, 0.66), max_distort=1)
    fn = lambda e, s: train_clip(e, 4, 32, s, flip=True, dct_method="", **kw)  # noqa: E731
    seeds = tf.constant([[i, 3 * i + 1] for i in range(12)], tf.int64)
    mapped = list(tf.data.Dataset.from_tensor_slices(seeds).map(lambda s: fn(encoded, s)))
    for seed, from_map in zip(seeds, mapped, strict=True):
        eager = fn(encoded, seed).numpy()
        np.testing.assert_array_equal(eager, _previous_train_clip(encoded, 4, 32, seed, **kw))
        np.testing.assert_array_equal(from_map.numpy(), eager)
