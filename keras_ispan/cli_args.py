"""The `argparse` pieces both applications' command lines use (`training/cli.py`, `serving/cli.py`;
serving never imports training, so they live here, once).

Standard library only, like `keras_ispan.options` and `keras_ispan.checks`: importing it loads
neither Keras nor TensorFlow, so `--help` and argument errors stay fast.
"""

import argparse

__all__ = ["HelpFormatter", "StoreGiven"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks (its examples) and shows every option's default (not
    `None`, and not twice when the help text states it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


class StoreGiven(argparse.Action):
    """`store` that also records the flag in `namespace.given` (a set of dests): tells a flag given on
    the command line from its default, for checks of flags that apply only with another (`--frames`
    with `--anytime`). Add it with `parser.set_defaults(given=frozenset())`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = frozenset(getattr(namespace, "given", ())) | {self.dest}
