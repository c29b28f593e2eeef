"""Adds optical flow to an existing dataset folder: `python training/prepare.py --add-flow DIR`.

`add_flow_to_dataset(DIR)` rewrites every shard of `DIR` with the flow of each clip (format version 4,
`keras_ispan/data/records.py`): the clip's stored frame JPEGs are decoded and passed to
`keras_ispan.data.convert.flow_jpegs`, the same function `prepare.py --flow` runs, so a dataset given
flow later holds exactly what a conversion with `--flow` writes. Properties:
- parallel: the clips of a shard are spread over `workers` processes (the conversion's pool);
- resumable: each shard is replaced atomically, then a small record in `DIR/.prepare/flow/` marks it
  done for these settings (method, bound, JPEG quality) and this version of the shard (size,
  modification time: a shard rewritten since has no flow); a rerun skips the finished shards, and
  `metadata.json` says the dataset has flow (`flow`, `format_version` 4) only once every shard has it;
- the clip index files are rewritten afterwards (`shard_index.ensure_indexes`: a rewritten shard's
  index is stale), so the index locates the flow JPEGs too;
- observable: one progress line every few seconds (clips, flow frames per second, ETA) and one per
  shard. Everything else in a record (labels, actions, frame times) is kept as it was.
"""

import dataclasses
import json
import os
import pathlib
import time

from keras_ispan.data import convert, records
from keras_ispan.data import shard_index as clip_index
from keras_ispan.io import flow as flow_io
from keras_ispan.io.atomic import write_json_atomic

FLOW_STATE_DIR = pathlib.Path(convert.STATE_DIR) / "flow"


@dataclasses.dataclass
class AddFlowSummary:
    path: pathlib.Path
    clips: int
    flow_steps: int
    shards_written: int
    shards_skipped: int
    seconds: float

    @property
    def flow_frames_per_second(self):
        return self.flow_steps / max(self.seconds, 1e-9)


def _flow_task(task):
    key, frame_jpegs, method, quality = task
    jpegs = convert.flow_jpegs(frame_jpegs, method, quality)
    return key, jpegs


def _shards(path):
    shards = [
        s for split in records.SPLITS for s in sorted(path.glob(records.shard_pattern(split)))
    ]
    if not shards:
        raise ValueError(f"{path} holds no shards (*-of-*.tfrecord) to add flow to")
    return shards


def _jpeg_quality(metadata):
    settings = metadata.get("settings") or metadata.get("synthetic_config") or {}
    return int(settings.get("jpeg_quality", 90))


def _mark(shard, settings):
    """A shard's done mark: the flow settings and the shard's size and modification time, so that a
    shard rewritten later (a regenerated dataset) is not taken for one with flow."""
    stat = shard.stat()
    return {**settings, "shard_bytes": stat.st_size, "shard_mtime_ns": stat.st_mtime_ns}


def _stored_flow_method(shard):
    """The flow method stored in the shard's first clip (a shard is written whole, with or without
    flow), or None when it has no flow or no clip."""
    import tensorflow as tf

    spans = clip_index.scan_records(shard)
    if not spans:
        return None
    with open(shard, "rb") as f:
        first = os.pread(f.fileno(), spans[0][1], spans[0][0])
    values = tf.train.SequenceExample.FromString(first).context.feature["flow_method"]
    return values.bytes_list.value[0].decode() if values.bytes_list.value else None


def _read_records(shard):
    with open(shard, "rb") as f:
        return [os.pread(f.fileno(), n, o) for o, n in clip_index.scan_records(shard)]


def add_flow_to_dataset(data_dir, method="farneback", workers=0, log=print):
    """Adds flow to every clip of the dataset folder `data_dir`; returns an `AddFlowSummary`.

    A shard whose clips already hold flow of `method` (written by `prepare.py --flow`, or by an
    earlier run) is skipped, not recomputed; when every shard is, it says so and writes nothing.

    Raises (before writing anything) a `ValueError` for a folder that is not a dataset, an unknown
    method, `"tvl1"` without OpenCV's contrib module, or a shard that holds flow of another method
    (naming both).
    """
    from keras_ispan.data.pipeline import read_dataset_info

    log = log or (lambda line: None)
    flow_io.check_method(method)
    info = read_dataset_info(data_dir)
    path, shards = info.path, _shards(info.path)
    settings = convert.flow_metadata(method, _jpeg_quality(info.metadata))
    state_dir = path / FLOW_STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    pending = _pending_shards(shards, state_dir, settings, method, path)
    if not pending and info.metadata.get("flow") == settings:
        log(f"[flow] {path} already has flow (method={method!r}): nothing to do")
        return AddFlowSummary(path, 0, 0, 0, len(shards), 0.0)
    if len(pending) < len(shards):
        log(
            f"[flow] resuming: {len(shards) - len(pending)} of {len(shards)} shards already have flow"
        )
    start = time.time()
    total = sum(len(clip_index.scan_records(s)) for s in pending)
    progress = _FlowProgress(total, log)
    workers = max(1, min(workers or os.cpu_count() or 1, max(total, 1)))
    with convert.worker_pool(workers) as pool:
        for shard in pending:
            serialized = _read_records(shard)
            tasks = [(j, records.clip_jpegs(r)[0], method, settings["jpeg_quality"])
                     for j, r in enumerate(serialized)]  # fmt: skip
            flows = [None] * len(serialized)
            for j, jpegs in pool(_flow_task, tasks):
                flows[j] = jpegs
                progress.update(len(jpegs) // 2)
            new = [records.add_flow(r, f, method, settings["bound"])
                   for r, f in zip(serialized, flows, strict=True)]  # fmt: skip
            records.write_tfrecord_atomic(shard, new)
            write_json_atomic(
                state_dir / f"{shard.name}.json", _mark(shard, settings), sort_keys=True
            )
            log(f"[flow] wrote {shard.name}: {len(new)} clips")
    clip_index.ensure_indexes(path)
    metadata = dict(info.metadata, format_version=records.FORMAT_VERSION, flow=settings)
    write_json_atomic(path / "metadata.json", metadata, sort_keys=True)
    summary = AddFlowSummary(
        path, progress.done, progress.steps, len(pending), len(shards) - len(pending),
        time.time() - start,
    )  # fmt: skip
    log(
        f"[flow] done in {summary.seconds:.1f} s: {summary.clips} clips, {summary.flow_steps} flow "
        f"frames ({summary.flow_frames_per_second:.0f}/s), {summary.shards_written} shards "
        f"written, {summary.shards_skipped} already done -> {path}"
    )
    return summary


def _pending_shards(shards, state_dir, settings, method, path):
    """The shards that still need flow of `method`: neither marked done with these settings nor
    holding flow of `method` already. Raises `ValueError` for a shard holding another method's."""

    def marked(shard):  # flow of these settings, and the shard not rewritten since (its stat)
        state = state_dir / f"{shard.name}.json"
        return state.is_file() and json.loads(state.read_text()) == _mark(shard, settings)

    stored = {s: None if marked(s) else _stored_flow_method(s) for s in shards}
    for shard, stored_method in stored.items():
        if stored_method not in (None, method):
            raise ValueError(
                f"{shard} already holds optical flow computed with method={stored_method!r}; "
                f"adding method={method!r} would mix two kinds of flow in {path}. Convert again "
                f"into a new folder with --flow-method {method}. Received: method={method!r}"
            )
    return [s for s in shards if not marked(s) and stored[s] != method]


class _FlowProgress:
    def __init__(self, total, log, every=2.0):
        self.total, self.log, self.every = total, log, every
        self.done = self.steps = 0
        self.start = self.last = time.time()

    def update(self, steps):
        self.done += 1
        self.steps += steps
        now = time.time()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            eta = (self.total - self.done) * elapsed / self.done
            self.log(
                f"[flow] {self.done}/{self.total} clips, {self.steps / elapsed:.0f} flow frames/s, "
                f"ETA {eta:.0f} s"
            )
