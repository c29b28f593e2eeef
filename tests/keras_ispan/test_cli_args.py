"""The argparse pieces both applications share (`keras_ispan.cli_args`)."""

import argparse

import pytest

from keras_ispan.cli_args import HelpFormatter, StoreGiven, add_anytime_arguments
from keras_ispan.options import ANYTIME_CRITERIA


def _parser():
    return argparse.ArgumentParser(prog="p", formatter_class=HelpFormatter)


def _help_of(parser, flag):
    """The help text of `flag` in `parser.format_help()`, joined over its wrapped lines."""
    lines = parser.format_help().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(flag))
    text = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip().startswith("-") or not line.startswith(" " * 10):
            break
        text.append(line)
    return " ".join(" ".join(text).split())


def test_help_shows_a_value_default_once_and_no_empty_ones():
    parser = _parser()
    parser.add_argument("--frames", type=int, default=8, help="frames per video")
    parser.add_argument("--threshold", type=float, default=0.9, help="stop (default 0.9)")
    parser.add_argument("--model", help="a file")
    parser.add_argument("--set", action="append", default=[], help="override a key")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--sweep", default="", help="frame counts")  # evaluate.py's: "(default: )"
    assert _help_of(parser, "--frames").endswith("frames per video (default: 8)")
    assert _help_of(parser, "--threshold").endswith("stop (default 0.9)")
    for flag in ("--model", "--set", "--json", "--sweep"):
        assert "default" not in _help_of(parser, flag), flag


def test_store_given_tells_a_given_flag_from_its_default():
    parser = _parser()
    parser.add_argument("--frames", type=int, default=8, action=StoreGiven)
    parser.set_defaults(given=frozenset())
    assert parser.parse_args([]).given == frozenset()
    args = parser.parse_args(["--frames", "8"])
    assert (args.frames, args.given) == (8, {"frames"})


@pytest.mark.parametrize("budget", [False, True])
def test_anytime_arguments(budget):
    parser = _parser()
    group = add_anytime_arguments(parser, "stop early", "a confidence", "which one", budget=budget)
    assert group.title == "anytime inference (--anytime)"
    flags = [a.option_strings[0] for a in group._group_actions]
    expected = ["--anytime", "--threshold", "--max-frames"] + ["--budget-ms"] * budget
    assert flags == expected + ["--criterion"]
    args = parser.parse_args([])
    assert (args.anytime, args.threshold, args.max_frames, args.criterion) == (
        False, None, None, None,
    )  # fmt: skip
    args = parser.parse_args(["--anytime", "--threshold", "0.8", "--criterion", "margin"])
    assert (args.anytime, args.threshold, args.criterion) == (True, 0.8, "margin")
    assert group._group_actions[-1].choices == ANYTIME_CRITERIA
    assert _help_of(parser, "--threshold").endswith("a confidence")
    with pytest.raises(SystemExit):
        parser.parse_args(["--criterion", "entropy"])
