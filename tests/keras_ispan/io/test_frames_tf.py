"""keras_ispan.io.frames_tf (shared with serving): geometry against NumPy slicing, resize against PIL."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_ispan.data.records import encode_jpeg
from keras_ispan.io.frames_tf import decode_jpeg_frames, eval_crops, eval_resize_and_crop


def _frames(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_centre_crop_without_resize_is_numpy_slicing():
    frames = _frames((2, 3, 40, 60, 3))  # short side 40 = round(32 * 1.25): no resize
    out = eval_resize_and_crop(frames, 32, resize_ratio=1.25).numpy()
    np.testing.assert_array_equal(out, frames[:, :, 4:36, 14:46])


def test_resize_matches_pil_bilinear():
    y, x = np.mgrid[0:240, 0:320]
    image = np.stack([x * 0.7, y, (x + y) * 0.4], -1) % 256
    image = (image + 30 * np.sin(x / 7.0)[..., None]).clip(0, 255).astype(np.uint8)
    out = eval_resize_and_crop(image[None], 112).numpy()[0]  # short side 240 -> 128, 320 -> 171
    ref = np.asarray(Image.fromarray(image).resize((171, 128), Image.BILINEAR))
    ref = ref[8:120, 29:141]
    assert out.shape == (112, 112, 3)
    assert np.abs(out.astype(int) - ref).mean() < 1.5


def test_three_and_ten_crops_geometry():
    frames = _frames((2, 32, 48, 3), seed=1)
    three = eval_crops(frames, 32, num_crops=3).numpy()
    assert three.shape == (3, 2, 32, 32, 3)
    for i, x0 in enumerate((0, 8, 16)):
        np.testing.assert_array_equal(three[i], frames[:, :, x0 : x0 + 32])
    ten = eval_crops(frames, 24, num_crops=10, resize_ratio=32 / 24).numpy()
    corners = [(0, 0), (0, 24), (8, 0), (8, 24), (4, 12)]
    for i, (y0, x0) in enumerate(corners):
        np.testing.assert_array_equal(ten[i], frames[:, y0 : y0 + 24, x0 : x0 + 24])
        np.testing.assert_array_equal(ten[5 + i], ten[i][:, :, ::-1])


def test_eager_equals_graph_with_dynamic_shapes():
    frames = _frames((2, 3, 50, 70, 3))
    fn = tf.function(
        lambda f: eval_resize_and_crop(f, 32),
        input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.uint8)],
    )
    np.testing.assert_array_equal(fn(frames).numpy(), eval_resize_and_crop(frames, 32).numpy())


def test_decode_jpeg_frames_any_rank_and_in_dataset_map():
    frames = _frames((2, 3, 16, 24, 3))
    encoded = np.array([[encode_jpeg(f, 95) for f in clip] for clip in frames], dtype=object)
    decoded = decode_jpeg_frames(encoded).numpy()
    assert decoded.shape == (2, 3, 16, 24, 3)
    expected = np.stack([[np.asarray(Image.open(__import__("io").BytesIO(b))) for b in row]
                         for row in encoded])  # fmt: skip
    # two libjpeg builds (TF, Pillow) differ slightly in chroma upsampling on noise-like content
    diff = np.abs(decoded.astype(int) - expected)
    assert diff.mean() < 1.5 and diff.max() <= 12
    mapped = next(iter(tf.data.Dataset.from_tensors(encoded).map(decode_jpeg_frames))).numpy()
    np.testing.assert_array_equal(mapped, decoded)


@pytest.mark.parametrize("kwargs, name", [(dict(image_size=0), "image_size"),
                                          (dict(num_crops=5), "num_crops"),
                                          (dict(resize_ratio=0.5), "resize_ratio")])  # fmt: skip
def test_argument_errors(kwargs, name):
    args = dict(image_size=8, num_crops=1, resize_ratio=1.2) | kwargs
    with pytest.raises(ValueError, match=f"{name}="):
        eval_crops(np.zeros((1, 16, 16, 3), np.uint8), **args)
