"""The training scripts: `--help` with defaults and argument errors before TensorFlow is imported, one
line per mistake (exit status 2), a traceback only with `--debug`."""

import pytest

from tests.cli.scripts import (
    SCRIPTS,
    TENSORFLOW_IMPORTED,
    assert_one_line_error,
    run_script,
)


def _options_without_help(text):
    """The options of an argparse `--help` listed with no help text (argparse then shows no default
    either): the invocation alone on its line, not followed by an indented help line."""
    lines = [*text.splitlines(), ""]
    return [
        line.split()[0].rstrip(",")
        for line, after in zip(lines, lines[1:], strict=False)
        if line.startswith("  -") and "  " not in line.strip()
        and not (after.startswith(" " * 10) and not after.strip().startswith("-"))
    ]  # fmt: skip


def test_an_option_without_help_is_found():
    text = "options:\n  --a A       does a (default: 1)\n  --b B\n  --long-option LONG_OPTION\n"
    text += "                        does c\n  --d D\n\ngroup:\n  --e E\n"
    assert _options_without_help(text) == ["--b", "--d", "--e"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_defaults_without_tensorflow(script):
    done = run_script(script, "--help", importtime=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--debug" in done.stdout and "--verbose" in done.stdout
    # every script but reindex.py has options with a value default (a switch's False is not shown)
    assert ("default" in done.stdout) == (script != "training/reindex.py")
    assert "(default: [])" not in done.stdout and "(default: )" not in done.stdout
    assert not _options_without_help(done.stdout), "every option says what it does and its default"
    assert not TENSORFLOW_IMPORTED.search(done.stderr), f"{script} --help imported TensorFlow"


@pytest.mark.parametrize(
    ("script", "args", "fragments"),
    [
        ("training/fit.py", ["--set", "fuson=1"], ["Received: key='fuson'"]),
        ("training/fit.py", ["--backbone", "resnet5"], ["model.backbone", "resnet5"]),
        ("training/tune.py", ["--set", "train.epochs=abc"], ["train.epochs"]),
        # a stream key the model would ignore is refused on the merged request, naming the key
        ("training/fit.py", ["--set", "model.flow_length=3"],
         ["model.flow_length applies to flow and two-stream models", "model.modality='rgb'",
          "Received: model.flow_length=3"]),
        ("training/tune.py", ["--set", "model.stream_fusion=concat", "--modality", "flow"],
         ["unrecognized arguments: --modality flow"]),
        ("training/tune.py", ["--set", "model.stream_fusion=concat", "--set", "model.modality=flow"],
         ["model.stream_fusion applies to two-stream models", "Received: model.stream_fusion="]),
        ("training/evaluate.py", ["--model", "m.keras", "--sweep", "1,2,x"],
         ["--sweep: '1,2,x' is not a comma-separated list of integers"]),
        ("training/evaluate.py", ["--model", "missing.keras"], ["--model missing.keras: file not found"]),
        ("training/evaluate.py", ["--model", "m.keras", "--segments", "0"], ["segments=0"]),
        ("training/predict.py", ["v.mp4", "--model", "missing.keras"], ["--model missing.keras"]),
        # a file that is not a .keras archive, a missing --config, an --output that cannot be made:
        # each names its flag (user review)
        ("training/predict.py", ["v.mp4", "--model", "README.md"],
         ["--model README.md: not a .keras model file"]),
        ("training/evaluate.py", ["--model", "README.md"], ["--model README.md: not a .keras model file"]),
        ("training/fit.py", ["--config", "no/such.json"], ["--config no/such.json: file not found"]),
        ("training/tune.py", ["--config", "no/such.toml"], ["--config no/such.toml: file not found"]),
        ("training/fit.py", ["--data", "no/such/dir"], ["Dataset folder not found: --data no/such/dir"]),
        ("training/tune.py", ["--data", "no/such/dir"], ["Dataset folder not found: --data no/such/dir"]),
        ("training/synthetic.py", ["--output", "/proc/no/such"],
         ["--output /proc/no/such: cannot create the folder"]),
        # a flag that applies only with another is refused, never ignored (user review)
        ("training/predict.py", ["v.mp4", "--model", "m.keras", "--anytime", "--frames", "4",
                                 "--max-frames", "16"],
         ["--frames and --max-frames both set the frames at most with --anytime",
          "Received: --frames=4, --max-frames=16"]),
        ("training/predict.py", ["v.mp4", "--model", "m.keras", "--budget-ms", "5"],
         ["--budget-ms needs --anytime"]),
        ("training/prepare.py", ["--videos", "v", "--output", "o", "--jpeg-quality", "0"],
         ["--jpeg-quality must be in [1, 100]", "Received: 0"]),
        ("training/prepare.py", ["--videos", "v", "--output", "o", "--fps", "-1"],
         ["--fps must be positive", "Received: fps=-1.0"]),
        ("training/reindex.py", ["no/such/folder"], ["no/such/folder"]),
        # issue 16: optical flow (the contrib wheel is not installed: TV-L1 is refused, naming the flag)
        ("training/prepare.py", ["--videos", "v", "--output", "o", "--flow", "--flow-method", "tvl1"],
         ["--flow-method tvl1", "opencv-contrib-python-headless"]),
        ("training/prepare.py", ["--add-flow", "d", "--output", "o"], ["--add-flow DIR takes no"]),
        ("training/prepare.py", ["--videos", "v", "--output", "o", "--flow-method", "tvl1"],
         ["--flow-method is for --flow"]),
        ("training/synthetic.py", ["--variant", "motion", "--num_classes", "3"],
         ["Received: num_classes=3"]),
    ],
)  # fmt: skip
def test_argument_and_config_errors_are_one_line_before_tensorflow(script, args, fragments):
    prog = script.rsplit("/", 1)[1]
    done = run_script(script, *args, importtime=True)
    assert_one_line_error(done, prog, *fragments)
    assert not TENSORFLOW_IMPORTED.search(done.stderr), f"{script} imported TensorFlow first"


def test_debug_shows_the_traceback():
    done = run_script("training/evaluate.py", "--model", "missing.keras", "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "missing.keras" in done.stderr


def test_keras_ispan_io_does_not_import_keras():
    import subprocess
    import sys

    from tests.cli.scripts import REPO_ROOT

    code = (
        "import sys, keras_ispan.io.atomic, keras_ispan.io.transform, keras_ispan.io.quiet_logs;"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_keras_ispan_names_load_on_first_use():
    import keras_ispan
    from keras_ispan import PCARegularizer, PyramidAttention, layers

    assert PyramidAttention is layers.PyramidAttention
    assert PCARegularizer is keras_ispan.regularizers.PCARegularizer
    assert set(keras_ispan.__all__) <= set(dir(keras_ispan))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        keras_ispan.nope  # noqa: B018


def test_backbone_names_match_the_registry():
    from keras_ispan.models import BACKBONES
    from training.config.sections import BACKBONE_NAMES

    assert tuple(BACKBONES) == BACKBONE_NAMES
