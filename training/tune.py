"""Search ISPAN hyperparameters with KerasTuner: `python training/tune.py` (synthetic data by default).

Examples:
    python training/tune.py --max-trials 2 --epochs 1                  # embedded synthetic dataset
    python training/tune.py --data data/ucf101 --preset ucf101 --tuner bayesian --max-trials 30
    python training/tune.py --config search.toml --objective val_loss --direction min
    python training/tune.py --tune fusion,downsample --set train.epochs=5   # search two names only
    python training/fit.py --config tuning/ispan/best_config.json            # train the best trial

Run it again with the same --directory and --project-name to resume an interrupted search (finished
trials are kept). Distributed: the same command on every machine, with KERASTUNER_TUNER_ID (chief, tuner0,
tuner1, ...), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set, and --directory on a shared filesystem.
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    from training.cli import make_experiment_parser
    from training.tuning.config import DIRECTIONS, TUNERS

    parser = make_experiment_parser(
        "tune.py",
        __doc__,
        config_help="a JSON or TOML file: training config sections (as for fit.py) plus an optional "
        "'tuning' section (TuneConfig keys, 'space' restrictions)",
        override_example="data.batch_size=4",
        override_what="a training config key",
    )
    parser.add_argument("--tuner", choices=TUNERS, help="default random")
    parser.add_argument(
        "--max-trials", type=int, help="trials in all (random, bayesian); default 10"
    )
    parser.add_argument(
        "--objective", help="metric to optimise, e.g. val_accuracy (default train.monitor)"
    )
    parser.add_argument("--direction", choices=DIRECTIONS, help="default: min for *loss, else max")
    parser.add_argument(
        "--epochs", type=int, help="epochs per trial (hyperband: the most); default train.epochs"
    )
    parser.add_argument("--directory", help="parent folder of the search (default tuning)")
    parser.add_argument("--project-name", help="the search's folder name (default ispan)")
    parser.add_argument(
        "--output", help="where summary.* and best_config.json go (default the search folder)"
    )
    parser.add_argument("--tune", help="comma-separated names to search; the others stay fixed")
    parser.add_argument("--seed", type=int, help="the tuner's seed")
    parser.add_argument(
        "--overwrite", action="store_true", help="delete a previous search and start over"
    )
    return parser.parse_args(argv)


def configs_from_args(args):
    from training.tuning.config import load_tuning

    overrides = list(args.overrides)
    # a (key, value) pair: the folder name is taken as it is, never read as JSON
    if args.data is not None:
        overrides.insert(0, ("data.data_dir", args.data))
    tuning = {
        "tuner": args.tuner,
        "max_trials": args.max_trials,
        "objective": args.objective,
        "direction": args.direction,
        "epochs": args.epochs,
        "directory": args.directory,
        "project_name": args.project_name,
        "output": args.output,
        "seed": args.seed,
        "overwrite": True if args.overwrite else None,
        "tune": None
        if args.tune is None
        else [n.strip() for n in args.tune.split(",") if n.strip()],
    }
    return load_tuning(args.config, overrides, tuning, preset=args.preset)


def main(argv=None) -> int:
    from training.cli import USER_ERRORS, check_experiment_flags, fail, quiet_libraries

    args = parse_args(argv)
    quiet_libraries(args.verbose)
    try:
        check_experiment_flags(args)
        train_config, tune_config = configs_from_args(
            args
        )  # validated before TensorFlow is imported
        from training.tuning.search import run_search

        run_search(train_config, tune_config)
    except (*USER_ERRORS, RuntimeError) as error:  # RuntimeError: KerasTuner's "all trials failed"
        if args.debug:
            raise
        return fail("tune.py", error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
