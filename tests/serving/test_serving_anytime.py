"""The `serve_anytime` signature (issue 15): early stop inside the graph equals the library's result."""

import numpy as np
import pytest

pytestmark = pytest.mark.tf_only


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras

    from keras_ispan.export.saved_model import ExportOptions, export_model
    from keras_ispan.models import build_classifier

    keras.utils.set_random_seed(5)
    model = build_classifier(3, backbone="small_cnn", image_size=32, dropout=0.0)
    options = ExportOptions(warmup_num_frames=(2,), anytime_threshold=0.6)
    result = export_model(model, tmp_path_factory.mktemp("export"), "tiny", options=options)
    return model, result


def _library(model, clips, threshold):
    from keras_ispan.io.frames_tf import eval_resize_and_crop
    from keras_ispan.models import AnytimeClassifier, classifier_info

    transform = classifier_info(model).transform
    anytime = AnytimeClassifier(model)
    out = []
    for clip in clips:
        frames = eval_resize_and_crop(clip, transform.image_size, transform.resize_ratio).numpy()
        out.append(anytime.predict(frames, threshold, order=np.arange(len(frames))))
    return out


def test_serve_anytime_equals_the_library(exported):
    import tensorflow as tf

    from keras_ispan.export.saved_model import read_info

    model, result = exported
    signature = tf.saved_model.load(str(result.version_dir)).signatures["serve_anytime"]
    clips = np.random.default_rng(1).integers(0, 256, (2, 6, 40, 48, 3), dtype=np.uint8)
    steps = _library(model, clips, 2.0)
    confidences = steps[0].step_probabilities.max(axis=-1)
    below = confidences[confidences < confidences[2]]
    middle = float((confidences[2] + (below.max() if below.size else 0.0)) / 2)  # clip 0: <= 3
    for threshold in (2.0, 0.0, middle):
        out = signature(frames=tf.constant(clips), threshold=tf.constant(threshold, tf.float32))
        for b, expected in enumerate(_library(model, clips, threshold)):
            used = int(out["frames_used"][b])
            assert used == expected.frames_used, (threshold, b)
            np.testing.assert_allclose(out["probabilities"][b], expected.probabilities, atol=1e-5)
            attention = out["attention"][b].numpy()
            np.testing.assert_allclose(attention[:used], expected.attention, atol=1e-5)
            assert not attention[used:].any()
            assert threshold != middle or b != 0 or used <= 3
    assert read_info(result.version_dir)["anytime"]["threshold"] == 0.6
    assert "threshold" in read_info(result.version_dir)["signatures"]["serve_anytime"]["inputs"]
