"""What the REST and gRPC clients share: the server's error, the transport learned from the model.

`_ClientBase` learns the short side to resize to from the model's `preprocess` signature (`Transport`),
the served version and the flow channels; `serving.client_rest.RestClient` and
`serving.client_grpc.GrpcClient` add the requests.
"""

import dataclasses

import numpy as np

from serving.client_inputs import (
    PREPROCESS_SIGNATURE,
    PREPROCESSED_SIGNATURE,
    SIGNATURES,
    _check_format,
)


class ServerError(RuntimeError):
    """An error answer of the server: `status` (HTTP code, or gRPC code name) and its message."""

    def __init__(self, status, message):
        self.status = status
        self.message = str(message)
        super().__init__(f"{status}: {self.message}")


@dataclasses.dataclass(frozen=True)
class Transport:
    """What the client resizes to before sending: `short_side`, the model's `image_size` (when known),
    and `source`: `"preprocess"` (learned from the model), `"fallback"` (the model has no `preprocess`
    signature: `round(S * 256 / 224)` with S from `serve_preprocessed`) or `"override"`."""

    short_side: int
    image_size: int | None
    source: str

    @property
    def note(self):
        if self.source != "fallback":
            return None
        return (
            f"the model has no '{PREPROCESS_SIGNATURE}' signature (exported before it existed): "
            f"assuming short side {self.short_side} = round({self.image_size} * 256 / 224)"
        )


@dataclasses.dataclass
class _ClientBase:
    """What both clients share: the model version or label asked for, the timeout (seconds),
    keyword-only; learning the transport from the server, classifying a clip."""

    _: dataclasses.KW_ONLY
    version: int | None = None
    label: str | None = None
    timeout: float = 60.0

    def transport(self, short_side=None):
        """The `Transport` to use (learned once per client and cached; `short_side` overrides)."""
        if short_side is not None:
            return Transport(int(short_side), None, "override")
        cached = getattr(self, "_transport", None)
        if cached is None:
            cached = self._learn_transport()
            self._transport = cached
        return cached

    def _learn_transport(self):
        from keras_ispan.io.transform import short_side_for

        signatures = self.signatures()
        if PREPROCESS_SIGNATURE in signatures:
            tiny = np.zeros((1, 1, 1, 1, 3), np.uint8)
            outputs, _ = self.predict_signature(PREPROCESS_SIGNATURE, {"frames": tiny})
            return Transport(
                int(np.asarray(outputs["short_side"]).ravel()[0]),
                int(np.asarray(outputs["image_size"]).ravel()[0]),
                "preprocess",
            )
        shape = signatures.get(PREPROCESSED_SIGNATURE, {}).get("frames")
        if not shape or len(shape) != 5 or not shape[2] or shape[2] < 1:
            raise ServerError(
                "FAILED_PRECONDITION",
                f"the model has neither a '{PREPROCESS_SIGNATURE}' nor a '{PREPROCESSED_SIGNATURE}' "
                f"signature with a fixed frame size (signatures: {sorted(signatures)}); "
                "give --short-side",
            )
        return Transport(short_side_for(int(shape[2])), int(shape[2]), "fallback")

    def served_version(self):
        """The version that answers this client's requests now: `version` when given, else the
        largest AVAILABLE one the model status lists (for a `label`, the version it names; the
        status request follows the predict request, so a version loaded in between is reported)."""
        if self.version is not None:
            return int(self.version)
        available = [v for v, state in self._version_states() if state == "AVAILABLE"]
        return max(available) if available else None

    def flow_settings(self):
        """How the served flow model's training flow was computed (a
        `keras_ispan.io.transform.FlowSettings`, from its `preprocess` signature's `flow_*`
        outputs; learned once), or None for an export that records none (older exports, or models
        trained before flow settings were recorded: flow on frames at the transport size)."""
        if not hasattr(self, "_flow_settings"):
            self._flow_settings = self._learn_flow_settings()
        return self._flow_settings

    def _learn_flow_settings(self):
        from keras_ispan.io.transform import FlowSettings

        if PREPROCESS_SIGNATURE not in self.signatures():
            return None
        tiny = np.zeros((1, 1, 1, 1, 3), np.uint8)
        outputs, _ = self.predict_signature(PREPROCESS_SIGNATURE, {"frames": tiny})
        if "flow_short_side" not in outputs:
            return None

        def first(key):
            return np.asarray(outputs[key]).ravel()[0]

        short_side, fps = int(first("flow_short_side")), float(first("flow_fps"))
        if short_side < 0:  # not recorded by training
            return None
        method = first("flow_method")
        return FlowSettings(
            method=method.decode() if isinstance(method, bytes) else str(method),
            bound=float(first("flow_bound")),
            short_side=short_side or None,
            fps=fps or None,
        )

    def flow_channels(self):
        """`2L` when the model's `serving_default` takes `flow` (a flow or two-stream model), else 0."""
        cached = getattr(self, "_flow_channels", None)
        if cached is None:
            shape = self.signatures().get(SIGNATURES["uint8"], {}).get("flow")
            cached = int(shape[-1]) if shape and shape[-1] else 0
            self._flow_channels = cached
        return cached

    def predict(self, frames_input, fmt="jpeg"):
        """Outputs `{name: np.ndarray}` for a `clip_input(...)` batch of an RGB model.

        Raises:
            ValueError: the served model reads optical flow (a flow or two-stream model, whose
                signature needs `flow` too): use `classify_video`, which computes the flow.
        """
        _check_format(fmt)
        channels = self.flow_channels()
        if channels:
            inputs = sorted(self.signatures().get(SIGNATURES[fmt], {}))
            raise ValueError(
                f"model {self.model!r} reads optical flow ({channels} flow channels; its "
                f"'{SIGNATURES[fmt]}' signature takes {inputs}): RGB frames alone are not its input. "
                "Use classify_video (client.py), which computes the flow. Received: inputs=['frames']"
            )
        return self.predict_signature(SIGNATURES[fmt], {"frames": frames_input})[0]
