"""`with_frame_resize`: the classifier behind `FrameResize` (and a per-clip flip in training), the same
outputs as resizing first, the ISPAN losses kept, a `.keras` round trip, and a clear error."""

import keras
import numpy as np
import pytest

from keras_ispan.layers import FrameResize
from keras_ispan.models import build_classifier, with_frame_resize
from tests.keras_ispan.helpers import to_numpy

CROPS = np.random.default_rng(0).integers(0, 256, size=(2, 4, 24, 28, 3)).astype("uint8")


def test_outputs_are_the_classifier_on_resized_frames(tmp_path):
    model = build_classifier(3, head="ispan", image_size=32)
    wrapped = with_frame_resize(model, flip=True, seed=0)
    assert (
        tuple(wrapped.input.shape) == (None, None, None, None, 3) and wrapped.input.name == "frames"
    )
    expected = to_numpy(model(FrameResize(32)(CROPS)))
    got = to_numpy(wrapped(CROPS))  # inference: no flip
    np.testing.assert_allclose(got, expected, atol=1e-5)
    path = tmp_path / "wrapped.keras"
    wrapped.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(CROPS, training=False)), expected, atol=1e-5)
    wrapped(CROPS, training=True)
    assert len(wrapped.losses) == len(model.losses) > 0  # the ISPAN regularisers reach the wrapper


def test_training_flips_whole_clips():
    """Each clip is flipped as a whole (every frame) or not at all; both happen; inference never."""
    frames = keras.Input((None, 16, 16, 3))
    front = with_frame_resize(keras.Model(frames, frames), flip=True, seed=3)
    clips = np.random.default_rng(1).integers(0, 256, size=(12, 3, 16, 16, 3)).astype("uint8")
    out = to_numpy(front(clips, training=True))
    flipped = []
    for got, clip in zip(out, clips, strict=True):
        same, mirrored = np.array_equal(got, clip), np.array_equal(got, clip[:, :, ::-1])
        assert same != mirrored
        flipped.append(mirrored)
    assert 0 < sum(flipped) < len(flipped)
    np.testing.assert_array_equal(to_numpy(front(clips, training=False)), clips)


def test_a_model_without_a_static_frame_size_is_refused():
    frames = keras.Input((None, None, None, 3))
    with pytest.raises(
        ValueError, match=r"Received: model.input_shape=\(None, None, None, None, 3\)"
    ):
        with_frame_resize(keras.Model(frames, frames))
