r"""Convert a folder of videos into a keras-ispan dataset (sharded TFRecords of JPEG frames).

Examples:
    python training/prepare.py --layout folders --videos my_videos/ --output data/mine
    python training/prepare.py --layout ucf101 --videos UCF-101/ --annotations ucfTrainTestlist/ \
        --split 1 --output data/ucf101_s1
    python training/prepare.py --layout hmdb51 --videos hmdb51/ --annotations splits/ --output data/hmdb
    python training/prepare.py --layout charades --videos Charades_v1_480/ --annotations Charades/ \
        --output data/charades --fps 6
    python training/prepare.py --layout manifest --annotations clips.csv --output data/clips
    python training/prepare.py --videos my_videos/ --output data/mine --flow   # with optical flow
    python training/prepare.py --add-flow data/mine   # add optical flow to an existing dataset

`--flow` also stores the optical flow between consecutive frames (OpenCV Farneback, or TV-L1 with
`--flow-method tvl1` where opencv-contrib-python-headless is installed), quantised as TSN does, for
the flow stream (`fit.py --modality flow|two_stream`); `--add-flow DIR` adds it to a dataset made
without it (resumable, like the conversion).
An interrupted run restarts where it stopped (finished shards are kept); `--overwrite` starts over.
Videos that cannot be decoded are reported by path and reason and skipped. A video that decodes to
clearly fewer frames or less time than its container declares (a truncated file) is reported as
incomplete and kept, or skipped with `--incomplete skip`. Every other file under `--videos` that does
not become a clip (not a video, a video in no split) is named with its reason in the log and in
`metadata.json` (`unused_files`).
"""

import dataclasses
import pathlib
import re
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_ispan.data.layouts import (  # noqa: E402 (no TensorFlow: `--help` stays fast)
    LAYOUTS,
    TEST_FRACTION,
    VAL_FRACTION,
)
from keras_ispan.options import FLOW_METHODS, INCOMPLETE_POLICIES  # noqa: E402
from training.cli import make_parser, one_line_errors, quiet_libraries  # noqa: E402


def _optional_int(text):
    return None if text.lower() in ("none", "0", "") else int(text)


def parse_args(argv=None):
    """The `ConvertConfig` of a command line (raises `ValueError` on a bad value), and `--debug`."""
    from keras_ispan.data.convert import ConvertConfig

    p = _parser()
    args = p.parse_args(argv)
    debug, verbose = args.__dict__.pop("debug"), args.__dict__.pop("verbose")
    add_flow = args.__dict__.pop("add_flow")
    if add_flow is not None:
        if args.output is not None or args.videos is not None:
            p.error("--add-flow DIR takes no --videos or --output (it rewrites DIR in place)")
        quiet_libraries(verbose)
        return AddFlowRequest(add_flow, args.flow_method, args.workers), debug
    if args.flow_method != "farneback" and not args.flow:
        p.error("--flow-method is for --flow or --add-flow DIR")
    if args.output is None:
        p.error("the following arguments are required: --output")
    if args.videos is None and args.layout != "manifest":
        p.error(f"--videos is required for --layout {args.layout}")
    quiet_libraries(verbose)
    try:
        return ConvertConfig(**vars(args)), debug
    except ValueError as error:
        # the setting's flag, not its field: `jpeg_quality` -> --jpeg-quality
        fields = {f.name for f in dataclasses.fields(ConvertConfig)}
        message = re.sub(
            r"`(\w+)`",
            lambda m: "--" + m.group(1).replace("_", "-") if m.group(1) in fields else m.group(0),
            str(error),
            count=1,
        )
        raise ValueError(message) from None


def _parser():
    """The parser of the videos, the dataset folder, the conversion settings and the split."""
    p = make_parser("prepare.py", __doc__)
    p.add_argument("--layout", choices=LAYOUTS, default="folders", help="how videos are organised")
    p.add_argument("--videos", type=pathlib.Path, help="the folder of videos")
    p.add_argument("--output", type=pathlib.Path, help="the dataset folder to write")
    p.add_argument(
        "--annotations", type=pathlib.Path, help="split/label files (folder or manifest)"
    )
    p.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="UCF101/HMDB51 split")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: all cores)")
    p.add_argument("--short-side", type=_optional_int, default=256, help="resize; 0 keeps the size")
    p.add_argument("--fps", type=float, default=None, help="subsample to at most this frame rate")
    p.add_argument("--max-frames", type=_optional_int, default=None, help="frames kept per video")
    p.add_argument("--jpeg-quality", type=int, default=90, help="of frames and flow, 1 to 100")
    p.add_argument(
        "--clips-per-shard", type=int, default=64, help="clips per TFRecord shard (and index file)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=VAL_FRACTION,
        help="folders/manifest without splits: the share of each class carved into `val`, where "
        "fit.py selects its best epoch (a class of 3 or more videos keeps at least one; 0: no val, "
        "and fit.py then carves one from train at load time)",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=TEST_FRACTION,
        help="folders/manifest without splits: the share of each class carved into `test`",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="the split's seed (recorded in metadata.json)"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="discard what --output holds, start over"
    )
    _add_handling_flags(p)
    return p


def _add_handling_flags(p):
    """`--incomplete` and the optical flow flags (`--flow`, `--flow-method`, `--add-flow`)."""
    p.add_argument(
        "--incomplete",
        choices=INCOMPLETE_POLICIES,
        default="keep",
        help="videos decoding to under 90%% of their declared frames or duration (truncated): "
        "keep what decodes, or skip them; reported by name either way",
    )
    p.add_argument(
        "--flow",
        action="store_true",
        help="also store the optical flow between consecutive frames (format version 4)",
    )
    p.add_argument(
        "--flow-method",
        choices=FLOW_METHODS,
        default="farneback",
        help="optical flow method; tvl1 needs opencv-contrib-python-headless",
    )
    p.add_argument(
        "--add-flow",
        type=pathlib.Path,
        metavar="DIR",
        help="add optical flow to the existing dataset DIR (instead of converting videos)",
    )


@dataclasses.dataclass(frozen=True)
class AddFlowRequest:
    """`--add-flow DIR`: `keras_ispan.data.add_flow.add_flow_to_dataset` arguments."""

    data_dir: pathlib.Path
    method: str = "farneback"
    workers: int = 0


def main(argv=None):
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    with one_line_errors("prepare.py", debug) as errors:
        config, debug = parse_args(argv)
        if isinstance(config, AddFlowRequest):
            from keras_ispan.data.add_flow import add_flow_to_dataset

            summary = add_flow_to_dataset(config.data_dir, config.method, config.workers)
        else:
            from keras_ispan.data.convert import convert_dataset

            summary = convert_dataset(config)
    if errors.status:
        return errors.status
    if isinstance(config, AddFlowRequest):
        return 0
    return 0 if sum(summary.counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
