"""Write the clip index files of a dataset folder (for datasets made before indexes existed).

    python training/reindex.py data/ucf101_s1

Each shard `train-00000-of-00004.tfrecord` gets `train-00000-of-00004.index` (see `keras_ispan/data/shard_index.py`):
the training pipeline then reads only the K sampled frames of each clip instead of its whole record.
Only missing or stale indexes (older than their shard) are written; each is written atomically.
`training/prepare.py` and `training/synthetic.py` write them already.
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from training.cli import make_parser, one_line_errors, quiet_libraries  # noqa: E402


def main(argv=None):
    parser = make_parser("reindex.py", __doc__.splitlines()[0])
    parser.add_argument("data_dir", type=pathlib.Path, help="a dataset folder (prepare.py output)")
    args = parser.parse_args(argv)
    quiet_libraries(args.verbose)
    with one_line_errors("reindex.py", args.debug) as errors:
        if not args.data_dir.is_dir():
            raise NotADirectoryError(f"data_dir {args.data_dir}: not a folder.")
        from keras_ispan.data.pipeline import read_dataset_info
        from keras_ispan.data.shard_index import ensure_indexes

        read_dataset_info(args.data_dir)  # a dataset folder, or a clear error naming it
        written = ensure_indexes(args.data_dir, log=print)
    if errors.status:
        return errors.status
    print(f"[index] {written} index file(s) written in {args.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
