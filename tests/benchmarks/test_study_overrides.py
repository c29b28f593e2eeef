"""The run overrides the studies share (`benchmarks.common.study_run_overrides`): what each kind of
study asked for when it wrote them by hand (the values a rerun must keep to reproduce the README)."""

from benchmarks.common import study_run_overrides

QUIET = {
    "train.verbose": 2,
    "output.tensorboard": False,
    "output.runs_dir": "r",
    "output.name": "n",
}


def test_a_fresh_run_without_a_frames_sweep():
    """loss_scales.py, precise_bn_cost.py: every run starts again."""
    expected = QUIET | {"output.overwrite": True, "eval.frames_sweep": []}
    assert study_run_overrides("r", "n") == expected


def test_a_reused_run():
    """accuracy_study.py, bn_collapse.py, frames_tradeoff.py: a finished run is reused (no
    overwrite), still without the frames sweep."""
    assert study_run_overrides("r", "n", overwrite=False) == QUIET | {"eval.frames_sweep": []}


def test_a_reused_run_with_the_presets_frames_sweep():
    """two_stream_study.py: the preset's frames sweep is kept (the key is not set)."""
    assert study_run_overrides("r", "n", overwrite=False, frames_sweep=True) == QUIET
