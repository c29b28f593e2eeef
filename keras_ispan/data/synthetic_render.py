"""Drawing the synthetic clips: the class and distractor shapes (anti-aliased masks), the moving cluttered
background, and `render_clip`, one clip of the appearance dataset (`keras_ispan.data.synthetic`, whose
docstring gives the design); `keras_ispan.data.synthetic_motion` draws with the same pieces."""

import functools

import numpy as np

__all__ = [
    "CLASS_SHAPES",
    "DISTRACTOR_SHAPES",
    "background",
    "bounce",
    "bright_color",
    "outline",
    "paste",
    "render_clip",
    "shape_mask",
]

CLASS_SHAPES = ("disk", "square", "triangle", "plus", "ring", "diamond", "hollow_square", "x_cross")
DISTRACTOR_SHAPES = ("h_ellipse", "v_ellipse", "dot_triad", "chevron", "bar")


def shape_field(name, x, y):
    """Boolean inside-mask of shape `name` on coordinates `x, y` in [-1, 1]."""
    r = np.hypot(x, y)
    m = np.maximum(np.abs(x), np.abs(y))
    masks = {
        "disk": lambda: r <= 0.95,
        "square": lambda: m <= 0.8,
        "triangle": lambda: (y <= 0.8) & (np.abs(x) <= 0.95 * (y + 0.9) / 1.7),
        "plus": lambda: ((np.abs(x) <= 0.3) | (np.abs(y) <= 0.3)) & (m <= 0.95),
        "ring": lambda: (r <= 0.95) & (r >= 0.55),
        "diamond": lambda: np.abs(x) + np.abs(y) <= 1.0,
        "hollow_square": lambda: (m <= 0.9) & (m >= 0.55),
        "x_cross": lambda: ((np.abs(x - y) <= 0.4) | (np.abs(x + y) <= 0.4)) & (m <= 0.9),
        "h_ellipse": lambda: (x / 0.95) ** 2 + (y / 0.35) ** 2 <= 1.0,
        "v_ellipse": lambda: (x / 0.35) ** 2 + (y / 0.95) ** 2 <= 1.0,
        "dot_triad": lambda: (
            (np.hypot(x + 0.6, y + 0.5) <= 0.3)
            | (np.hypot(x - 0.6, y + 0.5) <= 0.3)
            | (np.hypot(x, y - 0.55) <= 0.3)
        ),
        "chevron": lambda: (np.abs(y - 0.6 * np.abs(x) + 0.2) <= 0.2) & (np.abs(x) <= 0.95),
        "bar": lambda: (np.abs(x - y) <= 0.18) & (m <= 0.95),
    }
    return masks[name]()


@functools.lru_cache(maxsize=512)
def shape_mask(name, size):
    """Anti-aliased alpha `(size, size)` float32 in [0, 1] of a shape (4x supersampling)."""
    n = 4 * size
    c = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    y, x = np.meshgrid(c, c, indexing="ij")
    inside = shape_field(name, x, y).astype(np.float32)
    return inside.reshape(size, 4, size, 4).mean(axis=(1, 3))


def outline(alpha):
    """A dark rim: the mask dilated by one pixel, minus the mask."""
    p = np.pad(alpha, 1)
    dil = np.maximum.reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
    return np.clip(dil - alpha, 0.0, 1.0)


def bounce(start, velocity, t, span):
    """Positions `start + velocity t` reflected into [0, span]."""
    if span <= 0:
        return np.zeros_like(t, dtype=np.int64)
    p = np.mod(start + velocity * t, 2 * span)
    return np.round(np.where(p > span, 2 * span - p, p)).astype(np.int64)


def paste(frame, alpha, color, y, x):
    h, w = alpha.shape
    region = frame[y : y + h, x : x + w]
    a = alpha[..., None]
    region *= 1.0 - a
    region += a * np.asarray(color, np.float32)


def bright_color(rng):
    c = rng.uniform(0.0, 1.0, 3)
    c = 160 + 95 * c / max(c.max(), 1e-6)  # saturated and bright
    return c.astype(np.float32)


def background(rng, cfg):
    """A cluttered texture `(2S, 2S, 3)` float32: smooth colour field + oriented stripes."""
    from PIL import Image

    s2 = 2 * cfg.image_size
    grid = rng.uniform(0, 255, (6, 6, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(grid).resize((s2, s2), Image.BICUBIC), np.float32)
    field = 128 + cfg.clutter * (field - 128) * 0.8
    yy, xx = np.mgrid[0:s2, 0:s2].astype(np.float32)
    for _ in range(2):
        theta, freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.25)
        stripes = np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy) + rng.uniform(0, 6.3))
        field += (cfg.clutter * 25 * stripes)[..., None] * rng.uniform(-1, 1, 3)
    return field * 0.75  # darker than the actor


def render_clip(cfg, label, rng):
    """One clip uint8 `(num_frames, S, S, 3)` showing the shape of class `label` (see docstring)."""
    s, n = cfg.image_size, cfg.num_frames
    t = np.arange(n, dtype=np.float64)
    bg = background(rng, cfg)
    speed = cfg.background_speed
    by = bounce(rng.uniform(0, s), rng.uniform(-speed, speed), t, s)
    bx = bounce(rng.uniform(0, s), rng.uniform(-speed, speed), t, s)
    frames = np.stack([bg[by[i] : by[i] + s, bx[i] : bx[i] + s] for i in range(n)]).copy()
    for _ in range(cfg.num_distractors):
        size = max(2, int(round(cfg.distractor_size * rng.uniform(0.8, 1.2))))
        alpha = shape_mask(DISTRACTOR_SHAPES[rng.integers(len(DISTRACTOR_SHAPES))], size)
        color = rng.uniform(60, 200, 3)
        ys = bounce(rng.uniform(0, s - size), rng.uniform(-3, 3), t, s - size)
        xs = bounce(rng.uniform(0, s - size), rng.uniform(-3, 3), t, s - size)
        for i in range(n):
            paste(frames[i], alpha, color, ys[i], xs[i])
    size = max(4, int(round(cfg.target_size * rng.uniform(0.8, 1.2))))
    alpha = shape_mask(cfg.classes[label], size)
    rim = outline(alpha)
    visible = max(1, int(round(n * rng.uniform(*cfg.target_visible))))
    first = int(rng.integers(0, n - visible + 1))
    span = s - size - 2
    ys = bounce(rng.uniform(0, span), rng.uniform(-1.5, 1.5), t, span) + 1
    xs = bounce(rng.uniform(0, span), rng.uniform(-1.5, 1.5), t, span) + 1
    color = bright_color(rng)
    # drawn after the actor (the default, without them, draws the same numbers as before they existed)
    paste_lookalikes(frames, cfg, rng, size, color)
    for i in range(first, first + visible):
        paste(frames[i], rim, (20, 20, 20), ys[i], xs[i])
        paste(frames[i], alpha, color, ys[i], xs[i])
    if cfg.noise:
        frames += rng.normal(0.0, cfg.noise, frames.shape).astype(np.float32)
    return np.clip(np.round(frames), 0, 255).astype(np.uint8), (first, visible)


def paste_lookalikes(frames, cfg, rng, size, color):
    """`same_color_distractors` objects of distractor shapes with the actor's colour, size and rim."""
    s, t = cfg.image_size, np.arange(cfg.num_frames, dtype=np.float64)
    span = s - size - 2
    for _ in range(cfg.same_color_distractors):
        alpha = shape_mask(DISTRACTOR_SHAPES[rng.integers(len(DISTRACTOR_SHAPES))], size)
        rim = outline(alpha)
        ys = bounce(rng.uniform(0, span), rng.uniform(-1.5, 1.5), t, span) + 1
        xs = bounce(rng.uniform(0, span), rng.uniform(-1.5, 1.5), t, span) + 1
        for i in range(cfg.num_frames):
            paste(frames[i], rim, (20, 20, 20), ys[i], xs[i])
            paste(frames[i], alpha, color, ys[i], xs[i])
