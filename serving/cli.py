"""What the command lines of `serving/` share (the training application has its own `training/cli.py`;
serving never imports training): help with defaults, `--debug` / `--verbose`, quiet library logs, and
mistakes answered with one line `prog: error: ...` (exit status 2). No TensorFlow here."""

import argparse
import sys


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every option's default."""


def add_common_flags(parser):
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="keep the logs of TensorFlow, gRPC and the server"
    )


def quiet_libraries(verbose=False):
    """Keeps TensorFlow's C++, absl and gRPC logs quiet unless `verbose` (before TensorFlow loads)."""
    from keras_ispan.io.quiet_logs import quiet_library_logs

    quiet_library_logs(verbose)


def fail(prog, message):
    """Prints `prog: error: message` on stderr; returns the exit status of a usage error, 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
