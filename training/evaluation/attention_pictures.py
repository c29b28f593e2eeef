"""Attention pictures: the saliency map `(T, h, w)` overlaid on the sampled frames `(T, H, W, 3)`, one panel
per frame, as a PNG strip (grid) or an animated GIF."""

from __future__ import annotations

import math
import pathlib

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["overlay_attention", "save_attention_picture"]


def _colormap(values: np.ndarray) -> np.ndarray:
    """`(...,)` values in [0, 1] -> `(..., 3)` uint8 RGB ('inferno')."""
    import matplotlib

    cmap = matplotlib.colormaps["inferno"]
    return (cmap(np.clip(values, 0.0, 1.0))[..., :3] * 255).astype(np.uint8)


def overlay_attention(frames, attention, alpha: float = 0.5) -> np.ndarray:
    """Blends each frame with its attention map, upsampled to the frame size.

    Args:
        frames: uint8 `(T, H, W, 3)`.
        attention: `(T, h, w)` non-negative saliency (the clip's maps sum to 1); normalised by the clip's
            maximum, so frames compare with each other.
        alpha: weight of the heat map.

    Returns:
        uint8 `(T, H, W, 3)`.
    """
    frames = np.asarray(frames)
    attention = np.asarray(attention, dtype=np.float64)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3). Received: frames.shape={frames.shape}")
    if attention.ndim != 3 or attention.shape[0] != frames.shape[0]:
        raise ValueError(
            "attention must be (T, h, w) with the frames' T. "
            f"Received: attention.shape={attention.shape}, frames.shape={frames.shape}"
        )
    peak = attention.max()
    normalised = attention / peak if peak > 0 else attention
    height, width = frames.shape[1:3]
    out = np.empty_like(frames, dtype=np.uint8)
    for t in range(frames.shape[0]):
        heat = Image.fromarray((normalised[t] * 255).astype(np.uint8)).resize(
            (width, height), Image.BILINEAR
        )
        colour = _colormap(np.asarray(heat, dtype=np.float64) / 255.0).astype(np.float64)
        out[t] = np.clip((1 - alpha) * frames[t].astype(np.float64) + alpha * colour, 0, 255)
    return out


def _caption(image: Image.Image, text: str) -> Image.Image:
    if not text:
        return image
    strip = 14
    canvas = Image.new("RGB", (image.width, image.height + strip), (255, 255, 255))
    canvas.paste(image, (0, strip))
    ImageDraw.Draw(canvas).text((2, 1), text, fill=(0, 0, 0))
    return canvas


def save_attention_picture(
    frames,
    attention,
    path,
    *,
    title: str = "",
    panel_size: int | None = None,
    columns: int | None = None,
) -> pathlib.Path:
    """Writes the attention overlay: `.png` -> a grid of T panels; `.gif` -> T animation frames.

    Args:
        frames: uint8 `(T, H, W, 3)` sampled frames.
        attention: `(T, h, w)` saliency.
        path: output `.png` or `.gif` (written atomically).
        title: caption above the grid (PNG) or each GIF frame.
        panel_size: resize each panel to this side (keeps the frame size when None).
        columns: panels per row of the PNG grid (default: up to 8).

    Returns:
        The path written.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() not in (".png", ".gif"):
        raise ValueError(
            f"The attention picture must be a .png or .gif file. Received: path={path}"
        )
    panels = [Image.fromarray(p) for p in overlay_attention(frames, attention)]
    if panel_size:
        panels = [p.resize((panel_size, panel_size), Image.BILINEAR) for p in panels]
    from keras_ispan.io.atomic import atomic_path  # here: importing `keras_ispan` loads Keras

    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".gif":
            images = [
                _caption(p, f"{title}  frame {i + 1}/{len(panels)}".strip())
                for i, p in enumerate(panels)
            ]
            images[0].save(
                tmp, format="GIF", save_all=True, append_images=images[1:], duration=400, loop=0
            )
        else:
            count = len(panels)
            columns = columns or min(count, 8)
            rows = math.ceil(count / columns)
            width, height = panels[0].size
            grid = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
            for i, panel in enumerate(panels):
                grid.paste(panel, ((i % columns) * width, (i // columns) * height))
            _caption(grid, title).save(tmp, format="PNG")
    return path
