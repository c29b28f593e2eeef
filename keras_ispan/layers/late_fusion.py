"""`LateFusion`: a weighted average of the class scores of several streams (TSN's fusion)."""

import math

import keras
from keras import ops

# TSN's weights of the spatial (RGB) and temporal (flow) streams (Wang et al., ECCV 2016, Sec. 4.1).
TSN_STREAM_WEIGHTS = (1.0, 1.5)


@keras.saving.register_keras_serializable(package="keras_ispan")
class LateFusion(keras.layers.Layer):
    """Fuses the class logits of `n` streams: `sum_i w_i * logits_i / T_i`, with `sum_i w_i = 1`.

    TSN fuses two streams by a weighted average of their class scores, RGB:flow = 1:1.5 (Wang et al.,
    "Temporal Segment Networks", ECCV 2016, Sec. 4.1). Its evaluation script fuses the scores before
    the softmax (`tools/eval_scores.py`: `default_aggregation_func(..., normalization=False)`, then a
    weighted sum), so this layer fuses logits, not probabilities: one softmax (or sigmoid) follows the
    fusion, the fused model trains with the usual cross-entropy, and a confident stream counts in
    proportion to its margin. The weights are normalised to sum to 1, which keeps the fused logits on
    the scale of one stream's and leaves TSN's argmax unchanged (a positive factor).

    Each stream's logits are first divided by its temperature `T_i` (1 by default: TSN's fusion),
    temperature scaling as in Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017):
    a stream that answers confidently without knowing (an RGB stream on classes that differ only in
    motion) gets a large `T_i` when the temperatures are fitted on held-out clips, so its logits no
    longer drown an informative stream's. The temperatures are a non-trainable weight
    (`set_temperatures`; `training.evaluation.calibration` fits them on the validation split).

    Args:
        weights: `n` positive numbers, the streams' relative weights in input order
            (default: TSN's RGB 1, flow 1.5).
        learned: learn the weights. They are kept positive and summing to 1 as
            `softmax(v)` of a trainable `v` of `n` values initialised to `log(weights / sum)`.
        temperatures: `n` positive numbers, the streams' initial temperatures (default all 1);
            never trained by gradient (`set_temperatures`).

    Raises:
        ValueError: `weights` not a list of at least 2 positive numbers, `learned` not a bool,
            `temperatures` not `len(weights)` positive numbers, or (in
            `build`) a number of inputs other than `len(weights)` or inputs of different shapes.

    Call arguments:
        inputs: a list of `n` logits tensors `(batch, classes)`.

    Returns:
        `(batch, classes)` fused logits.

    Example:

    >>> import numpy as np
    >>> fused = LateFusion((1.0, 3.0))([np.array([[4.0, 0.0]]), np.array([[0.0, 4.0]])])
    >>> keras.ops.convert_to_numpy(fused).round(3).tolist()
    [[1.0, 3.0]]
    """

    def __init__(self, weights=TSN_STREAM_WEIGHTS, learned=False, temperatures=None, **kwargs):
        super().__init__(**kwargs)
        if not _positive_numbers(weights) or len(weights) < 2:
            raise ValueError(
                f"`weights` must be at least 2 positive numbers. Received: weights={weights!r}"
            )
        if not isinstance(learned, bool):
            raise ValueError(f"`learned` must be a bool. Received: learned={learned!r}")
        if temperatures is None:
            temperatures = (1.0,) * len(weights)
        if not _positive_numbers(temperatures) or len(temperatures) != len(weights):
            raise ValueError(
                f"`temperatures` must be {len(weights)} positive numbers (one per stream). "
                f"Received: temperatures={temperatures!r}"
            )
        self.stream_weights = tuple(float(w) for w in weights)
        self.learned = learned
        self.initial_temperatures = tuple(float(t) for t in temperatures)

    def build(self, input_shape):
        if not isinstance(input_shape, list | tuple) or len(input_shape) != len(
            self.stream_weights
        ):
            raise ValueError(
                f"`LateFusion` with {len(self.stream_weights)} weights expects a list of "
                f"{len(self.stream_weights)} logits tensors. Received: input_shape={input_shape!r}"
            )
        shapes = {tuple(s[1:]) for s in input_shape}
        if len(shapes) != 1:
            raise ValueError(
                "The streams' logits must have the same shape. "
                f"Received: input_shape={input_shape!r}"
            )
        total = sum(self.stream_weights)
        initial = [math.log(w / total) for w in self.stream_weights]
        self.log_weights = self.add_weight(
            shape=(len(initial),),
            initializer=keras.initializers.Constant(initial),
            trainable=self.learned,
            name="log_weights",
        )
        self.temperatures = self.add_weight(
            shape=(len(initial),),
            initializer=keras.initializers.Constant(list(self.initial_temperatures)),
            trainable=False,
            name="temperatures",
        )

    def load_own_variables(self, store):
        if len(store.keys()) == 1:  # saved before the temperatures existed: TSN's fusion (all 1)
            self.log_weights.assign(store["0"])
            return
        super().load_own_variables(store)

    def set_temperatures(self, temperatures):
        """Sets the streams' temperatures (`n` positive numbers) of a built layer."""
        if not _positive_numbers(temperatures) or len(temperatures) != len(self.stream_weights):
            raise ValueError(
                f"`temperatures` must be {len(self.stream_weights)} positive numbers. "
                f"Received: temperatures={temperatures!r}"
            )
        self.temperatures.assign([float(t) for t in temperatures])

    def fusion_weights(self):
        """The current normalised weights `softmax(v)`, one per stream."""
        return ops.softmax(ops.cast(self.log_weights, "float32"))

    def call(self, inputs):
        weights = ops.softmax(ops.cast(self.log_weights, "float32"))
        weights = ops.cast(weights / ops.cast(self.temperatures, "float32"), self.compute_dtype)
        fused = 0.0
        for i, logits in enumerate(inputs):
            fused = fused + weights[i] * ops.cast(logits, self.compute_dtype)
        return fused

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "weights": list(self.stream_weights),
            "learned": self.learned,
            "temperatures": [float(t) for t in ops.convert_to_numpy(self.temperatures)]
            if self.built
            else list(self.initial_temperatures),
        }


def _positive_numbers(values):
    return isinstance(values, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values
    )
