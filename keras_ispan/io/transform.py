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
