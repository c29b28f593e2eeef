"""Every file and folder the command-line tools write follows the user's umask (issue 12).

Each tool runs in a subprocess whose umask is 0o022, so every file must end 0o644 and every folder 0o755:
nothing owner-only (0o600 / 0o700) left by `tempfile.mkstemp` / `mkdtemp` behind an atomic write, so a
TF Serving container, a web server or a colleague can read datasets, runs and exports.
"""

import os
import pathlib
import stat
import subprocess
import sys

import pytest

from tests.training.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

UMASK = 0o022
FILE_MODE, FOLDER_MODE = 0o644, 0o755


def run_tool(args, home, timeout=900):
    """Runs `python <args>` from the repo root under umask 0o022; fails the test on a non-zero exit."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_ISPAN_HOME": str(home)}
    completed = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=lambda: os.umask(UMASK),
    )  # fmt: skip
    assert completed.returncode == 0, (
        f"{args[0]} failed ({completed.returncode}):\n{completed.stdout[-2000:]}\n"
        f"{completed.stderr[-4000:]}"
    )
    return completed


def wrong_modes(root):
    """`["0o600 relative/path", ...]` for everything under `root` (and `root`) without the umask's mode."""
    root = pathlib.Path(root)
    assert root.is_dir(), root
    wrong = []
    for path in [root, *sorted(root.rglob("*"))]:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            wrong.append(f"symlink {path.relative_to(root)}")
            continue
        expected = FOLDER_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
        if stat.S_IMODE(info.st_mode) != expected:
            wrong.append(f"{oct(stat.S_IMODE(info.st_mode))} {path.relative_to(root)}")
    return wrong


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    # pytest makes its temporary folders 0o700: every root checked below is created by the tools
    return tmp_path_factory.mktemp("file_modes")


@pytest.fixture(scope="module")
def synthetic_dir(workdir):
    """A tiny synthetic dataset, with its MP4 videos, written by `training/synthetic.py`."""
    out = workdir / "synthetic"
    run_tool(
        ["training/synthetic.py", "--output", out, "--num_classes", 3, "--train", 12, "--val", 6,
         "--test", 6, "--num_frames", 8, "--image_size", 40, "--target_size", 8,
         "--distractor_size", 6, "--write-videos"],
        workdir / "home",
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def run_dir(workdir, synthetic_dir):
    """One epoch of `training/fit.py` on the tiny dataset (the training tests' smallest settings)."""
    runs = workdir / "runs"
    run_tool(
        ["training/fit.py", "--name", "t", "--runs-dir", runs, "--data", synthetic_dir,
         "--epochs", 1, "--batch-size", 4, "--set", "data.num_segments=4",
         "--set", "data.image_size=32", "--set", "data.shuffle_buffer=16",
         "--set", "model.dropout=0.0", "--set", "model.bn_momentum=0.9",
         "--set", "optim.warmup_epochs=0.5", "--set", "eval.num_segments=4",
         "--set", "eval.frames_sweep=[1,2]", "--set", "train.verbose=0"],
        workdir / "home",
    )  # fmt: skip
    return runs / "t"


def test_synthetic_file_modes(synthetic_dir):
    written = files_under(synthetic_dir)
    assert "metadata.json" in written and "labels.txt" in written
    assert any(name.endswith(".tfrecord") for name in written)
    assert any(name.endswith(".mp4") for name in written)
    assert wrong_modes(synthetic_dir) == []


def test_fit_file_modes(run_dir, synthetic_dir):
    written = files_under(run_dir)
    for name in ("best.keras", "config.json", "metrics.json", "log.csv", "curves.png"):
        assert name in written, written
    assert stat.S_IMODE(os.stat(run_dir / "best.keras").st_mode) == FILE_MODE
    assert wrong_modes(run_dir.parent) == []
    assert wrong_modes(synthetic_dir) == []  # anything the run added to the dataset folder too


def test_export_file_modes(run_dir, workdir):
    base = workdir / "export"
    run_tool(
        ["serving/export.py", "--model", run_dir / "best.keras", "--export-base", base,
         "--name", "ispan", "--warmup-frames", 2],
        workdir / "home",
    )  # fmt: skip
    written = files_under(base)
    for name in ("models.config", "batching.config", "monitoring.config", "ispan/1/saved_model.pb"):
        assert name in written, written
    assert not [name for name in written if ".tmp" in name]
    assert wrong_modes(base) == []


def test_prepare_file_modes(tmp_path):
    from tests.keras_ispan.data.helpers import smooth_frames, write_video

    videos = tmp_path / "videos"
    for i, name in enumerate(("jump", "walk")):
        write_video(videos / name / f"{name}0.mp4", smooth_frames(6, 32, 32, seed=i), fps=10)
    out = tmp_path / "prepared"
    run_tool(
        ["training/prepare.py", "--layout", "folders", "--videos", videos, "--output", out,
         "--test-fraction", 0, "--workers", 1],
        tmp_path / "home",
    )  # fmt: skip
    written = files_under(out)
    assert {"metadata.json", "labels.txt", "train-00000-of-00001.tfrecord"} <= set(written)
    assert wrong_modes(out) == []
