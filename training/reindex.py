"""Write the clip index files of a dataset folder (for datasets made before indexes existed).

    python training/reindex.py data/ucf101_s1

Each shard `train-00000-of-00004.tfrecord` gets `train-00000-of-00004.index` (see `keras_ispan/data/shard_index.py`):
the training pipeline then reads only the K sampled frames of each clip instead of its whole record.
Only missing or stale indexes (older than their shard) are written; each is written atomically.
`training/prepare.py` and `training/synthetic.py` write them already.
"""

import os
import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs

import argparse  # noqa: E402

from keras_ispan.data.pipeline import read_dataset_info  # noqa: E402
from keras_ispan.data.shard_index import ensure_indexes  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=pathlib.Path, help="a dataset folder (prepare.py output)")
    args = parser.parse_args(argv)
    try:
        read_dataset_info(args.data_dir)  # a dataset folder, or a clear error naming it
        written = ensure_indexes(args.data_dir, log=print)
    except (FileNotFoundError, ValueError) as e:
        print(f"reindex.py: error: {e}", file=sys.stderr)
        return 2
    print(f"[index] {written} index file(s) written in {args.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
