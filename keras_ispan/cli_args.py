"""The `argparse` pieces both applications' command lines use (`training/cli.py`, `serving/cli.py`;
serving never imports training, so they live here, once).

Standard library only, like `keras_ispan.options` and `keras_ispan.checks`: importing it loads
neither Keras nor TensorFlow, so `--help` and argument errors stay fast.
"""

import argparse
import pathlib
import sys
import zipfile

__all__ = [
    "HelpFormatter",
    "StoreGiven",
    "add_anytime_arguments",
    "add_common_flags",
    "check_file_flag",
    "fail",
    "quiet_libraries",
]


def add_common_flags(parser, verbose_help="keep the logs of TensorFlow and other libraries"):
    """`--debug` (a traceback instead of one error line) and `--verbose` (its help: `verbose_help`),
    the switches of every command line of both applications."""
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    parser.add_argument("--verbose", action="store_true", help=verbose_help)


def fail(prog, message):
    """Prints `prog: error: message` on stderr; returns the exit status of a usage error, 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def quiet_libraries(verbose=False):
    """`keras_ispan.io.quiet_logs.quiet_library_logs` (standard library only), imported when called:
    importing `keras_ispan.io` itself loads PyAV and OpenCV, which `--help` does not need."""
    from keras_ispan.io.quiet_logs import quiet_library_logs

    quiet_library_logs(verbose)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks (its examples) and shows every option's default: not
    `None`, an empty list or string or a switch's `False` (they say nothing), and not twice when
    the help text states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        says_nothing = action.default in (None, [], "") or action.nargs == 0
        if says_nothing or "default" in text:
            return text
        return super()._get_help_string(action)


class StoreGiven(argparse.Action):
    """`store` that also records the flag in `namespace.given` (a set of dests): tells a flag given on
    the command line from its default, for checks of flags that apply only with another (`--frames`
    with `--anytime`). Add it with `parser.set_defaults(given=frozenset())`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = frozenset(getattr(namespace, "given", ())) | {self.dest}


def add_anytime_arguments(parser, anytime_help, threshold_help, criterion_help, budget=False):
    """Adds the group "anytime inference (--anytime)" to `parser`: `--anytime`, `--threshold`,
    `--max-frames`, `--criterion` (choices `keras_ispan.options.ANYTIME_CRITERIA`) and, with
    `budget`, `--budget-ms`; all default to `None` (not given).

    One definition for `training/predict.py` (the model runs in-process) and `serving/client.py` (a
    served export stops by itself): the flags are the same, what they mean for the user is not, so
    each program gives the help of `--anytime`, `--threshold` and `--criterion`. Returns the group.
    """
    from keras_ispan.options import ANYTIME_CRITERIA

    group = parser.add_argument_group("anytime inference (--anytime)")
    group.add_argument("--anytime", action="store_true", help=anytime_help)
    group.add_argument("--threshold", type=float, help=threshold_help)
    group.add_argument(
        "--max-frames", type=int, help="frames at most with --anytime (default: --frames)"
    )
    if budget:
        group.add_argument(
            "--budget-ms",
            type=float,
            help="stop --anytime once the model took this many milliseconds",
        )
    group.add_argument("--criterion", choices=ANYTIME_CRITERIA, help=criterion_help)
    return group


def check_file_flag(flag, path, keras_file=False):
    """Raises `FileNotFoundError` naming `flag` when `path` is not a file and, with `keras_file`,
    `ValueError` when it is not a `.keras` zip archive (checked before TensorFlow is imported)."""
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"{flag} {path}: file not found.")
    if keras_file and not zipfile.is_zipfile(path):
        what = (
            "not a Keras model file (a .keras file is a zip archive; this one is not)"
            if pathlib.Path(path).suffix == ".keras"
            else "not a .keras model file (expected the zip archive that training/fit.py or "
            "model.save writes)"
        )
        raise ValueError(f"{flag} {path}: {what}.")
