"""Video dataset conversion: videos -> sharded TFRecords of JPEG frames (the format of `records.py`).

`convert_dataset(ConvertConfig(...))` reads a layout (`keras_ispan/data/layouts.py`), decodes every video with
PyAV in `workers` processes (short side resized, optional frame-rate subsampling), JPEG-encodes each frame
and writes one `SequenceExample` per clip. Properties:
- resumable: shards are written atomically, each followed by a small progress record in
  `OUTPUT/.prepare/`; a rerun with the same settings skips the finished shards;
- robust: a video that cannot be decoded is reported (path and reason), skipped, and counted in the
  summary and in `metadata.json` (`failed`); it never aborts the run;
- complete: a video that decodes to clearly fewer frames or less time than its container declares
  (`keras_ispan.io.video.INCOMPLETE_FRACTION`, a truncated file) is reported by path in the log and in
  `metadata.json` (`incomplete`: path, reason, kept or skipped), and kept or skipped as
  `ConvertConfig.incomplete` says; every other file under `videos` that is not a clip (not a video,
  a video in no split, an annotation file) is named with its reason (`unused_files`): nothing under
  `videos` disappears silently;
- observable: one progress line every few seconds (videos done, rate, ETA) and one per shard;
- optical flow (`ConvertConfig.flow`, format version 4): each worker also computes the quantised
  flow between consecutive *stored* frames (the JPEGs it just wrote, decoded again, so that flow
  added later to an existing dataset, `keras_ispan/data/add_flow.py`, is the same) with
  `keras_ispan.io.flow.clip_flow` and stores it as TSN does (`records.py`).
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import time

import numpy as np

from keras_ispan.checks import check_integers
from keras_ispan.data import records, shard_index
from keras_ispan.data.layouts import (
    LAYOUTS,
    TEST_FRACTION,
    VAL_FRACTION,
    VIDEO_EXTENSIONS,
    parse_layout,
)
from keras_ispan.io import flow as flow_io
from keras_ispan.io.atomic import write_json_atomic
from keras_ispan.io.video import VideoDecodeError, decode_video
from keras_ispan.options import INCOMPLETE_POLICIES

STATE_DIR = ".prepare"


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Settings of `convert_dataset` (see `python training/prepare.py --help`)."""

    videos: pathlib.Path | None
    output: pathlib.Path
    layout: str = "folders"
    annotations: pathlib.Path | None = None
    split: int = 1
    workers: int = 0
    short_side: int | None = 256
    fps: float | None = None
    max_frames: int | None = None
    jpeg_quality: int = 90
    clips_per_shard: int = 64
    val_fraction: float = VAL_FRACTION
    test_fraction: float = TEST_FRACTION
    seed: int = 0
    overwrite: bool = False
    incomplete: str = "keep"
    flow: bool = False
    flow_method: str = "farneback"

    def __post_init__(self):
        if self.flow:  # a missing TV-L1 fails here, before any work
            flow_io.check_method(self.flow_method)
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"Unknown layout; expected one of {LAYOUTS}. Received: layout={self.layout!r}"
            )
        if self.split not in (1, 2, 3):
            raise ValueError(f"`split` must be 1, 2 or 3. Received: split={self.split!r}")
        check_integers(self, ("short_side", "max_frames"), optional=True)
        check_integers(self, ("clips_per_shard",))
        check_integers(self, ("workers",), minimum=0)  # 0: all cores
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"`fps` must be positive or None. Received: fps={self.fps!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"`jpeg_quality` must be in [1, 100]. Received: {self.jpeg_quality!r}")
        if self.incomplete not in INCOMPLETE_POLICIES:
            raise ValueError(
                f"`incomplete` must be one of {INCOMPLETE_POLICIES}. "
                f"Received: incomplete={self.incomplete!r}"
            )
        fractions = (self.val_fraction, self.test_fraction)
        if not all(0 <= f < 1 for f in fractions) or sum(fractions) >= 1:
            raise ValueError(
                "`val_fraction` and `test_fraction` must be in [0, 1) with a sum below 1. "
                f"Received: val_fraction={self.val_fraction}, test_fraction={self.test_fraction}"
            )

    def encoding(self):
        """The settings that change the written records (the resume fingerprint; `encode_video`'s
        arguments). Flow settings only with flow, so that earlier runs without flow still resume."""
        keys = ("short_side", "fps", "max_frames", "jpeg_quality")
        encoding = {k: getattr(self, k) for k in keys}
        if self.flow:
            encoding["flow_method"] = self.flow_method
        return encoding

    def flow_metadata(self):
        """`metadata.json`'s `flow` entry (None without flow)."""
        return flow_metadata(self.flow_method, self.jpeg_quality) if self.flow else None


def flow_metadata(method, jpeg_quality, bound=flow_io.FLOW_BOUND):
    """What `metadata.json` records of a dataset's flow (see `records.py`)."""
    return {"method": method, "bound": float(bound), "jpeg_quality": int(jpeg_quality),
            "steps": "max(num_frames - 1, 1) per clip, x and y grayscale JPEGs each"}  # fmt: skip


@dataclasses.dataclass
class ConvertSummary:
    output: pathlib.Path
    counts: dict
    failed: list
    problems: list
    shards_written: int
    shards_skipped: int
    frames: int
    seconds: float
    incomplete: list = dataclasses.field(default_factory=list)  # [path, reason, "kept"|"skipped"]
    unused: list = dataclasses.field(default_factory=list)  # [path, reason]: files not made clips

    @property
    def frames_per_second(self):
        return self.frames / max(self.seconds, 1e-9)


def encode_video(
    path, short_side=256, fps=None, max_frames=None, jpeg_quality=90, flow_method=None
):  # fmt: skip
    """Decodes one video and JPEG-encodes its frames (and, with `flow_method`, their flow).

    Returns `{"frames": [bytes], "info": dict}` (plus `"flow": [bytes]`, `flow_jpegs`'s) or
    `{"error": reason}` (never raises for bad videos).
    """
    try:
        frames, info = decode_video(path, short_side=short_side, fps=fps, max_frames=max_frames)
    except VideoDecodeError as e:
        return {"error": e.reason}
    except Exception as e:  # a decoder crash on one file must not stop the run
        return {"error": f"{type(e).__name__}: {e}"}
    jpegs = [records.encode_jpeg(f, jpeg_quality) for f in frames]
    result = {"frames": jpegs, "info": info}
    if flow_method is not None and len(jpegs):
        result["flow"] = flow_jpegs(jpegs, flow_method, jpeg_quality)
    return result


def flow_jpegs(frame_jpegs, method, jpeg_quality):
    """The flow JPEGs of a clip from its stored frame JPEGs (decoded with Pillow): `clip_flow`, then
    `records.encode_flow_jpegs`. One implementation for conversion and `add_flow`."""
    frames = np.stack([records.decode_jpeg(j) for j in frame_jpegs])
    return records.encode_flow_jpegs(flow_io.clip_flow(frames, method), jpeg_quality)


def _encode_task(task):
    index, path, settings = task
    return index, path, encode_video(path, **settings)


def _state_fingerprint(config, layout):
    items = [
        (split, it.video_id, list(it.labels)) + ((list(it.actions),) if it.actions else ())
        for split, v in layout.splits.items()
        for it in v
    ]
    encoding = config.encoding()
    if config.incomplete != "keep":  # "keep" writes what earlier versions wrote: they still resume
        encoding["incomplete"] = config.incomplete
    text = json.dumps([encoding, layout.classes, config.clips_per_shard, items])
    return hashlib.sha256(text.encode()).hexdigest()


def _prepare_output(config, fingerprint, log):
    out = pathlib.Path(config.output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"Output {out} exists and is not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    state_dir = out / STATE_DIR
    state_file = state_dir / "state.json"
    for stale in out.glob(".*.tmp"):  # temp files of an interrupted run
        stale.unlink()
    if config.overwrite:
        if any(out.glob("*.tfrecord")) or state_dir.exists():
            log(f"[prepare] --overwrite: removing the previous shards in {out}")
        shutil.rmtree(state_dir, ignore_errors=True)
        for old in [*out.glob("*.tfrecord"), *out.glob(f"*{shard_index.INDEX_SUFFIX}")]:
            old.unlink()
    elif state_file.is_file():
        if json.loads(state_file.read_text()).get("fingerprint") != fingerprint:
            hint = f" (to add optical flow to it: --add-flow {out})" if config.flow else ""
            raise ValueError(
                f"{out} was prepared from other videos or settings; pass --overwrite to "
                f"replace it, or choose another --output{hint}."
            )
    elif any(out.glob("*.tfrecord")):
        raise ValueError(f"{out} already holds TFRecords not written by prepare; pass --overwrite.")
    state_dir.mkdir(exist_ok=True)
    write_json_atomic(state_file, {"fingerprint": fingerprint}, sort_keys=True)
    return out, state_dir


def _shard_plan(layout, config):
    """[(split, shard, num_shards, items)]; items shuffled (seeded) so that shards mix classes."""
    plan = []
    for split, items in layout.splits.items():
        order = np.random.default_rng([config.seed, len(items)]).permutation(len(items))
        items = [items[i] for i in order]
        num_shards = max(1, -(-len(items) // config.clips_per_shard))
        plan += [(split, k, num_shards, items[k::num_shards]) for k in range(num_shards)]
    return plan


class _Progress:
    def __init__(self, total, log, every=2.0):
        self.total, self.log, self.every = total, log, every
        self.done = self.failed = self.frames = 0
        self.start = self.last = time.time()

    def update(self, ok, frames, force=False):
        self.done += 1
        self.failed += 0 if ok else 1
        self.frames += frames
        now = time.time()
        if force or now - self.last >= self.every or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            self.log(
                f"[prepare] {self.done}/{self.total} videos, {rate:.1f} videos/s, "
                f"{self.frames / max(now - self.start, 1e-9):.0f} frames/s, ETA {eta:.0f} s, "
                f"{self.failed} failed"
            )


def _single_threaded_opencv():
    """Pool initializer: one OpenCV thread per worker process (the pool is the parallelism)."""
    import cv2

    cv2.setNumThreads(1)


@contextlib.contextmanager
def worker_pool(workers):
    """`map(fn, tasks)` over `workers` processes (in order), or in this process when `workers == 1`.

    fork where available: workers start at once, without re-importing TensorFlow or the caller's main
    module; they only run PyAV, NumPy, Pillow and OpenCV (never TensorFlow's runtime), so inherited TF
    threads are inert.
    """
    if workers == 1:
        yield map
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(workers, initializer=_single_threaded_opencv) as pool:
        yield functools.partial(pool.imap, chunksize=1)


def _map(workers, tasks):
    with worker_pool(workers) as pool:
        yield from pool(_encode_task, tasks)


def _write_shard(
    out, state_dir, split, shard, num_shards, items, results, incomplete="keep", flow_method=None
):  # fmt: skip
    serialized, stats = [], {"count": 0, "failed": [], "warnings": [], "num_frames": [], "fps": [],
                             "heights": [], "widths": [], "incomplete": []}  # fmt: skip
    for item, result in zip(items, results, strict=True):
        if "error" in result:
            stats["failed"].append([str(item.path), result["error"]])
            continue
        info = result["info"]
        if info.get("incomplete"):
            action = "skipped" if incomplete == "skip" else "kept"
            stats["incomplete"].append([str(item.path), info["warning"], action])
            if action == "skipped":
                continue
        serialized.append(
            records.serialize_clip(
                item.video_id, list(item.labels), result["frames"],
                fps=info["fps"], height=info["height"], width=info["width"],
                actions=item.actions, frame_times=info.get("frame_times"),
                flow=(result["flow"], flow_method, flow_io.FLOW_BOUND) if "flow" in result else None,
            )
        )  # fmt: skip
        if info.get("warning"):
            stats["warnings"].append([str(item.path), info["warning"]])
        stats["count"] += 1
        for key, value in (("num_frames", "num_frames"), ("fps", "fps"), ("heights", "height"),
                           ("widths", "width")):  # fmt: skip
            stats[key].append(info[value])
    name = records.shard_name(split, shard, num_shards)
    records.write_tfrecord_atomic(out / name, serialized)
    write_json_atomic(state_dir / f"{name}.json", stats, sort_keys=True)
    return stats


def _unused_files(config, layout, out):
    """`[[path, reason]]` for every file under `config.videos` that is not a video of the layout.

    The layout's videos are all accounted for already (a clip, or `failed`/`incomplete`); this names
    the rest: files that are not videos (by extension, as the layouts choose), videos in no split,
    the layout's annotation files, and nothing under the output folder.
    """
    if config.videos is None or not pathlib.Path(config.videos).is_dir():
        return []
    root = pathlib.Path(config.videos)
    used = {os.path.realpath(it.path) for items in layout.splits.values() for it in items}
    annotations = [os.path.realpath(a) for a in getattr(layout, "annotation_paths", ())]
    output = os.path.realpath(out)
    unused = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or os.path.realpath(path) in used:
            continue
        real = os.path.realpath(path)
        if real == output or real.startswith(output + os.sep):
            continue
        if any(real == a or real.startswith(a + os.sep) for a in annotations):
            reason = f"annotation file of the {config.layout} layout"
        elif path.suffix.lower() not in VIDEO_EXTENSIONS:
            kind = "a hidden file" if path.name.startswith(".") else "not a video file"
            suffix = path.suffix or "(none)"
            reason = f"{kind}: the layouts do not read the extension {suffix!r} as a video"
        elif config.layout == "folders":
            reason = (
                "a video outside the class folders (videos/<class>/ or videos/<split>/<class>/)"
            )
        else:
            reason = f"a video in no split: the {config.layout} annotations do not list it as used"
        unused.append([str(path), reason])
    return unused


def _shard_done(out, state_dir, split, shard, num_shards):
    name = records.shard_name(split, shard, num_shards)
    return (out / name).is_file() and (state_dir / f"{name}.json").is_file()


def convert_dataset(config, log=print):
    """Converts the videos of `config` into a dataset folder; returns a `ConvertSummary`.

    Raises (before writing anything) for a missing videos folder or annotation file, an unknown layout,
    or an output folder prepared with other settings; bad videos are reported and skipped.
    """
    log = log or (lambda line: None)
    start = time.time()
    layout = parse_layout(
        config.layout, config.videos, annotations=config.annotations, split=config.split,
        val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed,
    )  # fmt: skip
    for problem in layout.problems:
        log(f"[prepare] skipped: {problem}")
    out, state_dir = _prepare_output(config, _state_fingerprint(config, layout), log)
    plan = _shard_plan(layout, config)
    pending = [p for p in plan if not _shard_done(out, state_dir, *p[:3])]
    skipped = len(plan) - len(pending)
    if skipped:
        log(f"[prepare] resuming: {skipped} of {len(plan)} shards already written")
    settings = config.encoding()
    tasks = [
        ((i, j), str(item.path), settings)
        for i, (_, _, _, items) in enumerate(pending)
        for j, item in enumerate(items)
    ]
    workers = config.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(tasks)))
    progress = _Progress(len(tasks), log)
    results = {i: [] for i in range(len(pending))}
    for (i, _), path, result in _map(workers, tasks):
        results[i].append(result)
        if "error" in result:
            log(f"[prepare] cannot decode {path}: {result['error']} (skipped)")
        elif result["info"].get("incomplete"):
            action = "skipped" if config.incomplete == "skip" else "kept"
            log(f"[prepare] incomplete {path}: {result['info']['warning']} ({action})")
        progress.update("error" not in result, len(result.get("frames", ())))
        split, shard, num_shards, items = pending[i]
        if len(results[i]) == len(items):
            stats = _write_shard(
                out, state_dir, split, shard, num_shards, items, results.pop(i), config.incomplete,
                config.flow_method if config.flow else None,
            )  # fmt: skip
            log(f"[prepare] wrote {records.shard_name(split, shard, num_shards)}: "
                f"{stats['count']} clips, {len(stats['failed'])} failed")  # fmt: skip
    for i, (split, shard, num_shards, items) in enumerate(pending):
        if not items:  # an empty split shard still gets its (empty) file
            _write_shard(out, state_dir, split, shard, num_shards, items, results.pop(i, []))
    return _finish(config, layout, plan, out, state_dir, skipped, start, progress, log)


def _finish(config, layout, plan, out, state_dir, skipped, start, progress, log):
    # the clip index of every shard (only headers and contexts are read; done again after a resume)
    shard_index.ensure_indexes(out)
    unused = _unused_files(config, layout, out)
    splits, failed, warnings, incomplete = {}, [], [], []
    for split, shard, num_shards, _ in plan:
        name = records.shard_name(split, shard, num_shards)
        stats = json.loads((state_dir / f"{name}.json").read_text())
        entry = splits.setdefault(split, {"count": 0, "num_shards": num_shards, "lists": {}})
        entry["count"] += stats["count"]
        for key in ("num_frames", "fps", "heights", "widths"):
            entry["lists"].setdefault(key, []).extend(stats[key])
        failed += stats["failed"]
        warnings += stats["warnings"]
        incomplete += stats.get("incomplete", [])  # states written before incomplete were tracked
    for entry in splits.values():
        lists = entry.pop("lists")
        entry["frames"] = records.frame_statistics(
            lists["num_frames"], lists["fps"], lists["heights"], lists["widths"]
        )
    records.write_dataset_metadata(
        out, layout.classes, layout.multi_label, splits,
        created_by="training/prepare.py", layout=config.layout,
        source=str(config.videos), settings={**config.encoding(), "incomplete": config.incomplete},
        failed=failed, warnings=warnings, skipped_entries=layout.problems, incomplete=incomplete,
        unused_files=unused, split_rule=layout.split_rule,
        **({"flow": config.flow_metadata()} if config.flow else {}),
    )  # fmt: skip
    summary = ConvertSummary(
        output=out, counts={s: v["count"] for s, v in splits.items()}, failed=failed,
        problems=layout.problems, shards_written=len(plan) - skipped, shards_skipped=skipped,
        frames=progress.frames, seconds=time.time() - start, incomplete=incomplete, unused=unused,
    )  # fmt: skip
    log(
        f"[prepare] done in {summary.seconds:.1f} s: {summary.counts} clips, "
        f"{summary.frames} frames ({summary.frames_per_second:.0f} frames/s), "
        f"{len(failed)} videos failed, {len(incomplete)} incomplete ({config.incomplete}), "
        f"{len(unused)} files under the videos folder not used, "
        f"{len(layout.problems)} annotation entries skipped, "
        f"{summary.shards_written} shards written, {skipped} already done -> {out}"
    )
    for path, reason in failed:
        log(f"[prepare] failed: {path}: {reason}")
    for path, reason, action in incomplete:
        log(f"[prepare] incomplete ({action}): {path}: {reason}")
    for path, reason in unused:
        log(f"[prepare] not used: {path}: {reason}")
    return summary
