"""Files the prediction and client tests share: a tiny saved classifier and a short generated video
whose frames differ (a per-frame grey level in a corner), so frame indices show in the answers."""

import numpy as np

from tests.keras_ispan.io.test_video_orientation import _pattern, _write

CLASSES = ["a", "b", "c"]


def save_tiny_classifier(path, seed=0, classes=CLASSES):
    """`build_classifier` (small_cnn, 32 px, named classes) with `seed`, saved to `path`; returns it."""
    import keras

    from keras_ispan.models import build_classifier

    keras.utils.set_random_seed(seed)
    model = build_classifier(len(classes), backbone="small_cnn", image_size=32, class_names=classes)
    model.save(path)
    return path


def marked_frames(num_frames=12):
    """uint8 `(num_frames, 320, 240, 3)`: `_pattern` with frame i's bottom-right corner at 20 i."""
    frames = _pattern(num_frames)
    frames[:, -40:, -40:] = np.arange(num_frames, dtype=np.uint8)[:, None, None, None] * 20
    return frames


def write_marked_video(path, num_frames=12):
    """`marked_frames` as H.264 MP4 at 25 fps; returns `path`."""
    return _write(path, marked_frames(num_frames))
