"""Input pipeline and dataset conversion throughput against their bounds, measured side by side.

    python benchmarks/input_pipeline.py              # the shared real clips when present, else generated
    python benchmarks/input_pipeline.py --videos DIR --batches 40 --repeats 3

1. Training pipeline (`training/pipeline.py`, K=8, 224x224 multi-scale crops from 256-short-side JPEG
   frames, batch 8) in clips/s, against the bound measured in the same run: a tf.data pipeline with the
   same parallelism that only decodes the K sampled JPEGs of each clip (full decode, no crop, no resize).
   Target ratio >= 0.8. The pipeline decodes only the crop window, so it may exceed the bound.
2. Conversion (`training/convert.py`, all cores) in frames/s, against PyAV decode + short-side resize
   + JPEG encode alone on the same videos with the same number of processes (no TFRecord writing,
   no parsing of layouts, no progress). Target ratio >= 0.7.
Breakdown rows (same bound): the pipeline with `cache=True` (records in memory: no file read of the
whole clip, ~5 MB for 300 frames at 256p, to use 8 of them), with a fixed 224 crop that needs no
resize (the bilinear resize of the multi-scale crop), on a dataset converted with `--fps 8` (fewer
frames to read per clip), reading the records + the context parse + cutting out the K sampled
frames alone (no decode: what the uncached pipeline pays before any decoding), the same with a full
parse of every frame (records without a frame index: what the index saves), and the training
transform alone on the K sampled JPEGs held in memory (crop-window decode + bilinear resize + flip: no
read, parse, shuffle or batch; the compute ceiling of any pipeline doing this augmentation with
TensorFlow's CPU kernels).
Every row also gives the process CPU time per clip (`cpu_ms`) and `cpu_ratio` = bound CPU / row CPU,
steadier than wall-clock rates when other jobs share the cores.
Runs alternate (bound, measured, bound, measured ...) so machine noise hits both; medians are reported.
Prints a table and writes `benchmarks/results/input_pipeline.json`.
"""

import argparse
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

from benchmarks.common import median, print_table, write_json  # noqa: E402
from keras_ispan.io.video import decode_video  # noqa: E402
from training import augment, records  # noqa: E402
from training.clip_record import ClipFrames, parse_clip, read_clip  # noqa: E402
from training.convert import ConvertConfig, convert_dataset  # noqa: E402
from training.pipeline import PipelineConfig, make_dataset  # noqa: E402

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


def bound_pipeline(encoded, batch, batches):
    ds = tf.data.Dataset.from_tensor_slices(encoded.astype(bytes)).repeat()
    decode = lambda e: tf.map_fn(  # noqa: E731
        lambda x: tf.io.decode_jpeg(x, channels=3), e,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )  # fmt: skip
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    # clips differ in frame size (no crop here), so iterate clip by clip: `batch` clips per step
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return _clips_per_second(ds, 1, batch * batches)


def measure_read_parse(data_dir, k, batch, batches, full_parse=False):
    """Reading the records, parsing their context and cutting out K frames as `make_dataset` does,
    no decoding (clip by clip); with `full_parse`, parsing every frame instead (format version 1)."""
    files = sorted(str(p) for p in data_dir.glob("train-*.tfrecord"))
    ds = tf.data.TFRecordDataset(files, buffer_size=0).repeat()

    def cut(serialized):
        if full_parse:
            clip = ClipFrames.from_encoded(parse_clip(serialized)["frames"])
        else:
            clip, _ = read_clip(serialized)
        return clip.take(augment.tsn_clip_indices(clip.num_frames, k)[0])

    ds = ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return _clips_per_second(ds.prefetch(tf.data.AUTOTUNE), 1, batch * batches)


def measure_transform(encoded, size, batch, batches):
    """`augment.train_clip` (TSN multi-scale crop, resize, flip) on the K sampled JPEGs in memory."""
    k = encoded.shape[1]
    ds = tf.data.Dataset.from_tensor_slices(encoded.astype(bytes)).repeat()
    seeds = tf.data.Dataset.random(seed=0).batch(2)
    kw = dict(scales=(1.0, 0.875, 0.75, 0.66), max_distort=1, flip=True, dct_method="")
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda e, s: augment.train_clip(e, k, size, s, **kw),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=False,
    )  # fmt: skip
    return _clips_per_second(ds.batch(batch).prefetch(tf.data.AUTOTUNE), batch, batches)


def measure_pipeline(data_dir, k, size, batch, batches, cache=False, **crop):
    config = PipelineConfig(num_segments=k, image_size=size, batch_size=batch, repeat=True,
                            shuffle_buffer=64, seed=None, cache=cache, **crop)  # fmt: skip
    return _clips_per_second(make_dataset(data_dir, "train", config), batch, batches)


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
        low_fps_dir = scratch / "ds_fps8"  # fewer stored frames per clip: less to read and parse
        measure_conversion(root, low_fps_dir, args.workers, fps=8.0)
        pipe, pipe_bound, pipe_cached, pipe_noresize, pipe_fps8 = [], [], [], [], []
        read_parse, read_full_parse, transform = [], [], []
        # the fixed crop of S / 256 (224 from 256) needs no resampling: isolates the resize cost
        fixed = dict(scales=(args.image_size / 256,), max_distort=0, flip=False)
        for _ in range(args.repeats):
            pipe_bound.append(bound_pipeline(encoded, args.batch, args.batches))
            pipe.append(measure_pipeline(data_dir, args.segments, args.image_size, args.batch,
                                         args.batches))  # fmt: skip
            pipe_cached.append(measure_pipeline(data_dir, args.segments, args.image_size,
                                                args.batch, args.batches, cache=True))  # fmt: skip
            pipe_noresize.append(measure_pipeline(data_dir, args.segments, args.image_size,
                                                  args.batch, args.batches, **fixed))  # fmt: skip
            pipe_fps8.append(measure_pipeline(low_fps_dir, args.segments, args.image_size,
                                              args.batch, args.batches))  # fmt: skip
            read_parse.append(measure_read_parse(data_dir, args.segments, args.batch, args.batches))
            read_full_parse.append(measure_read_parse(data_dir, args.segments, args.batch,
                                                      args.batches, full_parse=True))  # fmt: skip
            transform.append(measure_transform(encoded, args.image_size, args.batch, args.batches))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    same = "same bound"
    rows = [
        _row("training pipeline (clips/s)", pipe, pipe_bound, ">= 0.8",
             f"decode the {args.segments} sampled JPEGs only"),
        _row("training pipeline, cache=True (clips/s)", pipe_cached, pipe_bound, "", same),
        _row("training pipeline, fixed crop, no resize (clips/s)", pipe_noresize, pipe_bound, "",
             same),
        _row("training pipeline, converted with --fps 8 (clips/s)", pipe_fps8, pipe_bound, "",
             same),
        _row("read + context parse + cut K frames, no decode (clips/s)", read_parse, pipe_bound,
             "", same),
        _row("read + parse every frame (no frame index) + cut K, no decode (clips/s)",
             read_full_parse, pipe_bound, "", same),
        _row("transform alone: crop decode + resize + flip, in memory (clips/s)", transform,
             pipe_bound, "", same),
        dict(stage="conversion (frames/s)", measured=median(conv), bound=median(conv_bound),
             ratio=median(conv) / median(conv_bound), target=">= 0.7",
             bound_is=f"PyAV decode + resize + JPEG encode, {args.workers} processes"),
    ]  # fmt: skip
    print(f"videos: {source}; K={args.segments}, {args.image_size}x{args.image_size} crops, "
          f"batch {args.batch}, {args.repeats} alternating repeats (medians)")  # fmt: skip
    print_table(rows, ["stage", "measured", "bound", "ratio", "cpu_ms", "bound_cpu_ms",
                       "cpu_ratio", "target", "bound_is"])  # fmt: skip
    payload = {
        "command": "python benchmarks/input_pipeline.py " + " ".join(argv or sys.argv[1:]),
        "videos": source, "args": vars(args), "rows": rows,
        "runs": {"pipeline": pipe, "pipeline_bound": pipe_bound, "pipeline_cached": pipe_cached,
                 "pipeline_fixed_crop": pipe_noresize, "pipeline_fps8": pipe_fps8,
                 "read_parse": read_parse,
                 "read_full_parse": read_full_parse, "transform": transform, "conversion": conv,
                 "conversion_bound": conv_bound},
    }  # fmt: skip
    write_json("input_pipeline", payload)
    return rows


if __name__ == "__main__":
    main()
