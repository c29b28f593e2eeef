"""FrameResize: NumPy references, identity, dynamic shapes in graph, dtypes, serialisation."""

import doctest

import keras
import numpy as np
import pytest

import keras_ispan.layers.frame_resize
from keras_ispan import FrameResize
from tests.keras_ispan.helpers import assert_config_round_trip, to_numpy

BATCH = 3


def _linear_taps(size_in, size_out):
    """Half-pixel-centre source taps: lower index, upper index, weight of the upper one."""
    src = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    src = np.clip(src, 0, size_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, size_in - 1)
    return lo, hi, src - lo


def bilinear_reference(clips, size):
    """`(..., h, w, c)` -> `(..., size[0], size[1], c)`, in float64, separably along h then w."""
    x = clips.astype("float64")
    lo, hi, frac = _linear_taps(x.shape[-3], size[0])
    frac = frac[:, None, None]
    x = x[..., lo, :, :] * (1 - frac) + x[..., hi, :, :] * frac
    lo, hi, frac = _linear_taps(x.shape[-2], size[1])
    frac = frac[:, None]
    return x[..., lo, :] * (1 - frac) + x[..., hi, :] * frac


def nearest_reference(clips, size):
    """Half-pixel nearest neighbour: source index `floor((dst + 0.5) * in / out)`, clamped."""
    rows, cols = (
        np.minimum(np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(int), n_in - 1)
        for n_in, n_out in zip(clips.shape[-3:-1], size)
    )
    return clips[..., rows, :, :][..., cols, :].astype("float64")


def _clips(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype("uint8")


@pytest.mark.parametrize(
    ("shape", "size"),
    [((2, 4, 24, 20, 3), 32), ((2, 3, 48, 40, 3), (32, 28))],  # upscale, downscale
)
def test_bilinear_matches_numpy_reference(shape, size):
    clips = _clips(shape)
    out = FrameResize(size)(clips)
    size = (size, size) if isinstance(size, int) else size
    assert tuple(out.shape) == (*shape[:2], *size, shape[-1])
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    # Not rescaled: uint8 pixels keep their 0..255 range.
    np.testing.assert_allclose(to_numpy(out), bilinear_reference(clips, size), atol=1e-3)


@pytest.mark.parametrize(
    ("shape", "size"),
    [((2, 4, 24, 20, 3), (32, 32)), ((2, 3, 48, 40, 3), (32, 28)), ((1, 2, 7, 13, 1), (5, 9))],
)
def test_nearest_matches_numpy_reference(shape, size):
    # keras.ops.image.resize "nearest" (tf.image.resize on TensorFlow, jax.image.resize on JAX)
    # picks exactly these source pixels, so the comparison is exact.
    clips = _clips(shape, seed=1)
    out = to_numpy(FrameResize(size, interpolation="nearest")(clips))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, nearest_reference(clips, size))


def test_static_size_already_equal_is_a_cast():
    clips = _clips((2, 3, 8, 6, 3))
    for interpolation in ("bilinear", "nearest"):
        out = to_numpy(FrameResize((8, 6), interpolation=interpolation)(clips))
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, clips.astype("float32"))


@pytest.mark.tf_only
@pytest.mark.parametrize("frames", [2, BATCH, 5])  # T < batch, T = batch, T > batch
def test_graph_with_dynamic_shapes_equals_eager(frames):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function with input_signature is TensorFlow's")
    import tensorflow as tf

    layer = FrameResize(32)
    graph = tf.function(
        layer, input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.uint8)]
    )
    for spatial in [(24, 20), (32, 32), (40, 36)]:  # (32, 32): resampled at runtime, still equal
        clips = _clips((BATCH, frames, *spatial, 3), seed=frames)
        got = graph(clips).numpy()
        assert got.shape == (BATCH, frames, 32, 32, 3)
        np.testing.assert_allclose(got, to_numpy(layer(clips)), atol=1e-6)
        np.testing.assert_allclose(got, bilinear_reference(clips, (32, 32)), atol=1e-3)


def test_model_with_dynamic_input_shape():
    inputs = keras.Input((None, None, None, 3), dtype="uint8")
    model = keras.Model(inputs, FrameResize(32)(inputs))
    assert tuple(model.output.shape) == (None, None, 32, 32, 3)
    for frames, spatial in [(2, (24, 20)), (5, (40, 36))]:
        clips = _clips((BATCH, frames, *spatial, 3), seed=frames)
        np.testing.assert_allclose(
            to_numpy(model(clips)), bilinear_reference(clips, (32, 32)), atol=1e-3
        )


def test_serialisation(tmp_path):
    layer = FrameResize((12, 10), interpolation="nearest", name="resize")
    config = layer.get_config()
    assert config["size"] == [12, 10] and config["interpolation"] == "nearest"
    assert_config_round_trip(layer, _clips((2, 3, 8, 6, 3)), tmp_path)
    assert_config_round_trip(FrameResize(7, name="square"), _clips((2, 3, 8, 6, 3)), tmp_path)
    assert FrameResize(7).size == (7, 7)
    assert keras.saving.get_registered_name(FrameResize) == "keras_ispan>FrameResize"


@pytest.mark.parametrize("size", [0, (3,), "a", (4, 0), (4, 2.5), True, None])
def test_bad_size(size):
    with pytest.raises(ValueError, match=r"Received: size="):
        FrameResize(size)


def test_bad_interpolation_and_rank():
    with pytest.raises(ValueError, match=r"Received: interpolation='cubic'"):
        FrameResize(8, interpolation="cubic")
    with pytest.raises(ValueError, match=r"`\(batch, frames, .*Received: input_shape"):
        FrameResize(8).build((2, 8, 8, 3))


def test_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = FrameResize(12)
        assert layer.compute_dtype == "float32"
        out = layer(_clips((2, 3, 8, 6, 3)))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        # An explicit dtype is honoured.
        half = FrameResize(12, dtype="float16")(_clips((2, 3, 8, 6, 3)))
        assert keras.backend.standardize_dtype(half.dtype) == "float16"
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_compute_output_shape():
    layer = FrameResize((32, 28))
    assert layer.compute_output_shape((None, None, 168, 192, 3)) == (None, None, 32, 28, 3)
    assert layer.compute_output_shape((2, 5, None, None, 1)) == (2, 5, 32, 28, 1)


def test_docstring_example():
    result = doctest.testmod(keras_ispan.layers.frame_resize, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
