"""Convert a folder of videos into a keras-ispan dataset (sharded TFRecords of JPEG frames).

Examples:
    python training/prepare.py --layout folders --videos my_videos/ --output data/mine
    python training/prepare.py --layout ucf101 --videos UCF-101/ --annotations ucfTrainTestlist/ \
        --split 1 --output data/ucf101_s1
    python training/prepare.py --layout hmdb51 --videos hmdb51/ --annotations splits/ --output data/hmdb
    python training/prepare.py --layout charades --videos Charades_v1_480/ --annotations Charades/ \
        --output data/charades --fps 6
    python training/prepare.py --layout manifest --annotations clips.csv --output data/clips

An interrupted run restarts where it stopped (finished shards are kept); `--overwrite` starts over.
Videos that cannot be decoded are reported by path and reason and skipped. A video that decodes to
clearly fewer frames or less time than its container declares (a truncated file) is reported as
incomplete and kept, or skipped with `--incomplete skip`. Every other file under `--videos` that does
not become a clip (not a video, a video in no split) is named with its reason in the log and in
`metadata.json` (`unused_files`).
"""

import os
import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs

import argparse  # noqa: E402

from keras_ispan.data.convert import ConvertConfig, convert_dataset  # noqa: E402
from keras_ispan.data.layouts import LAYOUTS  # noqa: E402


def _optional_int(text):
    return None if text.lower() in ("none", "0", "") else int(text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--layout", choices=LAYOUTS, default="folders", help="how videos are organised")
    p.add_argument("--videos", type=pathlib.Path, help="the folder of videos")
    p.add_argument("--output", type=pathlib.Path, required=True, help="the dataset folder to write")
    p.add_argument(
        "--annotations", type=pathlib.Path, help="split/label files (folder or manifest)"
    )
    p.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="UCF101/HMDB51 split")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: all cores)")
    p.add_argument("--short-side", type=_optional_int, default=256, help="resize; 0 keeps the size")
    p.add_argument("--fps", type=float, default=None, help="subsample to at most this frame rate")
    p.add_argument("--max-frames", type=_optional_int, default=None, help="frames kept per video")
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument("--clips-per-shard", type=int, default=64)
    p.add_argument(
        "--val-fraction", type=float, default=0.0, help="folders/manifest without splits"
    )
    p.add_argument(
        "--test-fraction", type=float, default=0.2, help="folders/manifest without splits"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--overwrite", action="store_true", help="discard what --output holds, start over"
    )
    p.add_argument(
        "--incomplete",
        choices=("keep", "skip"),
        default="keep",
        help="videos decoding to under 90%% of their declared frames or duration (truncated): "
        "keep what decodes, or skip them; reported by name either way",
    )
    args = p.parse_args(argv)
    if args.videos is None and args.layout != "manifest":
        p.error(f"--videos is required for --layout {args.layout}")
    return ConvertConfig(**{k: v for k, v in vars(args).items()})


def main(argv=None):
    config = parse_args(argv)
    try:
        summary = convert_dataset(config)
    except (FileNotFoundError, ValueError) as e:
        print(f"prepare.py: error: {e}", file=sys.stderr)
        return 2
    return 0 if sum(summary.counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
