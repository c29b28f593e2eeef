"""Flag spelling and help text: `synthetic.py` takes hyphenated flags like the other scripts (the
underscore spelling of earlier versions still works, hidden), and `prepare.py --help` shows its
multi-line examples with their `\\` continuations."""

from tests.cli.scripts import run_script
from training.synthetic import parse_args


def test_synthetic_flags_are_hyphenated_and_the_underscore_spelling_still_works():
    hyphen = parse_args(
        ["--num-classes", "3", "--image-size", "40", "--target-visible", "0.2", "0.4"]
    )
    underscore = parse_args(
        ["--num_classes", "3", "--image_size", "40", "--target_visible", "0.2", "0.4"]
    )
    assert hyphen == underscore
    assert (hyphen["num_classes"], hyphen["image_size"], hyphen["target_visible"]) == (
        3,
        40,
        [0.2, 0.4],
    )
    assert parse_args([])["clips_per_shard"] == 100  # SyntheticConfig's default
    assert parse_args(["--clips_per_shard", "7"])["clips_per_shard"] == 7


def test_synthetic_help_documents_the_hyphen_form_only():
    done = run_script("training/synthetic.py", "--help")
    assert done.returncode == 0, done.stderr
    assert "--num-classes" in done.stdout and "--clips-per-shard" in done.stdout
    assert "--num_classes" not in done.stdout and "--image_size" not in done.stdout


def test_prepare_help_keeps_the_line_continuations():
    done = run_script("training/prepare.py", "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    ucf = next(i for i, line in enumerate(lines) if "--layout ucf101" in line)
    assert lines[ucf].rstrip().endswith("\\")
    assert lines[ucf + 1].strip() == "--split 1 --output data/ucf101_s1"
