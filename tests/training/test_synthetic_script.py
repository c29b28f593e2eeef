"""`training/synthetic.py`: sizes not given are scaled to `--image-size` as `fit.py` scales them, and a
size that conflicts with `--image-size` is one error line naming both flags and their values."""

import dataclasses
import json
import re

import pytest

from tests.cli.scripts import run_script
from training.config.core import load_config
from training.synthetic import _config, main, parse_args

TINY = ["--num-classes", "2", "--train", "2", "--val", "0", "--test", "2", "--num-frames", "4"]


@pytest.mark.slow  # ~20 s: a dataset written in a fresh process
def test_image_size_alone_scales_the_actor_and_distractors_like_fit(tmp_path):
    done = run_script(
        "training/synthetic.py", "--output", tmp_path / "d", "--image-size", 40, *TINY
    )
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "d" / "metadata.json").read_text())["synthetic_config"]
    # 22 and 15 px at 112 px, scaled to 40 px: round(7.86) and round(5.36)
    assert (written["target_size"], written["distractor_size"]) == (8, 5)
    fit_config = load_config(overrides=["data.synthetic_size=40"]).data.synthetic_config()
    assert (fit_config.target_size, fit_config.distractor_size) == (8, 5)


def test_a_target_size_too_large_for_the_image_size_names_both_flags(tmp_path):
    args = ("--output", tmp_path / "d", "--image-size", 40, "--target-size", 22, *TINY)
    done = run_script("training/synthetic.py", *args)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("synthetic.py: error: "), done.stderr
    assert "--target-size=22" in error[0] and "--image-size=40" in error[0]
    assert not (tmp_path / "d").exists()


def test_the_motion_variant_scales_from_its_own_defaults():
    values = parse_args(["--variant", "motion", "--image-size", "32"])
    for name in ("output", "variant", "flow", "write_videos", "overwrite", "debug", "verbose"):
        values.pop(name)
    config = _config("motion", values)
    # 14 and 9 px at 64 px, scaled to 32 px
    assert (config.target_size, config.distractor_size) == (7, 4)
    given = _config("motion", values | {"target_size": 10})
    assert given.target_size == 10


def test_a_dataset_of_other_settings_is_kept_without_overwrite(tmp_path):
    """`synthetic.py --output D` with other settings than the dataset in D refuses (it would drop
    that dataset, and any flow `prepare.py --add-flow` added) unless `--overwrite`, as prepare.py."""
    from keras_ispan.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    out = tmp_path / "d"
    sizes = {"image_size": 40, "target_size": 8, "distractor_size": 5}
    first = SyntheticConfig(num_classes=2, train=2, val=0, test=2, num_frames=4, **sizes)
    generate_synthetic_dataset(out, first, log=None)
    before = (out / "metadata.json").read_text()
    done = run_script("training/synthetic.py", "--output", out, "--image-size", 40, *TINY[:2],
                      "--train", 4, *TINY[4:])  # fmt: skip
    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("synthetic.py: error: ") and str(out) in error
    assert "another config" in error and "--overwrite" in error
    assert (out / "metadata.json").read_text() == before
    other = SyntheticConfig(num_classes=2, train=4, val=0, test=2, num_frames=4, **sizes)
    with pytest.raises(ValueError, match="another config"):
        generate_synthetic_dataset(out, other, log=None, overwrite=False)
    generate_synthetic_dataset(out, first, log=None, overwrite=False)  # the same settings: reused
    generate_synthetic_dataset(out, other, log=None)  # the library's default replaces it
    written = json.loads((out / "metadata.json").read_text())["synthetic_config"]
    assert written["train"] == 4


def test_without_output_it_writes_the_folder_fit_uses(tmp_path, monkeypatch, capsys):
    """No `--output`: the generator's default folder under `$KERAS_ISPAN_HOME` (what fit.py reads for
    the same settings), its path printed; it was a `TypeError` traceback (`Path(None)`)."""
    from keras_ispan.data.synthetic import SyntheticConfig, default_synthetic_dir

    monkeypatch.setenv("KERAS_ISPAN_HOME", str(tmp_path))
    monkeypatch.setattr("training.synthetic.quiet_libraries", lambda verbose: None)
    sizes = {"image_size": 40, "target_size": 8, "distractor_size": 5}
    config = SyntheticConfig(num_classes=2, train=2, val=0, test=2, num_frames=4, **sizes)
    path = main([*TINY, "--image-size", "40", "--target-size", "8", "--distractor-size", "5"])
    assert path == default_synthetic_dir(config) and path.parent == tmp_path / "datasets"
    assert json.loads((path / "metadata.json").read_text())["synthetic_config"] == config.to_json()
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(path)


def test_the_refusal_names_the_settings_that_differ(tmp_path):
    from keras_ispan.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    sizes = {"image_size": 40, "target_size": 8, "distractor_size": 5, "num_frames": 4}
    first = SyntheticConfig(num_classes=2, train=2, val=0, test=2, **sizes)
    generate_synthetic_dataset(tmp_path, first, log=None)
    other = dataclasses.replace(first, train=4, seed=3, background_speed=3.0)
    expected = (
        "Received: background_speed=3.0 (the folder's: not set), seed=3 (the folder's: 0), "
        "train=4 (the folder's: 2)"
    )
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        generate_synthetic_dataset(tmp_path, other, log=None, overwrite=False)
