"""A small convolutional backbone for CPU demos, tests and the synthetic study."""

import keras


def small_cnn(input_shape=(112, 112, 3), widths=(16, 32, 64, 128), name="small_cnn"):
    """Four blocks of 3x3 convolution, batch norm (momentum 0.9), ReLU and 2x2 max pooling.

    Batch-norm momentum is 0.9 rather than Keras' 0.99: on a few hundred training steps the slower
    moving statistics had not converged and the model predicted one class at inference. That was a
    symptom; the kind is fixed by precise BN (`keras_ispan.models.precise_batch_norm`, on by default in
    `training/fit.py`), after which the momentum no longer matters for evaluation (measured:
    `python benchmarks/bn_collapse.py`, 0.9 and 0.99 give the same checkpoint and accuracy).

    Block `i` ends in a layer named `block{i}_out` at `1 / 2**i` of the input size, so a 112x112
    frame gives pyramid levels of 28, 14 and 7 (blocks 2, 3, 4).

    Args:
        input_shape: `(height, width, 3)`, both divisible by 16.
        widths: the channels of the four blocks.

    Returns:
        A functional `keras.Model` from `(batch, height, width, 3)` to the last block.
    """
    if len(input_shape) != 3 or any(s is None or s % 16 for s in input_shape[:2]):
        raise ValueError(
            "`small_cnn` needs a static `(height, width, 3)` with sides divisible by 16. "
            f"Received: input_shape={input_shape}"
        )
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, width in enumerate(widths, start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"block{i}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_out")(x)
    return keras.Model(inputs, x, name=name)
