"""The in-graph anytime loop of the `serve_anytime` signature (TensorFlow).

`anytime_outputs(anytime, pixels, threshold)` runs `keras_ispan.models.AnytimeClassifier`'s split model
inside one `tf.while_loop`: iteration `i` sends frame `i` (of every clip) through the backbone once,
appends its pyramid features to the cached ones and re-runs the head on frames `0..i`. A clip stops
when its top-1 probability reaches `threshold`: its outputs are frozen, and the loop ends when every
clip of the batch has stopped or the frames run out. Frames are taken in the order given: a client
sends them in coarse-to-fine order (`keras_ispan.io.coarse_to_fine.coarse_to_fine_indices`), so one
request does less work when the video is easy. Per clip, the outputs equal
`AnytimeClassifier.predict(clip, threshold, order=range(K))` (the library on the same frames).
"""

import tensorflow as tf

__all__ = ["anytime_outputs"]


def _pad_frames(attention, num_frames):
    """`(batch, t, h, w)` zero-padded to `(batch, num_frames, h, w)`."""
    missing = num_frames - tf.shape(attention)[1]
    return tf.pad(attention, [[0, 0], [0, missing], [0, 0], [0, 0]])


def anytime_outputs(anytime, pixels, threshold):
    """Anytime inference on a batch of clips inside the graph.

    Args:
        anytime: a `keras_ispan.models.AnytimeClassifier` (its `frame_model` and `head_model`).
        pixels: float32 `(batch, K, S, S, 3)`, frames in the order to take them, K >= 1.
        threshold: float32 scalar: a clip stops when its top-1 probability reaches it (above 1:
            never, all K frames are used).

    Returns:
        `{"probabilities": (batch, classes) float32, "frames_used": (batch,) int32,
        "attention": (batch, K, h, w) float32}`: the attention over the frames used, zeros for the
        frames a clip did not use.
    """
    num_frames = tf.shape(pixels)[1]
    threshold = tf.cast(threshold, tf.float32)

    def head(features):
        out = anytime.head_model(features, training=False)
        probabilities = tf.cast(out["probabilities"], tf.float32)
        attention = _pad_frames(tf.cast(out["attention"], tf.float32), num_frames)
        return probabilities, attention, tf.reduce_max(probabilities, axis=-1) >= threshold

    features = [tf.convert_to_tensor(f) for f in anytime.frame_model(pixels[:, :1], training=False)]
    probabilities, attention, done = head(features)
    used = tf.ones_like(done, dtype=tf.int32)

    def cond(i, done, *_):
        return tf.logical_and(i < num_frames, tf.logical_not(tf.reduce_all(done)))

    def body(i, done, used, probabilities, attention, features):
        new = anytime.frame_model(pixels[:, i : i + 1], training=False)
        features = [tf.concat([c, f], axis=1) for c, f in zip(features, new)]
        step_probabilities, step_attention, confident = head(features)
        keep = done[:, None]
        probabilities = tf.where(keep, probabilities, step_probabilities)
        attention = tf.where(keep[:, :, None, None], attention, step_attention)
        used = tf.where(done, used, i + 1)
        return i + 1, tf.logical_or(done, confident), used, probabilities, attention, features

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
    return {"probabilities": probabilities, "frames_used": used, "attention": attention}
