"""Attention pictures: the saliency map `(T, h, w)` overlaid on the sampled frames `(T, H, W, 3)`, one panel
per frame, as a PNG strip (grid) or an animated GIF, under a title band (video, prediction).

Drawn on the video's own frames (`Prediction.source_frames`), the map covers the model's centre crop
(`crop_window`), the rest of the frame is dimmed and the crop outlined; panels are scaled so their shorter
side is 224 to 360 px. The run folder's picture has only the model's crops: the same, without dimming."""

from __future__ import annotations

import math
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "crop_window",
    "overlay_attention",
    "prediction_title",
    "save_attention_picture",
    "title_band",
]


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


def crop_window(height: int, width: int, image_size: int, short_side: int) -> tuple:
    """The model's centre crop mapped back to a `height x width` source frame: `(left, top, right, bottom)`.

    The evaluation transform (`keras_ispan.io.transform.ClipTransform`) resizes the shorter side to
    `short_side` (the longer side rounded) and crops the centre `image_size` square at integer offsets;
    this undoes the resize, so the window is the centre `image_size / short_side` of the shorter side.

    Example:
    >>> [round(v, 1) for v in crop_window(240, 320, 64, 73)]
    [52.6, 13.2, 263.0, 223.6]
    """
    short = min(height, width)
    scale = short_side / short
    new_h = short_side if height == short else int(round(height * scale))
    new_w = short_side if width == short else int(round(width * scale))
    top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
    return (left / scale, top / scale, (left + image_size) / scale, (top + image_size) / scale)


def _font(size: int):
    """Pillow's scalable default font (Pillow >= 10.1) at `size` px, else its small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def _fit(text: str, font, width: float) -> list[str]:
    """`text` wrapped at spaces to lines at most `width` px wide; a word too long ends with an ellipsis."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            candidate = word
        line = candidate
    lines.append(line)
    return [_ellipsis(item, font, width) for item in lines]


def _ellipsis(text: str, font, width: float) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def title_band(lines, width: int, max_lines: int = 5) -> Image.Image:
    """A white band `width` px wide with `lines` (str or list of str) wrapped in black, readable size."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    size = int(np.clip(width // 20, 11, 18))
    font, margin = _font(size), max(4, size // 3)
    wrapped = [part for line in lines if line for part in _fit(line, font, width - 2 * margin)]
    if len(wrapped) > max_lines:
        wrapped = wrapped[: max_lines - 1] + [
            _ellipsis(wrapped[max_lines - 1] + " ...", font, width)
        ]
    step = int(size * 1.3)
    band = Image.new("RGB", (width, 2 * margin + step * len(wrapped)), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for i, line in enumerate(wrapped):
        draw.text((margin, margin + i * step), line, fill=(0, 0, 0), font=font)
    return band


def prediction_title(name: str, top_k, k: int = 3) -> list[str]:
    """Title lines: `name`, the top-1 class and score, the top-`k` (when there are several)."""
    lines = [str(name)]
    if top_k:
        best, score = top_k[0]
        lines.append(f"top-1: {best} ({score:.2f})")
    if len(top_k) > 1:
        lines.append(
            f"top-{min(k, len(top_k))}: " + ", ".join(f"{c} {s:.2f}" for c, s in top_k[:k])
        )
    return lines


def source_panels(frames, attention, window=None, *, min_side=224, max_side=360, dim=0.45):
    """Panels: `frames` scaled so the shorter side is in `[min_side, max_side]`, the attention over
    `window` (`(left, top, right, bottom)` in frame pixels, `crop_window`; None: the whole frame), the
    rest dimmed by `dim` and the window outlined."""
    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    short = min(height, width)
    zoom = min(max(short, min_side), max_side) / short
    size = (max(1, round(width * zoom)), max(1, round(height * zoom)))
    window = window or (0, 0, width, height)
    left, top, right, bottom = (int(round(v * zoom)) for v in window)
    left, top, right, bottom = max(left, 0), max(top, 0), min(right, size[0]), min(bottom, size[1])
    scaled = np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames])
    out = (scaled.astype(np.float64) * dim).astype(np.uint8)
    out[:, top:bottom, left:right] = overlay_attention(scaled[:, top:bottom, left:right], attention)
    panels = [Image.fromarray(panel) for panel in out]
    if (left, top, right, bottom) != (0, 0, size[0], size[1]):
        for panel in panels:
            box = (left, top, right - 1, bottom - 1)
            ImageDraw.Draw(panel).rectangle(box, outline=(255, 255, 255), width=2)
    return panels


def _with_band(image: Image.Image, lines) -> Image.Image:
    band = title_band(lines, image.width)
    canvas = Image.new("RGB", (image.width, band.height + image.height), (255, 255, 255))
    canvas.paste(band, (0, 0))
    canvas.paste(image, (0, band.height))
    return canvas


def save_attention_picture(
    frames,
    attention,
    path,
    *,
    title="",
    panel_size: int | None = None,
    columns: int | None = None,
    window=None,
) -> pathlib.Path:
    """Writes the attention overlay: `.png` -> a grid of T panels; `.gif` -> T animation frames.

    Args:
        frames: uint8 `(T, H, W, 3)`: the video's sampled frames (with `window`) or the model's crops.
        attention: `(T, h, w)` saliency.
        path: output `.png` or `.gif` (written atomically).
        title: a line or a list of lines for the band above the grid (PNG) or each GIF frame (which
            also says `frame i/T`); wrapped, never cut mid-glyph; stored as the PNG's `Title` text /
            the GIF's comment.
        panel_size: resize each panel to this square side; None: shorter side 224 to 360 px.
        columns: panels per row of the PNG grid (default: up to 8).
        window: the model's crop in `frames` pixels (`crop_window`): attention there, the rest dimmed.

    Returns:
        The path written.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() not in (".png", ".gif"):
        raise ValueError(
            f"The attention picture must be a .png or .gif file. Received: path={path}"
        )
    if panel_size:
        panels = [Image.fromarray(p) for p in overlay_attention(frames, attention)]
        panels = [p.resize((panel_size, panel_size), Image.BILINEAR) for p in panels]
    else:
        panels = source_panels(frames, attention, window)
    lines = [title] if isinstance(title, str) else list(title)
    lines = [line for line in lines if line]
    from keras_ispan.io.atomic import atomic_path  # here: importing `keras_ispan` loads Keras

    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".gif":
            _save_gif(panels, lines, tmp)
        else:
            _save_png(panels, lines, tmp, columns)
    return path


def _save_gif(panels, lines, tmp) -> None:
    count = len(panels)
    images = [_with_band(p, [*lines, f"frame {i + 1}/{count}"]) for i, p in enumerate(panels)]
    images[0].save(
        tmp, format="GIF", save_all=True, append_images=images[1:], duration=400, loop=0,
        comment=" | ".join(lines),
    )  # fmt: skip


def _save_png(panels, lines, tmp, columns) -> None:
    from PIL.PngImagePlugin import PngInfo

    count = len(panels)
    columns = columns or min(count, 8)
    rows = math.ceil(count / columns)
    width, height = panels[0].size
    grid = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
    for i, panel in enumerate(panels):
        grid.paste(panel, ((i % columns) * width, (i // columns) * height))
    info = PngInfo()
    info.add_text("Title", " | ".join(lines))
    (_with_band(grid, lines) if lines else grid).save(tmp, format="PNG", pnginfo=info)
