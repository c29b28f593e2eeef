"""What every command line of `training/` shares: help with defaults, `--debug` and `--verbose`, quiet
library logs, and mistakes answered with one line `prog: error: ...` (exit status 2).

Nothing here imports TensorFlow or Keras: a script parses and validates its arguments with these, and
imports the heavy modules only after (so `--help` and argument errors are fast).
"""

import argparse
import pathlib

from keras_ispan.cli_args import (  # noqa: F401 (re-exported: the scripts import them from here)
    HelpFormatter,
    StoreGiven,
    add_common_flags,
    check_file_flag,
    fail,
    quiet_libraries,
)

# the mistakes a user can make (a wrong path, a bad value, a finished run): one line, no traceback
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
)


def add_config_arguments(parser, config_help):
    """`--config` (its help: `config_help`), `--preset` and `--data`: what a run of `fit.py`, or each
    trial of `tune.py`, starts from."""
    parser.add_argument("--config", help=config_help)
    parser.add_argument(
        "--preset", help="synthetic (default), ucf101, hmdb51 or charades; a file may name its own"
    )
    parser.add_argument(
        "--data",
        help="dataset folder made by prepare.py (data.data_dir); omitted: the synthetic dataset",
    )


def check_experiment_flags(args):
    """The files `fit.py` and `tune.py` start from, checked before TensorFlow is imported: `--config`
    a file and `--data` a folder (`FileNotFoundError` naming the flag)."""
    if args.config is not None:
        check_file_flag("--config", args.config)
    if args.data is not None and not pathlib.Path(args.data).is_dir():
        raise FileNotFoundError(
            f"Dataset folder not found: --data {args.data} (a folder made by prepare.py)"
        )


def make_experiment_parser(
    prog,
    description,
    config_help="a JSON (or TOML) config file; keys override the preset",
    override_example="optim.schedule=step",
    override_what="any config key",
):
    """`make_parser` with what a run of `fit.py`, or each trial of `tune.py`, starts from:
    `add_config_arguments` (`--config` with `config_help`, `--preset`, `--data`) and the repeatable
    `--set SECTION.KEY=VALUE` (of `override_what`, its example `override_example`)."""
    from training.config.core import add_override_argument

    parser = make_parser(prog, description)
    add_config_arguments(parser, config_help)
    add_override_argument(parser, override_example, what=override_what)
    return parser


def make_parser(prog, description):
    """An `ArgumentParser` named `prog` with defaults in `--help`, `--debug` and `--verbose`."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=HelpFormatter
    )
    add_common_flags(parser)
    return parser


class one_line_errors:  # noqa: N801 (a context manager used like a function)
    """Turns a user mistake raised inside into one error line and `status = 2` (the exception is
    swallowed; check `status` right after the block); with `debug` the exception propagates.

        with one_line_errors("fit.py", args.debug) as errors:
            ...
        if errors.status:
            return errors.status
    """

    def __init__(self, prog, debug=False):
        self.prog, self.debug, self.status = prog, debug, 0

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if kind is None or self.debug or not issubclass(kind, USER_ERRORS):
            return False
        self.status = fail(self.prog, error)
        return True
