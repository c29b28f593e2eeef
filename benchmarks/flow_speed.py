"""Optical flow in conversion against OpenCV's flow computation alone, measured side by side.

    python benchmarks/flow_speed.py                   # the shared real clips when present, else generated
    python benchmarks/flow_speed.py --videos DIR --max-frames 60 --repeats 3

Rows, in flow frames (one x/y pair per frame step) per second, all with `--workers` processes (default
all cores, one OpenCV thread each, as the conversion's pool runs):
- `bound`: OpenCV alone: grayscale conversion + `cv2.calcOpticalFlowFarneback` (the parameters of
  `keras_ispan.io.flow.FARNEBACK_PARAMS`) of every consecutive pair of the same frames (decoded, resized
  to the same short side, held in memory before the clock starts);
- `prepare --flow`: the whole conversion with flow (`keras_ispan.data.convert`: decode, resize, JPEG
  frames, decode them again, flow, quantise, flow JPEGs, records, index files, metadata);
- `prepare` (no flow): the same conversion without flow, in frames per second: the difference with
  the row above is what flow adds;
- `--add-flow`: flow added to the dataset converted without it (`keras_ispan.data.add_flow`: read the
  records, decode the frame JPEGs, flow, rewrite the shards and their indexes).
`ratio` is a row's rate over the bound's (target >= 0.7 for `prepare --flow`: flow dominates the
conversion's cost). Runs alternate (bound, prepare --flow, prepare, add-flow, bound, ...) so machine
noise hits all; medians are reported. Prints a table and writes `benchmarks/results/flow_speed.json`.
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

from benchmarks.common import median, print_table, write_json  # noqa: E402
from benchmarks.input_pipeline import _video_folder  # noqa: E402
from keras_ispan.io.flow import FARNEBACK_PARAMS  # noqa: E402
from keras_ispan.io.video import decode_video  # noqa: E402


def _opencv_flow(frames):
    """Farneback on every consecutive pair of uint8 RGB `frames` (OpenCV alone); returns the steps."""
    import cv2

    cv2.setNumThreads(1)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    for a, b in zip(gray[:-1], gray[1:], strict=True):
        cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK_PARAMS)
    return len(gray) - 1


def bound(clips, workers):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        start = time.perf_counter()
        steps = sum(pool.imap(_opencv_flow, clips, chunksize=1))
        return steps / (time.perf_counter() - start), steps


def convert(root, out, workers, args, flow):
    from keras_ispan.data.convert import ConvertConfig, convert_dataset

    config = ConvertConfig(videos=root, output=out, workers=workers, test_fraction=0.0,
                           val_fraction=0.0, overwrite=True, short_side=args.short_side,
                           max_frames=args.max_frames, flow=flow)  # fmt: skip
    start = time.perf_counter()
    summary = convert_dataset(config, log=None)
    seconds = time.perf_counter() - start
    steps = summary.frames - sum(summary.counts.values())  # T - 1 steps per clip
    return (steps if flow else summary.frames) / seconds


def add_flow(source, scratch, workers):
    from keras_ispan.data.add_flow import add_flow_to_dataset

    target = scratch / "add"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    start = time.perf_counter()
    summary = add_flow_to_dataset(target, workers=workers, log=None)
    return summary.flow_steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default=None, help="folder of videos (default: shared clips)")
    parser.add_argument("--max-frames", type=int, default=48, help="frames kept per video")
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--workers", type=int, default=0, help="processes (0: all cores)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    workers = args.workers or os.cpu_count() or 1
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="flow_speed_"))
    try:
        root, source = _video_folder(args.videos, scratch)
        paths = sorted(p for p in root.rglob("*") if p.is_file())
        clips = [decode_video(p, short_side=args.short_side, max_frames=args.max_frames)[0]
                 for p in paths]  # fmt: skip
        clips = [c for c in clips if len(c) > 1]
        runs = {"bound": [], "prepare_flow": [], "prepare": [], "add_flow": []}
        for _ in range(args.repeats):
            runs["bound"].append(bound(clips, workers)[0])
            runs["prepare_flow"].append(convert(root, scratch / "flow", workers, args, True))
            runs["prepare"].append(convert(root, scratch / "plain", workers, args, False))
            runs["add_flow"].append(add_flow(scratch / "plain", scratch, workers))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = median(runs["bound"])
    names = {"bound": "OpenCV Farneback alone (bound)", "prepare_flow": "prepare --flow",
             "prepare": "prepare (no flow; frames/s)", "add_flow": "prepare --add-flow DIR"}  # fmt: skip
    rows = [{"row": names[k], "key": k, "rate_per_s": median(v), "ratio": median(v) / base,
             "runs": [round(x, 1) for x in v]} for k, v in runs.items()]  # fmt: skip
    steps = sum(len(c) - 1 for c in clips)
    print(f"videos: {source}; {len(clips)} clips, {steps} flow steps at short side "
          f"{args.short_side}, {workers} processes, {args.repeats} repeats (medians)")  # fmt: skip
    print_table(rows, ["row", "rate_per_s", "ratio", "runs"])
    write_json("flow_speed", {"videos": source, "args": vars(args), "workers": workers,
                              "flow_steps": steps, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
