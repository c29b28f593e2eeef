"""What the command lines of `serving/` share (the training application has its own `training/cli.py`;
serving never imports training): help with defaults, `--debug` / `--verbose`, quiet library logs, and
mistakes answered with one line `prog: error: ...` (exit status 2). No TensorFlow here."""

import argparse
import sys


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every option's default (not
    `None`, and not twice when the help text states it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


# the flags of every serving command line, all `store_true`
COMMON_FLAGS = {
    "--debug": "show the traceback of an error instead of one line",
    "--verbose": "keep the logs of TensorFlow, gRPC and the server",
}


class StoreGiven(argparse.Action):
    """`store` that also records the flag in `namespace.given` (a set of dests): tells a flag given on
    the command line from its default (`--frames` or `--quality` with `--anytime`). The same as
    `training/cli.py`'s (serving never imports training). Add it with
    `parser.set_defaults(given=frozenset())`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = frozenset(getattr(namespace, "given", ())) | {self.dest}


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
