"""The evaluation and serving transform, as data: what every inference path applies to decoded frames.

One transform turns decoded RGB frames of any size into the model's input `(frames, S, S, 3)`:

1. resize so that the shorter side is `short_side = round(S * resize_ratio)` pixels (aspect ratio kept,
   the longer side rounded to the nearest pixel), bilinear with antialiasing (a triangle filter whose
   support grows with the reduction, as `tf.image.resize(..., antialias=True)` and Pillow's
   `Image.resize(..., Image.BILINEAR)`); frames whose shorter side already is `short_side` are left
   untouched;
2. crop the centre `S x S` window, at offsets `((H' - S) // 2, (W' - S) // 2)`;
3. round to uint8 (normalisation belongs to the model's `PixelPreprocessing`).

`S` is the model's input side and `resize_ratio` is recorded in the model (`PixelPreprocessing`) and in
an exported SavedModel (`assets.extra/keras_ispan.json`), so `training/evaluate.py`, `training/predict.py`,
`serving/client.py` and the exported signatures apply the same numbers without flags. The TensorFlow
implementation is `keras_ispan.io.frames_tf.eval_resize_and_crop`; this module has no TensorFlow import.

Where a path must differ: a prepared dataset stores frames as JPEGs already resized (by PyAV, area
interpolation) to the dataset's short side, so evaluation on a dataset sees the transform of a lossy,
pre-resized copy of the video. `tests/journey/test_transform_paths.py` measures that difference.
"""

from __future__ import annotations

import dataclasses

DEFAULT_RESIZE_RATIO = 256 / 224  # TSN: 224 crops from frames whose shorter side is 256


def short_side_for(image_size: int, resize_ratio: float = DEFAULT_RESIZE_RATIO) -> int:
    """The shorter side, in pixels, that frames are resized to before the centre crop.

    Example:
    >>> short_side_for(224), short_side_for(64), short_side_for(112)
    (256, 73, 128)
    """
    return int(round(image_size * resize_ratio))


@dataclasses.dataclass(frozen=True)
class ClipTransform:
    """The evaluation transform of a model: short-side resize to `short_side`, centre crop `S x S`.

    Args:
        image_size: `S`, the side of the model's square input frames, in pixels (>= 1).
        resize_ratio: the shorter side before the crop divided by `S` (>= 1; TSN: 256 / 224).

    Raises:
        ValueError: `image_size` not a positive integer, or `resize_ratio` below 1.

    Example:
    >>> ClipTransform(64).short_side
    73
    >>> ClipTransform.from_dict(ClipTransform(112, 1.25).to_dict())
    ClipTransform(image_size=112, resize_ratio=1.25)
    """

    image_size: int
    resize_ratio: float = DEFAULT_RESIZE_RATIO

    def __post_init__(self):
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
            raise ValueError(
                f"`image_size` must be a positive integer. Received: image_size={self.image_size!r}"
            )
        if self.image_size < 1:
            raise ValueError(
                f"`image_size` must be a positive integer. Received: image_size={self.image_size!r}"
            )
        if not float(self.resize_ratio) >= 1.0:
            raise ValueError(
                f"`resize_ratio` must be >= 1. Received: resize_ratio={self.resize_ratio!r}"
            )
        object.__setattr__(self, "resize_ratio", float(self.resize_ratio))

    @property
    def short_side(self) -> int:
        """The shorter side, in pixels, after step 1."""
        return short_side_for(self.image_size, self.resize_ratio)

    def to_dict(self) -> dict:
        """A JSON-friendly record: `image_size`, `resize_ratio`, `short_side`, `interpolation`."""
        return {
            "image_size": self.image_size,
            "resize_ratio": self.resize_ratio,
            "short_side": self.short_side,
            "interpolation": "bilinear_antialias",
            "crop": "center",
        }

    @classmethod
    def from_dict(cls, record: dict) -> ClipTransform:
        """The transform written by `to_dict` (extra keys are ignored)."""
        return cls(int(record["image_size"]), float(record["resize_ratio"]))


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    """How a flow model's training flow was computed from its videos, so that inference computes the
    same flow (`keras_ispan.io.flow_clip.read_two_stream_clip`).

    Flow values are pixels per frame step, so they depend on the frame size and the frame rate the
    flow was computed at: conversion (`prepare.py --flow`) decodes each video with
    `decode_video(short_side=..., fps=...)` and computes flow between consecutive stored frames.
    A model records these settings of its training data (`FlowPreprocessing(flow_settings=...)`,
    `keras_ispan.json` of an export), and `training/predict.py` and `serving/client.py` decode with
    them before computing flow.

    Args:
        method: `keras_ispan.io.flow.compute_flow`'s method (`"farneback"` or `"tvl1"`).
        bound: the quantisation bound, pixels per frame step (`keras_ispan.io.flow.FLOW_BOUND`).
        short_side: the frames' shorter side in pixels when their flow was computed; None: the
            videos' own size (the embedded dataset, written at its size).
        fps: the frame rate the frames were subsampled to (`prepare.py --fps`); None: every frame.

    Raises:
        ValueError: a field of the wrong type or range, naming it.

    Example:
    >>> FlowSettings.from_dict(FlowSettings(short_side=128, fps=10.0).to_dict())
    FlowSettings(method='farneback', bound=20.0, short_side=128, fps=10.0)
    """

    method: str = "farneback"
    bound: float = 20.0
    short_side: int | None = None
    fps: float | None = None

    def __post_init__(self):
        if self.method not in ("farneback", "tvl1"):
            raise ValueError(
                f"`method` must be 'farneback' or 'tvl1'. Received: method={self.method!r}"
            )
        if (
            isinstance(self.bound, bool)
            or not isinstance(self.bound, int | float)
            or self.bound <= 0
        ):
            raise ValueError(f"`bound` must be a positive number. Received: bound={self.bound!r}")
        side = self.short_side
        if side is not None and (isinstance(side, bool) or not isinstance(side, int) or side < 1):
            raise ValueError(
                f"`short_side` must be a positive int or None. Received: short_side={side!r}"
            )
        fps = self.fps
        if fps is not None and (
            isinstance(fps, bool) or not isinstance(fps, int | float) or fps <= 0
        ):
            raise ValueError(f"`fps` must be a positive number or None. Received: fps={fps!r}")
        object.__setattr__(self, "bound", float(self.bound))
        object.__setattr__(self, "fps", None if fps is None else float(fps))

    def to_dict(self) -> dict:
        """A JSON-friendly record of the four fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> FlowSettings:
        """The settings written by `to_dict` (missing keys take the defaults; extra keys ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in fields})

    @classmethod
    def from_dataset_metadata(cls, metadata: dict) -> FlowSettings:
        """The settings of a dataset's flow from its `metadata.json`: `flow.method` and `flow.bound`,
        and the conversion's `settings.short_side` and `settings.fps` (None when the dataset was not
        made by `prepare.py`: the embedded dataset stores its frames at their own size and rate)."""
        flow = metadata.get("flow") or {}
        settings = metadata.get("settings") or {}
        return cls(
            method=flow.get("method", "farneback"),
            bound=float(flow.get("bound", 20.0)),
            short_side=settings.get("short_side"),
            fps=settings.get("fps"),
        )
