"""`PyramidAttention`: the interaction-aware spatio-temporal pyramid attention layer of ISPAN."""

import keras
from keras import ops

from keras_ispan.layers.resampling import downsample_to
from keras_ispan.layers.validation import check_choice, check_pyramid_shapes
from keras_ispan.options import BIAS_MODES, DOWNSAMPLE_MODES, FUSION_MODES, POOLING_MODES
from keras_ispan.regularizers import get as get_regularizer


@keras.saving.register_keras_serializable(package="keras_ispan")
class PyramidAttention(keras.layers.Layer):
    """Interaction-aware spatio-temporal pyramid attention (ISPAN, ECCV 2018, Fig. 1).

    Takes N feature maps from shallow to deep; the last is the anchor level, of spatial size
    `H x W`. Every level is downsampled to `H x W` (`downsample`), flattened over its
    `P = frames * H * W` positions and projected to `d = H * W` logits per position by a
    per-level kernel `(channels_j, d)` plus a bias (`bias`). The levels are fused element-wise
    (`fusion`), a softmax over the P positions gives d attention maps `a`, L2-normalised to `A`,
    and the output is `A X` with `X` the anchor's local features, reshaped to `(H, W, C)`.

    The weights depend on `d` and the channels, never on the number of frames: one built layer
    serves any T. With frames, the layer pools all positions of all frames with d learned
    queries, so its output is invariant to the order of the frames: it sees what appears where,
    not the order of events (order-dependent classes need a motion stream in front of it).

    Args:
        downsample: `"avg"` (default; area averaging), `"max"` or `"bilinear"`: how a level is
            brought to the anchor's size.
        fusion: `"sum"` (default), `"mean"`, `"max"` or `"weighted"` (a learned
            softmax-normalised weight per level).
        bias: `"position"` (default): one value per anchor position `b[k mod H W]`, shared by
            all frames and rows, a learned spatial prior; `"row"`: one value per attention row,
            which cancels in the softmax under sum and mean fusion; `"none"`.
        interaction_regularizer: a `PCARegularizer` (Eq. 6), its config, or None.
        diversity_regularizer: an `AttentionDiversityRegularizer` (`l_attn`), its config, or None.
        pooling: `"l2"` (default, the paper): the output is `A X` with the L2-normalised maps, so
            its scale grows like `sqrt(P)` when the attention is diffuse (at initialisation it is
            exactly `sqrt(P)` times the mean feature); `"softmax"`: the output is `a X`, a weighted
            mean of the local features whose scale does not depend on P or T (equal to global
            average pooling at initialisation). The interaction loss uses `A` either way.
        return_attention: also return the saliency map (the attention over positions averaged
            over its d rows; it sums to one over frames and positions).
        kernel_initializer, bias_initializer, kernel_regularizer: for the per-level kernels.

    Call arguments:
        inputs: list of N tensors, all `(batch, frames, height_j, width_j, channels_j)` or all
            `(batch, height_j, width_j, channels_j)`; the last one is the anchor; every level at
            least as large as the anchor; frames may be `None`.
        training: the losses are added (once per call, on the whole batch) only when true.

    Returns:
        `(batch, H, W, C)` of the anchor level; with `return_attention`, also the saliency
        `(batch, frames, H, W)` (rank-5 inputs) or `(batch, H, W)` (rank-4 inputs).

    Example:

    >>> import numpy as np
    >>> layer = PyramidAttention(return_attention=True)
    >>> levels = [np.random.rand(2, 3, 8, 8, 16), np.random.rand(2, 3, 4, 4, 32)]
    >>> out, saliency = layer(levels)
    >>> tuple(out.shape), tuple(saliency.shape)
    ((2, 4, 4, 32), (2, 3, 4, 4))

    Reference: Du, Yuan, Li, Zhao, Li, Hu, "Interaction-aware Spatio-temporal Pyramid Attention
    Networks for Action Classification", ECCV 2018 (arXiv 1808.01106).
    """

    def __init__(
        self,
        downsample="avg",
        fusion="sum",
        bias="position",
        pooling="l2",
        interaction_regularizer=None,
        diversity_regularizer=None,
        return_attention=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.downsample = check_choice("downsample", downsample, DOWNSAMPLE_MODES)
        self.fusion = check_choice("fusion", fusion, FUSION_MODES)
        self.bias = check_choice("bias", bias, BIAS_MODES)
        self.pooling = check_choice("pooling", pooling, POOLING_MODES)
        if not isinstance(return_attention, bool):
            raise ValueError(
                f"`return_attention` must be a bool. Received: return_attention={return_attention!r}"
            )
        self.return_attention = return_attention
        self.interaction_regularizer = get_regularizer(interaction_regularizer)
        self.diversity_regularizer = get_regularizer(diversity_regularizer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        shapes = check_pyramid_shapes(input_shape)
        self._rank = len(shapes[-1])
        self.anchor_size = tuple(shapes[-1][-3:-1])
        self.units = self.anchor_size[0] * self.anchor_size[1]
        self.kernels, self.biases = [], []
        for j, shape in enumerate(shapes):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{j}",
                    shape=(shape[-1], self.units),
                    initializer=self.kernel_initializer,
                    regularizer=self.kernel_regularizer,
                )
            )
            if self.bias != "none":
                self.biases.append(
                    self.add_weight(
                        name=f"bias_{j}",
                        shape=(self.units,),
                        initializer=self.bias_initializer,
                    )
                )
        if self.fusion == "weighted":
            self.level_weights = self.add_weight(
                name="level_weights", shape=(len(shapes),), initializer="zeros"
            )

    def _level_logits(self, features, j):
        """`(batch, [frames,] h_j, w_j, c_j)` -> logits `(batch, positions, d)`, float32."""
        batch = ops.shape(features)[0]
        channels = features.shape[-1]
        images = ops.reshape(features, (-1, *features.shape[-3:]))
        images = downsample_to(images, self.anchor_size, self.downsample)
        flat = ops.reshape(images, (batch, -1, channels))
        logits = ops.cast(ops.matmul(flat, ops.cast(self.kernels[j], flat.dtype)), "float32")
        if self.bias == "none":
            return logits
        bias = ops.cast(self.biases[j], "float32")  # variables are autocast under mixed precision
        if self.bias == "row":
            logits = logits + bias
        else:
            per_frame = ops.reshape(logits, (batch, -1, self.units, self.units))
            per_frame = per_frame + ops.expand_dims(bias, -1)
            logits = ops.reshape(per_frame, (batch, -1, self.units))
        return logits

    def _fuse(self, logits):
        if len(logits) == 1:
            return logits[0]
        stacked = ops.stack(logits, axis=0)
        if self.fusion == "sum":
            return ops.sum(stacked, axis=0)
        if self.fusion == "mean":
            return ops.mean(stacked, axis=0)
        if self.fusion == "max":
            return ops.max(stacked, axis=0)
        weights = ops.softmax(ops.cast(self.level_weights, "float32"))
        return ops.einsum("n,nbpd->bpd", weights, stacked)

    def call(self, inputs, training=None):
        inputs = list(inputs)
        anchor = inputs[-1]
        batch = ops.shape(anchor)[0]
        height, width = self.anchor_size
        logits = [self._level_logits(x, j) for j, x in enumerate(inputs)]
        attention = ops.softmax(self._fuse(logits), axis=1)  # a: (batch, positions, d)
        norm = ops.sqrt(ops.sum(ops.square(attention), axis=1, keepdims=True))
        normalized = attention / ops.maximum(norm, 1e-12)  # A, unit rows
        features = ops.reshape(anchor, (batch, -1, anchor.shape[-1]))  # X: (batch, positions, C)
        weights = normalized if self.pooling == "l2" else attention
        pooled = ops.einsum("bpd,bpc->bdc", ops.cast(weights, features.dtype), features)
        outputs = ops.reshape(pooled, (batch, height, width, anchor.shape[-1]))
        if training:
            self._add_regularization_losses(attention, normalized, features, logits)
        if not self.return_attention:
            return outputs
        saliency = ops.mean(attention, axis=-1)
        shape = (batch, height, width) if self._rank == 4 else (batch, -1, height, width)
        return outputs, ops.reshape(saliency, shape)

    def _add_regularization_losses(self, attention, normalized, features, logits):
        if self.interaction_regularizer is not None:
            self.add_loss(self.interaction_regularizer(normalized, features))
        if self.diversity_regularizer is not None:
            levels = [ops.softmax(y, axis=1) for y in logits]
            self.add_loss(self.diversity_regularizer(attention, levels))

    def compute_output_shape(self, input_shape):
        anchor = tuple(input_shape[-1])
        out = (anchor[0], anchor[-3], anchor[-2], anchor[-1])
        if not self.return_attention:
            return out
        return out, (anchor[0], *anchor[1:-1]) if len(anchor) == 5 else anchor[:-1]

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "downsample": self.downsample,
            "fusion": self.fusion,
            "bias": self.bias,
            "pooling": self.pooling,
            "interaction_regularizer": serialize(self.interaction_regularizer),
            "diversity_regularizer": serialize(self.diversity_regularizer),
            "return_attention": self.return_attention,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
