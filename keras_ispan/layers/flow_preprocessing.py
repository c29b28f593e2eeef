"""`FlowPreprocessing`: quantised optical flow (uint8) to flow in units of the quantisation bound."""

import keras
from keras import ops

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO, FlowSettings
from keras_ispan.layers.validation import check_resize_ratio

# TSN's bound (pixels per frame step at the stored resolution); `keras_ispan.io.flow.FLOW_BOUND`.
DEFAULT_FLOW_BOUND = 20.0


@keras.saving.register_keras_serializable(package="keras_ispan")
class FlowPreprocessing(keras.layers.Layer):
    """Maps quantised flow `q` (uint8, 128 about zero motion) to `(q - 127.5) / 127.5`.

    Conversion stores each flow component as TSN does (`keras_ispan.io.flow.quantize_flow`):
    clipped to `[-bound, bound]` pixels per frame step and mapped linearly to `0..255`,
    `q = round((f + bound) * 255 / (2 * bound))`. This layer inverts that map up to the factor
    `bound`: its output is the flow in units of the bound, `f / bound` in `[-1, 1]` (quantisation
    error at most `bound / 255` pixels, half a step either side; zero motion maps to
    `0.5 / 127.5 ~ 0.004`, not exactly 0). Flow is already centred, so no dataset mean is
    subtracted (TSN subtracts 128 from its 8-bit flow for the same reason).

    Args:
        flow_length: `L`, the flow fields stacked per segment; the input has `2L` channels,
            interleaved `[x_1, y_1, ..., x_L, y_L]`. Recorded (and checked against the input).
        bound: the quantisation bound in pixels, recorded so evaluation and clients can read it.
        resize_ratio: the evaluation transform's ratio (see `PixelPreprocessing`), recorded at the
            model's input for `keras_ispan.models.classifier_info`.
        flow_settings: how the training data's flow was computed (a
            `keras_ispan.io.transform.FlowSettings` dict: method, bound, the frames' short side and
            frame rate), recorded so that inference computes the same flow; None: not recorded.
            Its `bound` must equal `bound`.

    Raises:
        ValueError: `flow_length` not a positive int, `bound` not positive, `resize_ratio` below 1,
            `flow_settings` not a valid `FlowSettings` dict or with another bound, or (in `build`)
            an input whose last axis is not `2 * flow_length`.

    Call arguments:
        inputs: `(..., 2L)` quantised flow, uint8 or any real dtype with values in `[0, 255]`.

    Returns:
        Float tensor of the same shape, values in `[-1, 1]`.

    Example:

    >>> import numpy as np
    >>> out = FlowPreprocessing(flow_length=1)(np.array([[0, 255]], "uint8"))
    >>> [round(float(v), 2) for v in keras.ops.convert_to_numpy(out)[0]]
    [-1.0, 1.0]
    """

    def __init__(
        self,
        flow_length=5,
        bound=DEFAULT_FLOW_BOUND,
        resize_ratio=DEFAULT_RESIZE_RATIO,
        flow_settings=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(flow_length, bool) or not isinstance(flow_length, int) or flow_length < 1:
            raise ValueError(
                f"`flow_length` must be a positive int. Received: flow_length={flow_length!r}"
            )
        if isinstance(bound, bool) or not isinstance(bound, int | float) or not bound > 0:
            raise ValueError(f"`bound` must be a positive number. Received: bound={bound!r}")
        self.flow_length = flow_length
        self.bound = float(bound)
        self.resize_ratio = check_resize_ratio(resize_ratio)
        self.flow_settings = None
        if flow_settings is not None:
            self.set_flow_settings(flow_settings)

    def set_flow_settings(self, flow_settings):
        """Records how the training flow was computed (a `FlowSettings` or its dict)."""
        if isinstance(flow_settings, FlowSettings):
            flow_settings = flow_settings.to_dict()
        if not isinstance(flow_settings, dict):
            raise ValueError(
                f"`flow_settings` must be a FlowSettings dict. Received: flow_settings={flow_settings!r}"
            )
        settings = FlowSettings.from_dict(flow_settings)
        if settings.bound != self.bound:
            raise ValueError(
                f"`flow_settings` has bound {settings.bound} but the layer scales by bound "
                f"{self.bound}. Received: flow_settings={flow_settings!r}"
            )
        self.flow_settings = settings.to_dict()

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != 2 * self.flow_length:
            raise ValueError(
                f"`FlowPreprocessing(flow_length={self.flow_length})` expects "
                f"{2 * self.flow_length} channels (x and y of each flow field). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        return (x - 127.5) / 127.5

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "flow_length": self.flow_length,
            "bound": self.bound,
            "resize_ratio": self.resize_ratio,
            "flow_settings": self.flow_settings,
        }
