"""Write the embedded synthetic action dataset: `python training/synthetic.py --output DIR`.

The generators are `keras_ispan.data.synthetic` (`--variant appearance`, the default: classes differ in
the actor's shape) and `keras_ispan.data.synthetic_motion` (`--variant motion`: classes differ only in
the direction of motion; see their docstrings for the design); `--flow` also stores the optical flow
(`prepare.py --add-flow`'s step). `training/fit.py` calls them when no dataset is given.
"""

import argparse
import dataclasses
import pathlib
import sys

if not __package__:  # run as `python training/synthetic.py` from a checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from training.cli import make_parser, one_line_errors, quiet_libraries  # noqa: E402

VARIANTS = ("appearance", "motion")


def _config_class(variant):
    if variant == "motion":
        from keras_ispan.data.synthetic_motion import MotionConfig

        return MotionConfig
    from keras_ispan.data.synthetic import SyntheticConfig

    return SyntheticConfig


def _variant(argv):
    """The `--variant` of a command line (its fields decide the other options)."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--variant", choices=VARIANTS, default="appearance")
    known, _ = probe.parse_known_args(argv)
    return known.variant


def parse_args(argv=None):
    variant = _variant(argv)
    config_class = _config_class(variant)
    parser = make_parser("synthetic.py", "Write the embedded synthetic action dataset.")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="dataset folder")
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        default="appearance",
        help="appearance: classes differ in shape; motion: only in the direction of motion",
    )
    parser.add_argument(
        "--flow", action="store_true", help="also store optical flow (Farneback, format version 4)"
    )
    defaults = config_class()
    for field in dataclasses.fields(config_class):
        value = getattr(defaults, field.name)
        if isinstance(value, tuple):
            parser.add_argument(f"--{field.name}", type=float, nargs=2, default=value)
        else:
            parser.add_argument(f"--{field.name}", type=type(value), default=value)
    parser.add_argument("--write-videos", action="store_true", help="also write MP4 files")
    args = vars(parser.parse_args(argv))
    if args["write_videos"] and variant == "motion":
        parser.error("--write-videos is for --variant appearance")
    return config_class, args


def main(argv=None):
    config_class, args = parse_args(argv)
    output, videos = args.pop("output"), args.pop("write_videos")
    variant, flow = args.pop("variant"), args.pop("flow")
    debug = args.pop("debug")
    quiet_libraries(args.pop("verbose"))
    with one_line_errors("synthetic.py", debug) as errors:
        config = config_class(**args)
        if variant == "motion":
            from keras_ispan.data.synthetic_motion import generate_motion_dataset

            path = generate_motion_dataset(output, config)
        else:
            from keras_ispan.data.synthetic import generate_synthetic_dataset

            path = generate_synthetic_dataset(output, config, write_videos=videos)
        if flow:
            from keras_ispan.data.add_flow import add_flow_to_dataset
            from keras_ispan.data.pipeline import read_dataset_info

            if not read_dataset_info(path).flow:
                add_flow_to_dataset(path)
    if errors.status:
        sys.exit(errors.status)
    print(path)
    return path


if __name__ == "__main__":
    main()
