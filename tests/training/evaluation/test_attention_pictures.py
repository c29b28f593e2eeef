"""Attention pictures on the video's own frames: size, the model's crop mapped back, the title band."""

import numpy as np
import pytest
from PIL import Image

from training.evaluation import attention_pictures as visualize

TOP_K = [("ApplyEyeMakeup", 0.8712), ("Archery", 0.1), ("Biking", 0.02)]


def _clip(t=4, height=240, width=320):
    return np.full((t, height, width, 3), 100, np.uint8)


def test_crop_window_is_the_centre_crop_mapped_back():
    # 320x240 -> 97x73 (short side 73 for a 64 px model), crop offsets (top 4, left 16), side 64
    scale = 240 / 73
    expected = (16 * scale, 4 * scale, 80 * scale, 68 * scale)
    np.testing.assert_allclose(visualize.crop_window(240, 320, 64, 73), expected)
    np.testing.assert_allclose(visualize.crop_window(73, 97, 64, 73), (16, 4, 80, 68))


@pytest.mark.parametrize(("height", "width", "short"), [(240, 320, 240), (120, 160, 224)])
def test_png_panels_are_readable_and_titled(tmp_path, height, width, short):
    frames, attention = _clip(4, height, width), np.ones((4, 2, 2))
    window = visualize.crop_window(height, width, 64, 73)
    title = visualize.prediction_title("clip.mp4", TOP_K)
    path = visualize.save_attention_picture(
        frames, attention, tmp_path / "a.png", title=title, window=window
    )
    with Image.open(path) as image:
        band = visualize.title_band(title, image.width).height
        assert image.height - band == short and image.width == 4 * round(width * short / height)
        assert "ApplyEyeMakeup (0.87)" in image.text["Title"] and "clip.mp4" in image.text["Title"]
        pixels = np.asarray(image.convert("RGB"))
    assert pixels[:band].min() < 100 < pixels[:band].max()  # dark text on the white band


def test_hot_cell_lands_in_the_mapped_crop_window(tmp_path):
    attention = np.zeros((3, 4, 4))
    attention[:, 0, 0] = 1.0  # the model's top-left cell
    window = visualize.crop_window(240, 320, 64, 73)
    path = visualize.save_attention_picture(
        _clip(3), attention, tmp_path / "a.gif", title=["clip.mp4"], window=window
    )
    left, top, right, bottom = window  # the panel is at the frame's size (shorter side 240)
    with Image.open(path) as image:
        assert image.n_frames == 3 and image.info["comment"] == b"clip.mp4"
        image.seek(1)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    band = pixels.shape[0] - 240
    panel = pixels[band:].sum(axis=-1)
    heat = np.where(panel >= 3 * 250, 0, panel)  # without the crop's white outline
    y, x = np.unravel_index(heat.argmax(), heat.shape)
    quarter = (right - left) / 4
    assert left - 1 <= x <= left + quarter + 1 and top - 1 <= y <= top + quarter + 1
    assert heat[round(bottom) - 5, round(right) - 5] < heat[y, x] - 100  # the far corner is dark
    assert panel[5, 5] < 3 * 60 and panel[230, 310] < 3 * 60  # outside the crop: dimmed


def test_gif_has_one_frame_per_sampled_frame_at_a_readable_size(tmp_path):
    path = visualize.save_attention_picture(
        _clip(6, 64, 64), np.ones((6, 2, 2)), tmp_path / "a.gif", title="true a | predicted b"
    )
    with Image.open(path) as image:
        assert image.n_frames == 6 and image.width == 224


def test_long_titles_wrap_or_end_with_an_ellipsis():
    long_word = "x" * 200
    band = visualize.title_band(["clip.mp4", f"top-1: {long_word} (0.50)", "a " * 80], 240)
    assert band.width == 240 and band.height > 4 * 14
    font = visualize._font(12)
    lines = visualize._fit(f"short {long_word}", font, 100)
    assert lines[0] == "short" and lines[1].endswith("...")
    assert all(font.getlength(line) <= 100 for line in lines)
