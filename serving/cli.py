"""What the command lines of `serving/` share (the training application has its own `training/cli.py`;
serving never imports training): help with defaults, `--debug` / `--verbose`, quiet library logs, and
mistakes answered with one line `prog: error: ...` (exit status 2). No TensorFlow here."""

from keras_ispan.cli_args import (  # noqa: F401 (re-exported: the scripts import them from here)
    HelpFormatter,
    StoreGiven,
    fail,
    quiet_libraries,
)
from keras_ispan.cli_args import add_common_flags as _add_common_flags


def add_common_flags(parser):
    """`--debug` and `--verbose` (whose logs include gRPC's and the server's here)."""
    _add_common_flags(parser, verbose_help="keep the logs of TensorFlow, gRPC and the server")
