"""The `serve_anytime` signature (issue 15): early stop inside the graph equals the library's result."""

import numpy as np
import pytest

pytestmark = pytest.mark.tf_only


@pytest.fixture(scope="module", params=["top1", "margin"])
def exported(tmp_path_factory, request):
    """A tiny classifier exported with the stop criterion `request.param` (the same weights)."""
    import keras

    from keras_ispan.export.saved_model import ExportOptions, export_model
    from keras_ispan.models import build_classifier

    keras.utils.set_random_seed(5)
    model = build_classifier(3, backbone="small_cnn", image_size=32, dropout=0.0)
    options = ExportOptions(
        warmup_num_frames=(2,), anytime_threshold=0.6, anytime_criterion=request.param
    )
    result = export_model(model, tmp_path_factory.mktemp("export"), "tiny", options=options)
    return model, result, request.param


def _library(model, clips, threshold, check_points="doubling", criterion="top1"):
    from keras_ispan.io.frames_tf import eval_resize_and_crop
    from keras_ispan.models import AnytimeClassifier, classifier_info

    transform = classifier_info(model).transform
    anytime = AnytimeClassifier(model, criterion=criterion)
    out = []
    for clip in clips:
        frames = eval_resize_and_crop(clip, transform.image_size, transform.resize_ratio).numpy()
        order = np.arange(len(frames))
        out.append(anytime.predict(frames, threshold, order=order, check_points=check_points))
    return out


def _assert_equal(out, expected_results, criterion="top1"):
    for b, expected in enumerate(expected_results):
        used = int(out["frames_used"][b])
        assert used == expected.frames_used, b
        np.testing.assert_allclose(out["probabilities"][b], expected.probabilities, atol=1e-5)
        np.testing.assert_allclose(out["confidence"][b], expected.confidence, atol=1e-5)
        assert out["criterion"][b].numpy().decode() == criterion
        attention = np.asarray(out["attention"][b])
        np.testing.assert_allclose(attention[:used], expected.attention, atol=1e-5)
        assert not attention[used:].any()


def _middle(result, step, criterion="top1"):
    """A threshold first reached at check point `step` of `result` (or before)."""
    from keras_ispan.models.anytime import confidence

    confidences = confidence(result.step_probabilities, criterion)
    below = confidences[confidences < confidences[step]]
    return float((confidences[step] + (below.max() if below.size else 0.0)) / 2)


def test_serve_anytime_equals_the_library(exported):
    import tensorflow as tf

    from keras_ispan.export.saved_model import read_info

    model, result, criterion = exported
    signature = tf.saved_model.load(str(result.version_dir)).signatures["serve_anytime"]
    clips = np.random.default_rng(1).integers(0, 256, (2, 6, 40, 48, 3), dtype=np.uint8)
    steps = _library(model, clips, 2.0, criterion=criterion)
    assert steps[0].step_frames.tolist() == [1, 2, 4, 6]  # the levels, then the rest
    middle = _middle(steps[0], 2, criterion)  # clip 0 stops after at most 4 frames
    for threshold in (2.0, 0.0, middle):
        out = signature(frames=tf.constant(clips), threshold=tf.constant(threshold, tf.float32))
        _assert_equal(out, _library(model, clips, threshold, criterion=criterion), criterion)
        np.testing.assert_allclose(out["threshold"], [threshold] * 2, rtol=1e-6)
        assert threshold != middle or int(out["frames_used"][0]) <= 4
    default = signature(frames=tf.constant(clips), threshold=tf.constant(-1.0))  # the export's
    _assert_equal(default, _library(model, clips, 0.6, criterion=criterion), criterion)
    np.testing.assert_allclose(default["threshold"], [0.6, 0.6], rtol=1e-6)
    info = read_info(result.version_dir)
    assert info["anytime"] == {
        "threshold": 0.6,
        "check_points": "doubling",
        "criterion": criterion,
        "order": "coarse_to_fine",
    }
    assert "threshold" in info["signatures"]["serve_anytime"]["inputs"]


def test_other_check_points_equal_the_library(exported):
    """Other check points in the graph (every frame with top1, explicit ones with margin)."""
    import tensorflow as tf

    from keras_ispan.export.anytime import anytime_outputs
    from keras_ispan.io.frames_tf import eval_resize_and_crop
    from keras_ispan.models import AnytimeClassifier, classifier_info

    model, _, criterion = exported
    schedule = {"top1": "every_frame", "margin": (2, 3)}[criterion]
    transform = classifier_info(model).transform
    clips = np.random.default_rng(2).integers(0, 256, (2, 7, 32, 32, 3), dtype=np.uint8)
    anytime = AnytimeClassifier(model, criterion=criterion)
    spec = [tf.TensorSpec([None, None, 32, 32, 3], tf.float32), tf.TensorSpec([], tf.float32)]
    graph = tf.function(lambda x, t: anytime_outputs(anytime, x, t, schedule), input_signature=spec)
    pixels = eval_resize_and_crop(clips, transform.image_size, transform.resize_ratio)
    steps = _library(model, clips, 2.0, schedule, criterion)
    for threshold in (2.0, _middle(steps[0], 1, criterion)):
        out = graph(tf.cast(pixels, tf.float32), tf.constant(threshold, tf.float32))
        _assert_equal(out, _library(model, clips, threshold, schedule, criterion), criterion)


def test_check_points_in_the_graph_equal_numpy():
    import tensorflow as tf

    from keras_ispan.export.anytime import check_points_tensor
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_steps

    for schedule in ("doubling", "every_frame", (3,), (2, 5, 6)):
        for n in (1, 2, 3, 5, 8, 9, 17, 64):
            got = check_points_tensor(tf.constant(n), schedule).numpy().tolist()
            assert got == coarse_to_fine_steps(n, schedule), (schedule, n)


def test_margin_stops_where_the_probability_would_not(exported):
    """The two criteria differ on the same clip: a margin threshold at the top-1 probability of the
    first frame (larger than its margin, three classes) does not stop there; the top-1 one does."""
    import tensorflow as tf

    model, result, criterion = exported
    signature = tf.saved_model.load(str(result.version_dir)).signatures["serve_anytime"]
    clip = np.random.default_rng(3).integers(0, 256, (1, 4, 32, 32, 3), dtype=np.uint8)
    first = _library(model, clip, 2.0)[0].step_probabilities[0]
    threshold = float(np.sort(first)[-1]) - 1e-4  # reached by top1 after 1 frame, not by margin
    out = signature(frames=tf.constant(clip), threshold=tf.constant(threshold, tf.float32))
    expected = _library(model, clip, threshold, criterion=criterion)
    assert int(out["frames_used"][0]) == expected[0].frames_used
    assert (expected[0].frames_used == 1) == (criterion == "top1")
