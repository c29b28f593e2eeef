"""Write the embedded synthetic action dataset: `python training/synthetic.py --output DIR`.

One flag per `keras_ispan.data.synthetic.SyntheticConfig` field, hyphenated like the other scripts'
(`--num-classes 3 --image-size 40`); the underscore spelling (`--num_classes`) is still accepted.

The generator is `keras_ispan.data.synthetic` (see its docstring for the design); `training/fit.py`
calls it when no dataset is given.
"""

import argparse
import dataclasses
import pathlib
import sys

if not __package__:  # run as `python training/synthetic.py` from a checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from training.cli import make_parser, one_line_errors, quiet_libraries  # noqa: E402


def parse_args(argv=None) -> dict:
    """The command line as a dict: `output`, `write_videos`, `debug`, `verbose` and one entry per
    `SyntheticConfig` field."""
    from keras_ispan.data.synthetic import SyntheticConfig

    parser = make_parser("synthetic.py", "Write the embedded synthetic action dataset.")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="dataset folder")
    defaults = SyntheticConfig()
    for field in dataclasses.fields(SyntheticConfig):  # --num-classes; --num_classes still works
        value = getattr(defaults, field.name)
        kind = {"type": float, "nargs": 2} if isinstance(value, tuple) else {"type": type(value)}
        flag = "--" + field.name.replace("_", "-")
        help_text = f"SyntheticConfig.{field.name}"
        parser.add_argument(flag, dest=field.name, default=value, help=help_text, **kind)
        if "_" in field.name:  # the underscore spelling of earlier versions, hidden
            parser.add_argument(
                f"--{field.name}", dest=field.name, default=argparse.SUPPRESS,
                help=argparse.SUPPRESS, **kind,
            )  # fmt: skip
    parser.add_argument("--write-videos", action="store_true", help="also write MP4 files")
    return vars(parser.parse_args(argv))


def main(argv=None):
    from keras_ispan.data.synthetic import SyntheticConfig

    args = parse_args(argv)
    output, videos = args.pop("output"), args.pop("write_videos")
    debug = args.pop("debug")
    quiet_libraries(args.pop("verbose"))
    with one_line_errors("synthetic.py", debug) as errors:
        config = SyntheticConfig(**args)
        from keras_ispan.data.synthetic import generate_synthetic_dataset

        path = generate_synthetic_dataset(output, config, write_videos=videos)
    if errors.status:
        sys.exit(errors.status)
    print(path)
    return path


if __name__ == "__main__":
    main()
