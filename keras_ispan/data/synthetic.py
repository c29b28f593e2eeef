"""An embedded, procedural action dataset built around what an RGB ISPAN model can see.

Run: `python training/synthetic.py --output DIR` (default config: 6 classes, 300 train / 60 val / 90
test clips of 16 frames of 112x112, about 15 s on one busy core). `training/fit.py` calls
`generate_synthetic_dataset()` when no data is given.

Design. ISPAN (like TSN) pools a set of local features and is blind to frame order, so classes that differ
only in temporal order (clockwise against anticlockwise) are not separable without a motion stream. Here
the class is the *appearance* of a small actor:
- the actor: one shape per class (disk, square, triangle, plus, ring, diamond, hollow square, X), a
  random bright colour, a random size around `target_size`, a dark outline; it appears at a random place,
  drifts with a random velocity, and is visible only in one contiguous window covering a random fraction
  `target_visible` of the frames (so some sampled frames do not show it);
- distractors: `num_distractors` smaller objects of a *distinct* set of shapes (ellipses, a dot triad,
  a chevron, a thin bar), random colours, moving (bouncing) through all frames;
- same-coloured distractors (`same_color_distractors`, 0 by default): objects of the distractor shapes
  with the actor's colour, size and dark outline, visible in every frame, so neither colour nor
  brightness nor size tells the actor apart: only its shape does;
- the background: cluttered and moving: a smooth random colour field with oriented stripes, panned by
  a random velocity of up to `background_speed` pixels per frame, plus per-frame pixel noise.

Difficulty. `DIFFICULTIES` names sets of the difficulty fields (actor size, distractors, same-coloured
distractors, background motion, visible fraction, clutter, noise) given at 112 px (`difficulty_fields`
scales the actor's size to another frame side): `"default"` is the dataset the README's figures
were measured on, `"hard"` a small actor among same-coloured distractors on a fast background, visible
in a fifth to two fifths of the frames (the kind of data on which training once collapsed at inference,
issue 17). The new fields at their defaults draw no random numbers, so the default data is
byte-identical to the data generated before they existed (and keeps its fingerprint).

Why each class is separable: the class shape is the only thing that differs between classes; colour,
position, size, motion, visibility window, distractors and background are drawn from the same
distributions for every class. Distractors never take a class shape, and the actor is larger and brighter
than they are, so a model that finds the salient object in the frames where it is visible and reads its
shape is right; the frames and places without the actor carry no class information, so averaging all
positions of all frames (a TSN average head) dilutes the signal, which attention can recover. Nothing
depends on the order of the frames: reversing or shuffling a clip keeps its class. Clips are
deterministic given `seed` (each clip has its own generator, seeded by `(seed, split, index)`).
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import time

import numpy as np

from keras_ispan.data import records, shard_index
from keras_ispan.data.synthetic_render import (  # noqa: F401 (the drawing's public names, re-exported)
    CLASS_SHAPES,
    DISTRACTOR_SHAPES,
    render_clip,
    shape_mask,
)

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

# Named difficulty settings at 112 px: `SyntheticConfig` fields (see `difficulty_fields`).
DIFFICULTIES = {
    "default": {
        "target_size": 22, "target_visible": (0.3, 0.6), "num_distractors": 4,
        "same_color_distractors": 0, "background_speed": 2.0, "clutter": 0.6, "noise": 8.0,
    },
    "hard": {
        "target_size": 14, "target_visible": (0.2, 0.4), "num_distractors": 4,
        "same_color_distractors": 3, "background_speed": 4.0, "clutter": 0.8, "noise": 10.0,
    },
}  # fmt: skip


def difficulty_fields(name, image_size=112):
    """The `SyntheticConfig` fields of difficulty `name` for frames of side `image_size`.

    The actor's size is scaled from 112 px (as `distractor_size` is by `training/`); counts, fractions,
    contrasts and the background speed (pixels per frame at any side, as before it was a field) are not.

    Raises:
        ValueError: an unknown `name`, listing the known ones.
    """
    if name not in DIFFICULTIES:
        raise ValueError(
            f"Unknown synthetic difficulty. Known: {sorted(DIFFICULTIES)}. Received: difficulty={name!r}"
        )
    scale = image_size / 112
    fields = dict(DIFFICULTIES[name])
    fields["target_size"] = max(4, round(fields["target_size"] * scale))
    return fields


def scaled_config(config_class, given, difficulty=None):
    """`config_class(**fields)` with the sizes a user did not give scaled to the `image_size` they gave.

    Args:
        config_class: `SyntheticConfig` or `synthetic_motion.MotionConfig` (or a subclass).
        given: `{field: value}`; a field absent or `None` is not given.
        difficulty: a name of `DIFFICULTIES` (appearance only): its fields not given are taken, the
            actor's size scaled by `difficulty_fields`; None: the class defaults.

    The sizes of `config_class.SCALED_SIZES` not given are the class defaults scaled from the class's
    `image_size` (`{field: smallest}`). `training/fit.py` (the `data.synthetic_*` keys) and
    `training/synthetic.py` both build their config here.

    Raises:
        ValueError: the config's own checks (e.g. a `target_size` given over `image_size / 2`).
    """
    values = {name: value for name, value in given.items() if value is not None}
    image_size = values.get("image_size", config_class.image_size)
    if difficulty is not None:
        for name, value in difficulty_fields(difficulty, image_size).items():
            values.setdefault(name, value)
    scale = image_size / config_class.image_size
    for name, smallest in config_class.SCALED_SIZES.items():
        values.setdefault(name, max(smallest, round(getattr(config_class, name) * scale)))
    return config_class(**values)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Size and difficulty of the synthetic dataset (sizes in pixels at `image_size`).

    Attributes:
        num_classes: 2 to 8 classes (the first `num_classes` of `CLASS_SHAPES`).
        train, val, test: clips per split (balanced classes; val may be 0).
        num_frames, image_size: frames per clip and their square side.
        target_size: mean side of the actor; sizes vary by +-20 %.
        target_visible: (min, max) fraction of the frames in which the actor is visible.
        num_distractors: moving distractor objects per clip; distractor_size: their mean side.
        noise: standard deviation of the per-frame pixel noise; clutter: background contrast (0-1).
        seed, fps, jpeg_quality, clips_per_shard: generation and storage.
        same_color_distractors: objects of the distractor shapes drawn with the actor's colour,
            size and outline, visible in every frame (0: none, the default).
        background_speed: the background pans by up to this many pixels per frame on each axis
            (default 2.0).

    The last two, at their defaults, are left out of `to_json` (and the fingerprint), so a dataset
    generated before they existed is still recognised and reused; the clips are byte-identical.
    """

    num_classes: int = 6
    train: int = 300
    val: int = 60
    test: int = 90
    num_frames: int = 16
    image_size: int = 112
    target_size: int = 22
    target_visible: tuple = (0.3, 0.6)
    num_distractors: int = 4
    distractor_size: int = 15
    noise: float = 8.0
    clutter: float = 0.6
    seed: int = 0
    fps: float = 8.0
    jpeg_quality: int = 90
    clips_per_shard: int = 100
    same_color_distractors: int = 0
    background_speed: float = 2.0

    # sizes that `scaled_config` scales to `image_size` when not given: {field: smallest}
    SCALED_SIZES = {"distractor_size": 3}

    def __post_init__(self):
        object.__setattr__(self, "target_visible", tuple(float(v) for v in self.target_visible))
        if not 2 <= self.num_classes <= len(CLASS_SHAPES):
            raise ValueError(
                f"`num_classes` must be in [2, {len(CLASS_SHAPES)}]. "
                f"Received: num_classes={self.num_classes}"
            )
        check_clip_counts(self)
        lo, hi = self.target_visible
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(
                f"`target_visible` must be 0 < min <= max <= 1. Received: target_visible={lo, hi}"
            )
        check_object_sizes(self)
        if not isinstance(self.same_color_distractors, int) or self.same_color_distractors < 0:
            raise ValueError(
                "`same_color_distractors` must be an integer >= 0. "
                f"Received: same_color_distractors={self.same_color_distractors!r}"
            )
        if not 0 <= self.background_speed <= self.image_size:
            raise ValueError(
                "`background_speed` must be in [0, image_size] pixels per frame. "
                f"Received: background_speed={self.background_speed!r}"
            )

    def to_json(self):
        values = dataclasses.asdict(self) | {"target_visible": list(self.target_visible)}
        for name in ("same_color_distractors", "background_speed"):  # added later: see above
            if values[name] == getattr(SyntheticConfig, name):
                del values[name]
        return values

    def fingerprint(self):
        """Names the cached copy: the settings and the record format version."""
        text = json.dumps(self.to_json() | {"format": records.FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def classes(self):
        return CLASS_SHAPES[: self.num_classes]


def check_clip_counts(cfg):
    """Checks the counts both synthetic configs share (`train`, `test`, `num_frames`, `image_size`,
    `clips_per_shard` positive integers, `val` >= 0); a `ValueError` names the field and value."""
    for name in ("train", "test", "num_frames", "image_size", "clips_per_shard"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if not isinstance(cfg.val, int) or cfg.val < 0:
        raise ValueError(f"`val` must be an integer >= 0. Received: val={cfg.val!r}")


def check_object_sizes(cfg):
    """Checks the actor, the distractors, the noise and the clutter both synthetic configs share."""
    for name, smallest in (("target_size", 4), ("distractor_size", 2)):
        if not smallest <= getattr(cfg, name) <= cfg.image_size // 2:
            raise ValueError(
                f"`{name}` must be in [{smallest}, image_size / 2]. "
                f"Received: {name}={getattr(cfg, name)}, image_size={cfg.image_size}"
            )
    if cfg.num_distractors < 0 or cfg.noise < 0 or not 0 <= cfg.clutter <= 1:
        raise ValueError(
            "`num_distractors` and `noise` must be >= 0 and `clutter` in [0, 1]. Received: "
            f"num_distractors={cfg.num_distractors}, noise={cfg.noise}, clutter={cfg.clutter}"
        )


def split_labels(cfg, split):
    """Balanced labels of a split, shuffled deterministically, `(count,)` int."""
    count = getattr(cfg, split)
    rng = np.random.default_rng([cfg.seed, SPLIT_IDS[split], 7919])
    return rng.permutation(np.arange(count) % cfg.num_classes)


def clip_rng(cfg, split, index):
    return np.random.default_rng([cfg.seed, SPLIT_IDS[split], int(index)])


def default_synthetic_dir(config=None):
    """`$KERAS_ISPAN_HOME/datasets/synthetic-<fingerprint>` (default home `~/.keras_ispan`)."""
    config = config or SyntheticConfig()
    home = pathlib.Path(os.environ.get("KERAS_ISPAN_HOME", "~/.keras_ispan")).expanduser()
    return home / "datasets" / f"synthetic-{config.fingerprint()}"


def _is_complete(output_dir, config):
    try:
        meta = json.loads((output_dir / "metadata.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if meta.get("synthetic_config") != config.to_json():
        return False
    shards = meta.get("num_shards", {})
    return (
        all(
            (output_dir / records.shard_name(split, k, n)).is_file()
            for split, n in shards.items()
            for k in range(n)
        )
        and (output_dir / "labels.txt").is_file()
    )


def _check_output(output_dir, log=None, config=None, overwrite=True):
    """Refuses a non-empty folder without a synthetic dataset, and without `overwrite` one made with
    another config than `config`; says so (`log`) when a synthetic dataset of another config (or an
    unfinished one) is about to be replaced."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"Output {output_dir} exists and is not a folder.")
    if not output_dir.exists() or not any(output_dir.iterdir()):
        return
    try:
        meta = json.loads((output_dir / "metadata.json").read_text())
    except (OSError, json.JSONDecodeError):
        meta = {}
    if "synthetic_config" not in meta:
        raise ValueError(
            f"Output folder {output_dir} is not empty and holds no synthetic dataset; "
            "refusing to write into it. Choose an empty or new folder."
        )
    if not overwrite and config is not None and meta["synthetic_config"] != config.to_json():
        raise ValueError(
            f"{output_dir} holds a synthetic dataset made with another config (created by "
            f"{meta.get('created_by')}); refusing to replace it (and any flow added to it): choose "
            "another folder, or overwrite it (synthetic.py --overwrite). Received: "
            + _differences(meta["synthetic_config"], config.to_json())
        )
    if log is not None:
        log(
            f"[synthetic] replacing the dataset in {output_dir} (made by {meta.get('created_by')} "
            "with another config, or unfinished)"
        )


def _differences(stored, asked, most=4):
    """`name=asked (the folder's: stored)` for the first `most` settings that differ; `not set`: a
    setting the other variant lacks, or one `to_json` leaves out at its default."""
    names = [n for n in sorted({*stored, *asked}) if stored.get(n) != asked.get(n)]
    shown = lambda values, n: repr(values[n]) if n in values else "not set"  # noqa: E731
    text = ", ".join(
        f"{n}={shown(asked, n)} (the folder's: {shown(stored, n)})" for n in names[:most]
    )
    return text + (f" and {len(names) - most} more" if len(names) > most else "")


def _write_video(path, frames, fps):
    import av

    from keras_ispan.io.atomic import atomic_path

    # PyAV picks the container from the name: the temporary file ends with the real suffix
    with (
        atomic_path(path, suffix=".tmp" + path.suffix) as tmp,
        av.open(str(tmp), mode="w") as container,
    ):
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def generate_synthetic_dataset(
    output_dir=None, config=None, *, write_videos=False, log=print, overwrite=True
):
    """Writes the synthetic dataset in the standard format and returns its folder.

    Args:
        output_dir: the dataset folder; None uses `default_synthetic_dir(config)`. An existing folder made
            with the same config (stored in `metadata.json`) is reused as is; one made with another config
            is regenerated; a non-empty folder that is not a synthetic dataset is refused.
        config: a `SyntheticConfig`; None uses the defaults.
        write_videos: also write H.264 MP4 files `videos/{split}/{class}/{video_id}.mp4` (the `folders`
            layout of `training/prepare.py`, with split subfolders).
        log: a function taking one progress line, or None.
        overwrite: replace a dataset of another config in `output_dir` (the cache's behaviour);
            `False` refuses it with a `ValueError` (`training/synthetic.py` without `--overwrite`).

    Returns:
        The `pathlib.Path` of the dataset folder.
    """
    config = config or SyntheticConfig()
    if not isinstance(config, SyntheticConfig):
        raise ValueError(f"`config` must be a SyntheticConfig. Received: config={config!r}")
    output_dir = pathlib.Path(output_dir) if output_dir else default_synthetic_dir(config)
    log = log or (lambda line: None)
    if _is_complete(output_dir, config) and (not write_videos or (output_dir / "videos").is_dir()):
        log(f"[synthetic] reusing {output_dir} (same config)")
        shard_index.ensure_indexes(output_dir)  # a dataset written before index files existed
        return output_dir
    _check_output(output_dir, log, config, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    for old in [*output_dir.glob("*.tfrecord"), *output_dir.glob("*.index")]:
        old.unlink()
    if (output_dir / "videos").is_dir():
        shutil.rmtree(output_dir / "videos")
    start, splits = time.time(), {}
    progress = _ProgressLog(config.train + config.val + config.test, log)
    for split in ("train", "val", "test"):
        labels = split_labels(config, split)
        if len(labels):
            splits[split] = _write_split(config, split, labels, output_dir, write_videos, progress)
    shard_index.ensure_indexes(output_dir)
    records.write_dataset_metadata(
        output_dir,
        config.classes,
        False,
        splits,
        created_by="training/synthetic.py",
        synthetic_config=config.to_json(),
    )
    log(f"[synthetic] wrote {progress.total} clips to {output_dir} in {time.time() - start:.1f} s")
    return output_dir


class _ProgressLog:
    """One line per shard written: clips done, rate, time left."""

    def __init__(self, total, log):
        self.total, self.done, self.log, self.start = total, 0, log, time.time()

    def shard(self, name, count):
        self.done += count
        rate = self.done / max(time.time() - self.start, 1e-9)
        self.log(
            f"[synthetic] {name}: {self.done}/{self.total} clips, {rate:.1f} clips/s, "
            f"ETA {(self.total - self.done) / rate:.0f} s"
        )


def _write_split(config, split, labels, output_dir, write_videos, progress) -> dict:
    """Renders and writes the shards of one split; returns its `metadata.json` entry."""
    visible = []

    def render(label, index, video_id):
        frames, (_, shown) = render_clip(config, label, clip_rng(config, split, index))
        visible.append(shown)
        if write_videos:
            path = output_dir / "videos" / split / config.classes[label] / f"{video_id}.mp4"
            _write_video(path, frames, config.fps)
        return frames

    entry = write_split_shards(config, split, labels, output_dir, progress, render)
    return entry | {"target_visible_frames_mean": round(float(np.mean(visible)), 2)}


def write_split_shards(config, split, labels, output_dir, progress, render) -> dict:
    """Writes the shards of one split of a synthetic dataset (clip `index` in shard
    `index % num_shards`, named `{split}_{index:05d}_{class}`); `render(label, index, video_id)` gives
    its frames uint8 `(num_frames, S, S, 3)`. Returns the split's `metadata.json` entry."""
    num_shards = -(-len(labels) // config.clips_per_shard)
    for shard in range(num_shards):
        serialized = []
        for index in range(shard, len(labels), num_shards):
            label = int(labels[index])
            video_id = f"{split}_{index:05d}_{config.classes[label]}"
            frames = render(label, index, video_id)
            jpegs = [records.encode_jpeg(f, config.jpeg_quality) for f in frames]
            serialized.append(
                records.serialize_clip(
                    video_id, [label], jpegs, fps=config.fps,
                    height=config.image_size, width=config.image_size,
                )
            )  # fmt: skip
        name = records.shard_name(split, shard, num_shards)
        records.write_tfrecord_atomic(output_dir / name, serialized)
        progress.shard(name, len(serialized))
    n, size = len(labels), config.image_size
    return {
        "count": n,
        "num_shards": num_shards,
        "frames": records.frame_statistics(
            [config.num_frames] * n, [config.fps] * n, [size] * n, [size] * n
        ),
    }
