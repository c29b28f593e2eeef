"""Input pipeline and dataset conversion throughput against their bounds, measured side by side.

    python benchmarks/input_pipeline.py              # the shared real clips when present, else generated
    python benchmarks/input_pipeline.py --videos DIR --batches 40 --repeats 3

1. Training pipeline (`keras_ispan/data/pipeline.py`, K=8, 224x224 multi-scale crops from 256-short-side JPEG
   frames, batch 8) in clips/s, against the bound measured in the same run: a tf.data pipeline with the
   same parallelism that only decodes the K sampled JPEGs of each clip (full decode, no crop, no resize).
   Target ratio >= 0.8. The headline row is the configuration for training on an accelerator: index
   reads (`reader="index"`: each clip's context from the shard's index file, then only its K frames'
   byte ranges) and `resize="model"` (one crop size per batch; the model's first layer,
   `keras_ispan.layers.FrameResize`, resizes to 224 on the accelerator). The pipeline decodes only the
   crop window, so it may exceed the bound.
2. Conversion (`keras_ispan/data/convert.py`, all cores) in frames/s, against PyAV decode + short-side resize
   + JPEG encode alone on the same videos with the same number of processes (no TFRecord writing,
   no parsing of layouts, no progress). Target ratio >= 0.7.
Breakdown rows (same bound): the pipeline with the resize in the pipeline (training on a CPU), with
whole-record reads (`reader="records"`, ~5 MB read per clip of 300 frames at 256p to use 8 of them),
with `cache=True` (whole records in memory); the group plan alone (`keras_ispan/data/batch_plan.py`: batched
context parse, TSN indices, reading the K frames' bytes, windows, targets; no pixels) with either
reader; the pixel work alone on the K sampled JPEGs held in memory (crop-window decode + bilinear
resize + flip, and the crop-window decode alone); and the model's front (`FrameResize` to 224 + the
per-clip flip of `with_frame_resize`) on this CPU, on batches of crops in memory: what the accelerator
takes over (on a CPU-only machine moving the resize to the model moves its cost, it does not remove it).
Every row is iterated in batches of `--batch` clips; rows whose clips differ in size yield a few pixels
per clip that depend on all of its decode.
Every row also gives the process CPU time per clip (`cpu_ms`) and `cpu_ratio` = bound CPU / row CPU,
steadier than wall-clock rates when other jobs share the cores.
Runs alternate (bound, measured, bound, measured ...) so machine noise hits both; medians are reported.
Prints a table and writes `benchmarks/results/input_pipeline.json`.
"""

import argparse
import functools
import multiprocessing
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.common import command_line, median, print_table, write_json  # noqa: E402
from keras_ispan.data import (
    augment,
    records,  # noqa: E402
)
from keras_ispan.data.clip_reader import parse_clip  # noqa: E402
from keras_ispan.data.convert import ConvertConfig, convert_dataset  # noqa: E402
from keras_ispan.data.pipeline import PipelineConfig, make_dataset  # noqa: E402
from keras_ispan.io.video import decode_video  # noqa: E402

RUN_NAMES = ("bound", "index_model", "index_pipeline", "records_pipeline", "records_cached",
             "plan_index", "plan_records", "transform", "transform_no_resize",
             "model_resize")  # fmt: skip
SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"
VIDEO_SUFFIXES = (".mp4", ".avi", ".gif", ".webm", ".mkv")


def _generated_videos(folder, count=6, frames=60):
    import av

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:240, 0:320].astype(np.float32)
    for i in range(count):
        path = folder / "c0" / f"gen{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
            for t in range(frames):
                img = 128 + 60 * np.sin((x + 3 * t) / (9 + i)) * np.cos((y - 2 * t) / 13)
                img = np.stack([img, np.roll(img, 7, 1), 255 - img], -1)
                img += rng.normal(0, 12, img.shape)
                frame = av.VideoFrame.from_ndarray(img.clip(0, 255).astype(np.uint8), "rgb24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
    return folder


def _video_folder(videos, scratch):
    """A `folders` layout (one class) linking the benchmark videos."""
    source = pathlib.Path(videos) if videos else (SHARED if SHARED.is_dir() else None)
    root = scratch / "videos"
    if source is None:
        return _generated_videos(root), "generated (6 x 60 frames, 320x240 H.264)"
    (root / "c0").mkdir(parents=True)
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    for p in files:
        os.symlink(p, root / "c0" / p.name)
    return root, f"{source} ({len(files)} videos)"


def _encode_only(path):
    frames, _ = decode_video(path, short_side=256)
    return sum(len(records.encode_jpeg(f, 90)) > 0 for f in frames)


def bound_conversion(paths, workers):
    start = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        frames = sum(pool.imap(_encode_only, paths, chunksize=1))
    return frames / (time.perf_counter() - start)


def measure_conversion(root, out, workers, fps=None):
    config = ConvertConfig(videos=root, output=out, workers=workers, test_fraction=0.0,
                           overwrite=True, fps=fps)  # fmt: skip
    start = time.perf_counter()
    summary = convert_dataset(config, log=None)
    return summary.frames / (time.perf_counter() - start)


def _sampled_frames(data_dir, k):
    """The K centre-sampled encoded frames of every training clip (for the decode bound)."""
    files = sorted(str(p) for p in data_dir.glob("train-*.tfrecord"))
    out = []
    for record in tf.data.TFRecordDataset(files):
        frames = parse_clip(record)["frames"].numpy()
        out.append([frames[i] for i in np.linspace(0, len(frames) - 1, k).astype(int)])
    return np.array(out, dtype=object)


def _small(x):
    """A few values that depend on all of `x` (decoded pixels or JPEG bytes): iterating them costs
    nothing next to producing `x`, and rows whose clips differ in size can still be batched."""
    if x.dtype == tf.string:
        return tf.reduce_sum(tf.strings.length(x))
    return tf.reshape(x[:, 0, 0], [-1])


def bound_pipeline(encoded, batch, batches):
    """Decoding the K sampled JPEGs of each clip, unrolled like the pipeline (a `tf.map_fn` loop costs
    more), with the same parallelism; batches of `batch` clips (frame sizes differ across clips, so
    each clip yields a few pixels that depend on its whole decode)."""
    ds = tf.data.Dataset.from_tensor_slices(encoded.astype(bytes)).repeat()
    k = encoded.shape[1]

    def decode(e):
        return tf.stack([_small(tf.io.decode_jpeg(e[i], channels=3)[None]) for i in range(k)])

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return _clips_per_second(ds.batch(batch).prefetch(tf.data.AUTOTUNE), batch, batches)


def measure_plan(data_dir, k, size, batch, batches, reader):
    """`keras_ispan.data.batch_plan.plan_group` alone (batched context parse, TSN indices, reading the sampled frames'
    bytes, crop windows, flips, targets: everything but the pixels), groups of `batch` clips."""
    from keras_ispan.data.batch_plan import plan_group
    from keras_ispan.data.shard_index import index_path

    shards = sorted(str(p) for p in data_dir.glob("train-*.tfrecord"))
    if reader == "index":
        indexes = [str(index_path(p)) for p in shards]
        sources = [tf.data.TFRecordDataset(f).map(functools.partial(_with_shard, s))
                   for f, s in zip(indexes, shards, strict=True)]  # fmt: skip
        ds = tf.data.Dataset.sample_from_datasets([d.repeat() for d in sources], seed=0)
    else:
        ds = tf.data.TFRecordDataset(shards, buffer_size=0).repeat()
    seeds = tf.data.Dataset.random(seed=0).batch(2)
    plan = functools.partial(plan_group, num_segments=k, image_size=size,
                             scales=(1.0, 0.875, 0.75, 0.66), max_distort=1, flip=True,
                             crop_base=None, num_classes=1, multi_label=False,
                             label_source="video")  # fmt: skip
    ds = tf.data.Dataset.zip((ds.batch(batch), seeds)).map(
        plan, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False
    )
    ds = ds.map(lambda p: _small(p["frames"]))
    return _clips_per_second(ds.prefetch(tf.data.AUTOTUNE), batch, batches)


def _with_shard(shard, record):
    return tf.constant(shard), record


def measure_transform(encoded, size, batch, batches, resize=True):
    """The pixel work of training on the K sampled JPEGs in memory: crop-window decode,
    resize, flip (with `resize=False`: the crop-window decode alone, the crops left at their TSN size
    for the model to resize and flip)."""
    ds = tf.data.Dataset.from_tensor_slices(encoded.astype(bytes)).repeat()
    seeds = tf.data.Dataset.random(seed=0).batch(2)
    scales = (1.0, 0.875, 0.75, 0.66)

    def transform(e, s):
        seeds = tf.random.experimental.stateless_split(s, 2)
        shape = tf.io.extract_jpeg_shape(e[0])
        windows, _ = augment.crop_windows([shape[0]], [shape[1]], scales, 1, seeds)
        window = windows[0]
        if resize:
            flip = tf.random.stateless_uniform([], seeds[1]) < 0.5
            return augment.crop_clip(e, window, [size, size], flip, "")
        return _small(augment.crop_clip(e, window, window[2:], tf.constant(False), ""))

    ds = tf.data.Dataset.zip((ds, seeds)).map(
        transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False
    )
    return _clips_per_second(ds.batch(batch).prefetch(tf.data.AUTOTUNE), batch, batches)


def measure_pipeline(data_dir, k, size, batch, batches, cache=False, **settings):
    config = PipelineConfig(num_segments=k, image_size=size, batch_size=batch, repeat=True,
                            shuffle_buffer=64, seed=None, cache=cache, **settings)  # fmt: skip
    return _clips_per_second(make_dataset(data_dir, "train", config), batch, batches)


def measure_model_resize(data_dir, k, size, batch, batches):
    """The front of `with_frame_resize(model, flip=True)` (`FrameResize` to `S`, one random flip per
    clip) in training mode on batches of crops held in memory, on this CPU: the work the
    accelerator takes over from the pipeline with `resize="model"`."""
    import keras

    from keras_ispan.models import with_frame_resize

    config = PipelineConfig(num_segments=k, image_size=size, batch_size=batch, repeat=True,
                            shuffle_buffer=64, seed=0, resize="model", flip=False)  # fmt: skip
    crops = [f for f, _ in make_dataset(data_dir, "train", config).take(batches)]
    frames = keras.Input((None, size, size, 3))
    front = with_frame_resize(keras.Model(frames, frames), flip=True, seed=0)
    resize = tf.function(
        lambda x: front(x, training=True),
        input_signature=[tf.TensorSpec([None, k, None, None, 3], tf.uint8)],
    )
    resize(crops[0])  # trace
    start, cpu = time.perf_counter(), time.process_time()
    for c in crops:
        resize(c).numpy()
    clips = batch * len(crops)
    return clips / (time.perf_counter() - start), 1e3 * (time.process_time() - cpu) / clips


def _clips_per_second(ds, batch, batches):
    it = iter(ds)
    for _ in range(3):  # warm-up: tracing, autotune, prefetch
        next(it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    clips = batch * batches
    return clips / (time.perf_counter() - start), 1e3 * (time.process_time() - cpu) / clips


def _medians(runs):
    """Median clips/s and median CPU ms per clip of `(rate, cpu_ms)` runs."""
    return median([r for r, _ in runs]), median([c for _, c in runs])


def _row(stage, runs, bound_runs, target, bound_is):
    (rate, cpu), (bound, bound_cpu) = _medians(runs), _medians(bound_runs)
    return dict(stage=stage, measured=rate, bound=bound, ratio=rate / bound, cpu_ms=cpu,
                bound_cpu_ms=bound_cpu, cpu_ratio=bound_cpu / cpu, target=target,
                bound_is=bound_is)  # fmt: skip


# the table's rows after the first, all against the same bound (`bound_pipeline`): run -> stage
STAGES = {
    "index_pipeline": "training pipeline: index reads, resize in the pipeline (clips/s)",
    "records_pipeline": "training pipeline: whole records, resize in the pipeline (clips/s)",
    "records_cached": "training pipeline: whole records, cache=True, resize in the pipeline (clips/s)",
    "plan_index": "plan alone, index reads: parse, TSN, read K frames, windows, targets (clips/s)",
    "plan_records": "plan alone, whole records: parse, TSN, cut K frames, windows, targets (clips/s)",
    "transform": "transform alone: crop decode + resize + flip, in memory (clips/s)",
    "transform_no_resize": "transform alone: crop decode (resize, flip left to the model), in memory (clips/s)",
    "model_resize": "FrameResize to 224 + clip flip in the model, on this CPU (clips/s)",
}


def _rows(runs, conv, conv_bound, args):
    """The table: the training pipeline against its bound (the headline), each stage, conversion."""
    bound, headline = runs["bound"], "training pipeline: index reads, resize in the model (clips/s)"
    rows = [_row(headline, runs["index_model"], bound, ">= 0.8",
                 f"decode the {args.segments} sampled JPEGs only")]  # fmt: skip
    rows += [_row(stage, runs[name], bound, "", "same bound") for name, stage in STAGES.items()]
    conversion = f"PyAV decode + resize + JPEG encode, {args.workers} processes"
    rows.append(dict(stage="conversion (frames/s)", measured=median(conv), bound=median(conv_bound),
                     ratio=median(conv) / median(conv_bound), target=">= 0.7", bound_is=conversion))  # fmt: skip
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default=None, help="folder of videos (default: shared clips)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="ispan_bench_"))
    try:
        root, source = _video_folder(args.videos, scratch)
        paths = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        data_dir = scratch / "ds"
        conv, conv_bound = [], []
        for _ in range(args.repeats):
            conv_bound.append(bound_conversion(paths, args.workers))
            conv.append(measure_conversion(root, data_dir, args.workers))
        encoded = _sampled_frames(data_dir, args.segments)
        runs = {name: [] for name in RUN_NAMES}
        common = (data_dir, args.segments, args.image_size, args.batch, args.batches)
        for _ in range(args.repeats):
            runs["bound"].append(bound_pipeline(encoded, args.batch, args.batches))
            runs["index_model"].append(measure_pipeline(*common, reader="index", resize="model",
                                                        flip=False))  # fmt: skip
            runs["index_pipeline"].append(measure_pipeline(*common, reader="index"))
            runs["records_pipeline"].append(measure_pipeline(*common, reader="records"))
            runs["records_cached"].append(measure_pipeline(*common, reader="records", cache=True))
            runs["plan_index"].append(measure_plan(*common, reader="index"))
            runs["plan_records"].append(measure_plan(*common, reader="records"))
            runs["transform"].append(measure_transform(encoded, args.image_size, args.batch,
                                                       args.batches))  # fmt: skip
            runs["transform_no_resize"].append(measure_transform(
                encoded, args.image_size, args.batch, args.batches, resize=False))  # fmt: skip
            runs["model_resize"].append(measure_model_resize(*common))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = _rows(runs, conv, conv_bound, args)
    print(f"videos: {source}; K={args.segments}, {args.image_size}x{args.image_size} crops, "
          f"batch {args.batch}, {args.repeats} alternating repeats (medians)")  # fmt: skip
    print_table(rows, ["stage", "measured", "bound", "ratio", "cpu_ms", "bound_cpu_ms",
                       "cpu_ratio", "target", "bound_is"])  # fmt: skip
    payload = {
        "command": command_line(__file__, argv or None),
        "videos": source, "args": vars(args), "rows": rows,
        "runs": {**runs, "conversion": conv, "conversion_bound": conv_bound},
    }  # fmt: skip
    write_json("input_pipeline", payload)
    return rows


if __name__ == "__main__":
    main()
