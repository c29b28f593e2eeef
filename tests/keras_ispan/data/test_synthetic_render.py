"""`keras_ispan.data.synthetic_render`: one clip drawn deterministically, the actor only in its window."""

import numpy as np

from keras_ispan.data.synthetic import SyntheticConfig, clip_rng
from keras_ispan.data.synthetic_render import render_clip
from tests.keras_ispan.data.test_synthetic_dataset import TINY


def test_render_is_deterministic_and_actor_only_in_its_window():
    cfg = SyntheticConfig(**TINY | dict(noise=0.0))
    a, (first, visible) = render_clip(cfg, 1, clip_rng(cfg, "train", 0))
    b, _ = render_clip(cfg, 1, clip_rng(cfg, "train", 0))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.uint8
    lo, hi = cfg.target_visible
    assert round(6 * lo) <= visible <= round(6 * hi) and 0 <= first <= 6 - visible
    # the actor is the only object brighter than 160 on all channels' max (distractors <= 200 mean,
    # background darkened): frames outside the window have fewer very bright pixels
    bright = (a.max(axis=-1) > 205).sum(axis=(1, 2))
    shown = np.zeros(6, bool)
    shown[first : first + visible] = True
    assert bright[shown].min() > bright[~shown].max()
