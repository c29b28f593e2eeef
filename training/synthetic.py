"""Write the embedded synthetic action dataset: `python training/synthetic.py --output DIR`.

One flag per field of the variant's config, hyphenated like the other scripts' (`--num-classes 3
--image-size 40`); the underscore spelling (`--num_classes`) is still accepted.

The generators are `keras_ispan.data.synthetic` (`--variant appearance`, the default: classes differ in
the actor's shape, `SyntheticConfig`) and `keras_ispan.data.synthetic_motion` (`--variant motion`:
classes differ only in the direction of motion, `MotionConfig`; see their docstrings for the design);
`--flow` also stores the optical flow (`prepare.py --add-flow`'s step). `training/fit.py` calls them
when no dataset is given. Sizes not given (`--target-size`, `--distractor-size`) are scaled to
`--image-size` as `fit.py` scales them (`keras_ispan.data.synthetic.scaled_config`).
"""

import argparse
import dataclasses
import pathlib
import re
import sys

if not __package__:  # run as `python training/synthetic.py` from a checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_ispan.options import SYNTHETIC_VARIANTS as VARIANTS  # noqa: E402
from training.cli import make_parser, one_line_errors, quiet_libraries  # noqa: E402


def _config_class(variant):
    if variant == "motion":
        from keras_ispan.data.synthetic_motion import MotionConfig

        return MotionConfig
    from keras_ispan.data.synthetic import SyntheticConfig

    return SyntheticConfig


def _variant(argv):
    """The `--variant` of a command line (its config's fields decide the other options)."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--variant", choices=VARIANTS, default="appearance")
    known, _ = probe.parse_known_args(argv)
    return known.variant


def _scaled_sizes(config_class):
    """The fields scaled to `image_size` when not given (the appearance actor's by its difficulty)."""
    actor = () if config_class.__name__ == "MotionConfig" else ("target_size",)
    return (*actor, *config_class.SCALED_SIZES)


def _config(variant, values):
    """The variant's config, its sizes not given scaled to `--image-size` (`scaled_config`, as in
    `fit.py`); a `ValueError` names the flags and values, and says which sizes were scaled."""
    from keras_ispan.data.synthetic import scaled_config

    config_class = _config_class(variant)
    difficulty = None if variant == "motion" else "default"
    try:
        return scaled_config(config_class, values, difficulty=difficulty)
    except ValueError as error:
        flags = _flags_named(str(error), values)
        raise ValueError(f"{error} ({flags})" if flags else str(error)) from None


def _flags_named(message, values):
    """The flags of the fields `message` names with their values (`--target-size=22, --image-size=40`);
    a size not given says it was scaled to `--image-size`."""
    parts = []
    for name, value in values.items():
        if re.search(rf"(?<![\w.]){name}=", message):
            flag = "--" + name.replace("_", "-")
            scaled = f"{flag} not given: scaled to --image-size"
            parts.append(scaled if value is None else f"{flag}={value}")
    return ", ".join(parts)


def parse_args(argv=None) -> dict:
    """The command line as a dict: `output`, `variant`, `flow`, `write_videos`, `debug`, `verbose` and
    one entry per field of the variant's config (`SyntheticConfig` or `MotionConfig`)."""
    variant = _variant(argv)
    config_class = _config_class(variant)
    parser = make_parser("synthetic.py", "Write the embedded synthetic action dataset.")
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        default=None,
        help="dataset folder (default: the one fit.py uses for these settings, "
        "$KERAS_ISPAN_HOME/datasets/..., ~/.keras_ispan without it; printed at the end)",
    )
    parser.add_argument(
        "--variant", choices=VARIANTS, default="appearance",
        help="appearance: classes differ in shape; motion: only in the direction of motion",
    )  # fmt: skip
    parser.add_argument(
        "--flow", action="store_true", help="also store optical flow (Farneback, format version 4)"
    )
    defaults = config_class()
    for field in dataclasses.fields(config_class):  # --num-classes; --num_classes still works
        value = getattr(defaults, field.name)
        kind = {"type": float, "nargs": 2} if isinstance(value, tuple) else {"type": type(value)}
        flag = "--" + field.name.replace("_", "-")
        help_text = f"{config_class.__name__}.{field.name}"
        if field.name in _scaled_sizes(config_class):  # None: scaled to --image-size
            # `%(default).0s` prints nothing: it stops the formatter appending "(default: None)"
            help_text += f" (default: {value} at {defaults.image_size} px, scaled to --image-size)"
            help_text += "%(default).0s"
            value = None
        parser.add_argument(flag, dest=field.name, default=value, help=help_text, **kind)
        if "_" in field.name:  # the underscore spelling of earlier versions, hidden
            parser.add_argument(
                f"--{field.name}", dest=field.name, default=argparse.SUPPRESS,
                help=argparse.SUPPRESS, **kind,
            )  # fmt: skip
    parser.add_argument("--write-videos", action="store_true", help="also write MP4 files")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a dataset made with other settings in --output (refused without it)",
    )
    args = vars(parser.parse_args(argv))
    if args["write_videos"] and variant == "motion":
        parser.error("--write-videos is for --variant appearance")
    return args


def main(argv=None):
    args = parse_args(argv)
    output, videos = args.pop("output"), args.pop("write_videos")
    variant, flow, overwrite = args.pop("variant"), args.pop("flow"), args.pop("overwrite")
    debug = args.pop("debug")
    quiet_libraries(args.pop("verbose"))
    with one_line_errors("synthetic.py", debug) as errors:
        config = _config(variant, args)
        try:  # no --output: the generators' default folder, the one fit.py uses
            if output is not None:
                output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"--output {output}: cannot create the folder ({error.strerror})"
            ) from None
        if variant == "motion":
            from keras_ispan.data.synthetic_motion import generate_motion_dataset

            path = generate_motion_dataset(output, config, overwrite=overwrite)
        else:
            from keras_ispan.data.synthetic import generate_synthetic_dataset

            path = generate_synthetic_dataset(
                output, config, write_videos=videos, overwrite=overwrite
            )
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
