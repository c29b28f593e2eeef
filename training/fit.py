"""Train, evaluate and write a run folder: `python training/fit.py` (synthetic default, a few minutes on CPU).

Examples:
    python training/fit.py                                   # embedded synthetic dataset, small ISPAN
    python training/fit.py --data data/ucf101 --preset ucf101 --name ucf101-split1
    python training/fit.py --config my.json --set optim.learning_rate=0.01 --set train.epochs=30
    python training/fit.py --name synthetic-a                 # run again after a kill: resumes
    python training/fit.py --export                           # also write a servable SavedModel
    python training/fit.py --data DIR --modality two_stream   # RGB + flow (a dataset with --flow)
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    from keras_ispan.options import MODALITIES
    from training.cli import make_experiment_parser

    parser = make_experiment_parser("fit.py", __doc__)
    parser.add_argument("--name", help="run folder name (output.name); an interrupted run resumes")
    parser.add_argument("--runs-dir", help="parent folder of run folders (output.runs_dir)")
    parser.add_argument("--epochs", type=int, help="train.epochs")
    parser.add_argument("--batch-size", type=int, help="data.batch_size")
    parser.add_argument("--backbone", help="model.backbone")
    parser.add_argument("--head", help="model.head: ispan, single, tsn or gap")
    parser.add_argument("--weights", help="model.weights: none, imagenet or a file")
    parser.add_argument("--modality", choices=MODALITIES, help="model.modality (default rgb)")
    parser.add_argument("--strategy", help="train.strategy: default, mirrored or multi_worker")
    parser.add_argument("--export", action="store_true", help="also export a servable SavedModel")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a finished run of that name"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    return parser.parse_args(argv)


def config_from_args(args):
    from training.config.core import load_config

    explicit = {
        "data.data_dir": args.data,
        "output.name": args.name,
        "output.runs_dir": args.runs_dir,
        "train.epochs": args.epochs,
        "data.batch_size": args.batch_size,
        "model.backbone": args.backbone,
        "model.head": args.head,
        "model.weights": args.weights,
        "model.modality": args.modality,
        "train.strategy": args.strategy,
    }
    # (key, value) pairs, not "key=value" text: a flag's value already has its type (`--name 2024` is
    # the run name "2024", `--epochs 3` the integer 3), so it is never re-read from text
    overrides = [(key, value) for key, value in explicit.items() if value is not None]
    if args.export:
        overrides.append(("output.export", True))
    if args.overwrite:
        overrides.append(("output.overwrite", True))
    return load_config(args.config, overrides + list(args.overrides), preset=args.preset)


def main(argv=None) -> int:
    from training.cli import check_experiment_flags, one_line_errors, quiet_libraries

    args = parse_args(argv)
    quiet_libraries(args.verbose)
    with one_line_errors("fit.py", args.debug) as errors:
        check_experiment_flags(args)
        config = config_from_args(args)  # validated before TensorFlow is imported
        if args.print_config:
            import json

            print(json.dumps(config.to_dict(), indent=2))
            return 0
        from training.engine.run import run

        run(config)
    return errors.status


if __name__ == "__main__":
    sys.exit(main())
