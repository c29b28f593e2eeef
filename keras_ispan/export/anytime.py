"""The in-graph anytime loop of the `serve_anytime` signature (TensorFlow).

`anytime_outputs(anytime, pixels, threshold)` runs `keras_ispan.models.AnytimeClassifier`'s split model
inside one `tf.while_loop` over check points (`keras_ispan.io.coarse_to_fine.check_points`; by
default the levels 1, 2, 4, 8, ... frames): iteration `j` sends the frames between check points
`j - 1` and `j` (of every clip) through the backbone in one call, appends their pyramid features to
the cached ones and re-runs the head on all frames so far. A clip stops when its confidence (the
`criterion` fixed at export: the top-1 probability, or its margin over the second) reaches the
threshold: its outputs are frozen, and the loop ends when every clip of the batch has
stopped or the frames run out. Frames are taken in the order given: a client sends them in
coarse-to-fine order (`keras_ispan.io.coarse_to_fine.coarse_to_fine_indices`), so one request does
less work when the video is easy. Per clip, the outputs equal `AnytimeClassifier.predict(clip,
threshold, order=range(K), check_points=...)` of an `AnytimeClassifier(model, criterion)` (the
library on the same frames).

Why levels rather than every frame (`python benchmarks/anytime_profile.py`, 2-core CPU, p50 in
`tf.function`, `benchmarks/results/anytime_profile.json`): a backbone call has a large fixed cost, so
one frame costs far more than an eighth of eight (`small_cnn` at 64 px: 2.2 vs 4.6 ms for 1 vs 8
frames; MobileNetV2 at 160 px: 16 vs 74 ms), and each check re-runs the head (1.2 to 2.4 ms, nearly
whatever the frame count). The concatenation of cached features and the casts are not measurable next
to those. Checking after every frame made 8 backbone and 8 head calls on a clip that used all 8 frames
(14 ms against 5.2 ms for the model on 8 frames with `small_cnn`; 131 against 76 ms with MobileNetV2);
checking per level makes `log2(K) + 1` of each (8.8 and 99 ms).
"""

import tensorflow as tf

from keras_ispan.io.coarse_to_fine import DEFAULT_CHECK_POINTS, check_schedule

__all__ = ["anytime_outputs", "check_points_tensor", "confidence_tensor"]

MAX_DOUBLINGS = 31  # 2 ** 30 frames: more than any request holds


def check_points_tensor(num_frames, schedule=DEFAULT_CHECK_POINTS):
    """`keras_ispan.io.coarse_to_fine.coarse_to_fine_steps(num_frames, schedule)` in the graph:
    int32 `(checks,)`, increasing, the last equal to `num_frames` (a scalar int32 tensor >= 1)."""
    explicit = check_schedule(schedule)
    if schedule == "every_frame":
        return tf.range(1, num_frames + 1)
    doubling = 2 ** tf.range(MAX_DOUBLINGS)
    if explicit:
        last, count = explicit[-1], max(1, MAX_DOUBLINGS - 1 - explicit[-1].bit_length())
        points = tf.concat([tf.constant(explicit, tf.int32), 2 * last * doubling[:count]], 0)
    else:
        points = doubling
    below = tf.boolean_mask(points, points < num_frames)
    return tf.concat([below, tf.reshape(num_frames, [1])], 0)


def _pad_frames(attention, num_frames):
    """`(batch, t, h, w)` zero-padded to `(batch, num_frames, h, w)`."""
    missing = num_frames - tf.shape(attention)[1]
    return tf.pad(attention, [[0, 0], [0, missing], [0, 0], [0, 0]])


def confidence_tensor(probabilities, criterion="top1"):
    """`keras_ispan.models.anytime.confidence` in the graph: `(batch, classes)` -> `(batch,)`, the
    largest probability (`"top1"`) or the largest minus the second (`"margin"`; the largest for one
    class)."""
    if criterion == "top1" or probabilities.shape[-1] == 1:
        return tf.reduce_max(probabilities, axis=-1)
    top = tf.math.top_k(probabilities, k=2).values
    return top[:, 0] - top[:, 1]


def effective_threshold(threshold, default):
    """`threshold`, or `default` where it is negative (a request without a choice of its own)."""
    threshold = tf.cast(threshold, tf.float32)
    return tf.where(threshold < 0, tf.constant(default, tf.float32), threshold)


def anytime_outputs(
    anytime, pixels, threshold, check_points=DEFAULT_CHECK_POINTS, default_threshold=0.9,
    criterion=None,
):  # fmt: skip
    """Anytime inference on a batch of clips inside the graph.

    Args:
        anytime: a `keras_ispan.models.AnytimeClassifier` (its `frame_model` and `head_model`).
        pixels: float32 `(batch, K, S, S, 3)`, frames in the order to take them, K >= 1.
        threshold: float32 scalar: a clip stops when its confidence reaches it (above 1: never,
            all K frames are used; negative: `default_threshold`).
        check_points: `"doubling"`, `"every_frame"` or increasing prefix lengths (a Python
            value fixed at export; `keras_ispan.io.coarse_to_fine.check_points`).
        default_threshold: the threshold of a request that sends a negative one.
        criterion: `"top1"` (the top-1 probability) or `"margin"` (top-1 minus top-2; a Python
            value fixed at export); None: `anytime.criterion`.

    Returns:
        `{"probabilities": (batch, classes) float32, "frames_used": (batch,) int32,
        "attention": (batch, K, h, w) float32, "threshold": (batch,) float32, "confidence":
        (batch,) float32, "criterion": (batch,) string}`: the attention over the frames used
        (zeros for the frames a clip did not use), the threshold applied, the confidence of the
        returned probabilities and the criterion it is measured by.

    Raises:
        ValueError: a bad `criterion`.
    """
    from keras_ispan.models.anytime import CRITERIA

    criterion = anytime.criterion if criterion is None else criterion
    if criterion not in CRITERIA:
        raise ValueError(
            f"`criterion` must be one of {CRITERIA}. Received: criterion={criterion!r}"
        )
    num_frames = tf.shape(pixels)[1]
    threshold = effective_threshold(threshold, default_threshold)
    points = check_points_tensor(num_frames, check_points)
    head = _head_fn(anytime, num_frames, threshold, criterion)
    first = anytime.frame_model(pixels[:, : points[0]], training=False)
    features = [tf.convert_to_tensor(f) for f in first]
    probabilities, attention, done = head(features)
    used = tf.fill(tf.shape(done), points[0])

    def cond(j, done, *_):
        return tf.logical_and(j < tf.size(points), tf.logical_not(tf.reduce_all(done)))

    def body(j, done, used, probabilities, attention, features):
        new = anytime.frame_model(pixels[:, points[j - 1] : points[j]], training=False)
        features = [tf.concat([c, f], axis=1) for c, f in zip(features, new)]
        step_probabilities, step_attention, confident = head(features)
        keep = done[:, None]
        probabilities = tf.where(keep, probabilities, step_probabilities)
        attention = tf.where(keep[:, :, None, None], attention, step_attention)
        used = tf.where(done, used, points[j])
        return j + 1, tf.logical_or(done, confident), used, probabilities, attention, features

    invariants = [tf.TensorShape([f.shape[0], None, *f.shape[2:]]) for f in features]
    _, _, used, probabilities, attention, _ = tf.while_loop(
        cond,
        body,
        (tf.constant(1), done, used, probabilities, attention, features),
        shape_invariants=(
            tf.TensorShape([]), done.shape, used.shape, probabilities.shape,
            tf.TensorShape([attention.shape[0], None, *attention.shape[2:]]), invariants,
        ),
    )  # fmt: skip
    return {
        "probabilities": probabilities,
        "frames_used": used,
        "attention": attention,
        "threshold": tf.fill(tf.shape(used), threshold),
        "confidence": confidence_tensor(probabilities, criterion),
        "criterion": tf.fill(tf.shape(used), tf.constant(criterion)),
    }


def _head_fn(anytime, num_frames, threshold, criterion):
    """`features -> (probabilities, attention padded to num_frames, confident)` of the anytime head."""

    def head(features):
        out = anytime.head_model(features, training=False)
        probabilities = tf.cast(out["probabilities"], tf.float32)
        attention = _pad_frames(tf.cast(out["attention"], tf.float32), num_frames)
        return probabilities, attention, confidence_tensor(probabilities, criterion) >= threshold

    return head
