"""`RandomClipFlip`: a random horizontal flip of whole clips, in training only."""

import numbers

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ispan")
class RandomClipFlip(keras.layers.Layer):
    """Flips each clip of a batch horizontally with probability 0.5, every frame the same way.

    Active only in training (`training=True`, as `fit` calls it); inference returns the input. One
    uniform draw per clip from a `keras.random.SeedGenerator`; the flip is `ops.flip` of the width axis
    and `ops.where` per clip: two passes over the batch, cheapest on uint8 frames before any resize
    (a horizontal flip commutes with a resize).

    Args:
        seed: None or an int, the seed of the flips.

    Call arguments:
        inputs: `(batch, frames, height, width, channels)`; every axis may be dynamic.
        training: whether to flip.

    Returns:
        The clips, some flipped, same shape and dtype.

    Example:

    >>> import numpy as np
    >>> clips = np.arange(2 * 1 * 1 * 3 * 1, dtype="float32").reshape(2, 1, 1, 3, 1)
    >>> out = keras.ops.convert_to_numpy(RandomClipFlip(seed=1)(clips, training=True))
    >>> sorted(bool(np.array_equal(o, c[:, :, ::-1])) for o, c in zip(out, clips))
    [False, True]
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be None or an int. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                "`RandomClipFlip` expects inputs of shape `(batch, frames, height, width, "
                f"channels)`. Received: input_shape={tuple(input_shape)}"
            )
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        draw = keras.random.uniform((shape[0],), seed=self.seed_generator)
        flip = ops.reshape(draw < 0.5, (-1, 1, 1, 1, 1))
        # the reverse runs on the (batch * frames * height, width, channels) view: the same bytes,
        # and TensorFlow's reverse kernel is several times faster on three axes than on five
        rows = ops.reshape(inputs, (-1, shape[3], shape[4]))
        mirrored = ops.reshape(ops.flip(rows, axis=1), shape)
        return ops.where(flip, mirrored, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
