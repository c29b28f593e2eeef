"""The motion variant of the embedded synthetic dataset: classes that differ only in the order of frames.

Run: `python training/synthetic.py --variant motion --output DIR [--flow]`, or from `training/fit.py`
with `--set data.synthetic_variant=motion` (flow is added when the model needs it).

Design. The RGB ISPAN layer pools a set of local features with learned queries, so it is blind to the
order of frames (`keras_ispan/data/synthetic.py`). Here a clip of class `upward` *is* a clip of class
`downward` played backwards: one actor (a random class shape of the appearance dataset, random colour
and size, visible in every frame) crosses a cluttered static background from top to bottom, among
`num_distractors` distractors that bounce with random velocities, with per-frame pixel noise. The clip
is rendered once, and its frames are reversed for the opposite class. Distractor velocities are
symmetric, so a reversed clip is as likely as a rendered one; the *set* of frames of a clip carries no
information about its class, and any order-blind model on RGB frames is at chance. Optical flow
(`keras_ispan.io.flow`) sees the direction: the mean y-flow of the frame is positive in every
`downward` clip and negative in every `upward` one.

The motion is vertical on purpose: the pipeline's horizontal flip (TSN's augmentation) mirrors a
clip, which would turn a rightward clip into a leftward one under the same label; a vertical motion,
and a growth, keep their class under a horizontal flip.

Classes: 2 (`downward`, `upward`) or 4 (also `approaching`, `receding`: the actor grows, or shrinks,
about a fixed centre). With 4 the kind of motion (a crossing or a growth) is visible in the set of
frames, so an order-blind RGB model can reach 1/2 against a chance of 1/4, and the growth shows in
the flow only at the actor's edges (a subtler signal than the crossing's); only 2 classes give the
clean "RGB at chance" contrast. Clips are deterministic given `seed` (one generator per clip, seeded
by `(seed, split, index)`).
"""

import dataclasses
import hashlib
import json
import pathlib
import time

import numpy as np

from keras_ispan.data import records, shard_index
from keras_ispan.data import synthetic as appearance
from keras_ispan.data import synthetic_render as render

MOTION_CLASSES = ("downward", "upward", "approaching", "receding")


@dataclasses.dataclass(frozen=True)
class MotionConfig:
    """Size and difficulty of the motion dataset (sizes in pixels at `image_size`).

    Attributes:
        num_classes: 2 (`downward`, `upward`) or 4 (also `approaching`, `receding`).
        train, val, test: clips per split (balanced classes; val may be 0).
        num_frames, image_size: frames per clip and their square side.
        target_size: mean side of the actor (+-20 %).
        travel: (min, max) share of the free span the actor crosses during the clip (and, for a
            growth, of its size change).
        num_distractors, distractor_size: bouncing distractors and their mean side.
        noise: standard deviation of the per-frame pixel noise; clutter: background contrast (0-1).
        seed, fps, jpeg_quality, clips_per_shard: generation and storage.
    """

    num_classes: int = 2
    train: int = 240
    val: int = 60
    test: int = 60
    num_frames: int = 16
    image_size: int = 64
    target_size: int = 14
    travel: tuple = (0.5, 0.9)
    num_distractors: int = 2
    distractor_size: int = 9
    noise: float = 6.0
    clutter: float = 0.6
    seed: int = 0
    fps: float = 8.0
    jpeg_quality: int = 90
    clips_per_shard: int = 100

    # sizes that `synthetic.scaled_config` scales to `image_size` when not given: {field: smallest}
    SCALED_SIZES = {"target_size": 4, "distractor_size": 3}

    def __post_init__(self):
        object.__setattr__(self, "travel", tuple(float(v) for v in self.travel))
        if self.num_classes not in (2, 4):
            raise ValueError(
                f"The motion dataset has 2 or 4 classes. Received: num_classes={self.num_classes}"
            )
        appearance.check_clip_counts(self)
        if self.num_frames < 2:
            raise ValueError(
                f"Motion needs 2 frames or more. Received: num_frames={self.num_frames}"
            )
        lo, hi = self.travel
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"`travel` must be 0 < min <= max <= 1. Received: travel={lo, hi}")
        appearance.check_object_sizes(self)

    def to_json(self):
        return dataclasses.asdict(self) | {"travel": list(self.travel), "variant": "motion"}

    def fingerprint(self):
        text = json.dumps(self.to_json() | {"format": records.FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def classes(self):
        return MOTION_CLASSES[: self.num_classes]


def render_motion_clip(cfg, label, rng):
    """One clip uint8 `(num_frames, S, S, 3)` of class `label` (see the module docstring)."""
    s, n = cfg.image_size, cfg.num_frames
    t = np.arange(n, dtype=np.float64)
    frames = np.repeat(render.background(rng, cfg)[None, :s, :s], n, axis=0)
    for _ in range(cfg.num_distractors):
        size = max(2, int(round(cfg.distractor_size * rng.uniform(0.8, 1.2))))
        name = render.DISTRACTOR_SHAPES[rng.integers(len(render.DISTRACTOR_SHAPES))]
        alpha, color = render.shape_mask(name, size), rng.uniform(60, 200, 3)
        ys = render.bounce(rng.uniform(0, s - size), rng.uniform(-2, 2), t, s - size)
        xs = render.bounce(rng.uniform(0, s - size), rng.uniform(-2, 2), t, s - size)
        for i in range(n):
            render.paste(frames[i], alpha, color, ys[i], xs[i])
    shape = render.CLASS_SHAPES[rng.integers(len(render.CLASS_SHAPES))]
    color = render.bright_color(rng)
    if label < 2:  # downward (upward: reversed): a vertical crossing at a fixed size
        size = max(4, int(round(cfg.target_size * rng.uniform(0.8, 1.2))))
        span = s - size - 2
        distance = rng.uniform(*cfg.travel) * span
        ys = np.round(rng.uniform(0, span - distance) + distance * t / (n - 1)).astype(int) + 1
        xs = np.full(n, int(rng.uniform(0, span)) + 1)
        sizes = np.full(n, size)
    else:  # approaching (receding: reversed): growing about a fixed centre
        big = max(5, int(round(cfg.target_size * rng.uniform(1.3, 1.6))))
        small = max(4, int(round(big * (1 - rng.uniform(*cfg.travel) * 0.6))))
        sizes = np.round(small + (big - small) * t / (n - 1)).astype(int)
        cy, cx = (rng.uniform(big / 2 + 1, s - big / 2 - 1) for _ in range(2))
        ys = np.round(cy - sizes / 2).astype(int)
        xs = np.round(cx - sizes / 2).astype(int)
    for i in range(n):
        alpha = render.shape_mask(shape, int(sizes[i]))
        render.paste(frames[i], render.outline(alpha), (20, 20, 20), ys[i], xs[i])
        render.paste(frames[i], alpha, color, ys[i], xs[i])
    if cfg.noise:
        frames += rng.normal(0.0, cfg.noise, frames.shape).astype(np.float32)
    frames = np.clip(np.round(frames), 0, 255).astype(np.uint8)
    return frames[::-1].copy() if label % 2 else frames  # upward, receding: played backwards


def default_motion_dir(config=None):
    """`$KERAS_ISPAN_HOME/datasets/synthetic-motion-<fingerprint>`."""
    config = config or MotionConfig()
    return appearance.default_synthetic_dir().parent / f"synthetic-motion-{config.fingerprint()}"


def generate_motion_dataset(output_dir=None, config=None, *, log=print, overwrite=True):
    """Writes the motion dataset in the standard format (no flow: `add_flow.add_flow_to_dataset`
    adds it) and returns its folder; a folder made with the same config is reused as is, one made
    with another config replaced (with `overwrite`, the default) or refused.

    Raises a `ValueError` for a non-empty folder that is not a synthetic dataset, or (without
    `overwrite`) one made with another config.
    """
    config = config or MotionConfig()
    if not isinstance(config, MotionConfig):
        raise ValueError(f"`config` must be a MotionConfig. Received: config={config!r}")
    output_dir = pathlib.Path(output_dir) if output_dir else default_motion_dir(config)
    log = log or (lambda line: None)
    if appearance._is_complete(output_dir, config):
        log(f"[synthetic] reusing {output_dir} (same config)")
        return output_dir
    appearance._check_output(output_dir, log, config, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    for old in [*output_dir.glob("*.tfrecord"), *output_dir.glob("*.index")]:
        old.unlink()
    start, splits = time.time(), {}
    progress = appearance._ProgressLog(config.train + config.val + config.test, log)
    for split in ("train", "val", "test"):
        labels = appearance.split_labels(config, split)
        if len(labels):
            splits[split] = _write_split(config, split, labels, output_dir, progress)
    shard_index.ensure_indexes(output_dir)
    records.write_dataset_metadata(
        output_dir, config.classes, False, splits, created_by="training/synthetic.py --variant motion",
        synthetic_config=config.to_json(),
    )  # fmt: skip
    log(f"[synthetic] wrote {progress.total} clips to {output_dir} in {time.time() - start:.1f} s")
    return output_dir


def _write_split(config, split, labels, output_dir, progress):
    def render(label, index, video_id):
        return render_motion_clip(config, label, appearance.clip_rng(config, split, index))

    return appearance.write_split_shards(config, split, labels, output_dir, progress, render)
