"""Write the embedded synthetic action dataset: `python training/synthetic.py --output DIR`.

The generator is `keras_ispan.data.synthetic` (see its docstring for the design); `training/fit.py`
calls it when no dataset is given.
"""

import dataclasses
import pathlib
import sys

if not __package__:  # run as `python training/synthetic.py` from a checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from training.cli import make_parser, one_line_errors, quiet_libraries  # noqa: E402


def main(argv=None):
    from keras_ispan.data.synthetic import SyntheticConfig

    parser = make_parser("synthetic.py", "Write the embedded synthetic action dataset.")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="dataset folder")
    defaults = SyntheticConfig()
    for field in dataclasses.fields(SyntheticConfig):
        value = getattr(defaults, field.name)
        if isinstance(value, tuple):
            parser.add_argument(f"--{field.name}", type=float, nargs=2, default=value)
        else:
            parser.add_argument(f"--{field.name}", type=type(value), default=value)
    parser.add_argument("--write-videos", action="store_true", help="also write MP4 files")
    args = vars(parser.parse_args(argv))
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
