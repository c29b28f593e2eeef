"""What the command lines of `serving/` share (the training application has its own `training/cli.py`;
serving never imports training): help with defaults, `--debug` / `--verbose`, quiet library logs, and
mistakes answered with one line `prog: error: ...` (exit status 2). No TensorFlow here."""

import sys

from keras_ispan.cli_args import HelpFormatter, StoreGiven  # noqa: F401 (re-exported)

# the flags of every serving command line, all `store_true`
COMMON_FLAGS = {
    "--debug": "show the traceback of an error instead of one line",
    "--verbose": "keep the logs of TensorFlow, gRPC and the server",
}


def add_common_flags(parser):
    for flag, text in COMMON_FLAGS.items():
        parser.add_argument(flag, action="store_true", help=text)


def fail(prog, message):
    """Prints `prog: error: message` on stderr; returns the exit status of a usage error, 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def quiet_libraries(verbose=False):
    """`keras_ispan.io.quiet_logs.quiet_library_logs`, imported only when called (not for --help)."""
    from keras_ispan.io.quiet_logs import quiet_library_logs

    quiet_library_logs(verbose)
