"""Write the embedded synthetic action dataset: `python training/synthetic.py --output DIR`.

The generator is `keras_ispan.data.synthetic` (see its docstring for the design); `training/fit.py`
calls it when no dataset is given.
"""

import argparse
import dataclasses
import os
import pathlib
import sys

if not __package__:  # run as `python training/synthetic.py` from a checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs
    from keras_ispan.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    parser = argparse.ArgumentParser(description="Write the embedded synthetic action dataset.")
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
    path = generate_synthetic_dataset(output, SyntheticConfig(**args), write_videos=videos)
    print(path)
    return path


if __name__ == "__main__":
    main()
