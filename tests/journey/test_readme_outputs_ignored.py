"""What the README's commands write into the checkout, run from its root as written (`--output data/...`,
`--export-base models`, the library script's `data/tiny` and `models`, fit.py's `runs/`, tune.py's
`tuning/`), is ignored by git: a dataset or a SavedModel must not land in `git add -A`."""

import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FLAGS = r"--(?:output|export-base|runs-dir|directory)"


def _written_paths():
    readme = (REPO / "README.md").read_text()
    paths = set(re.findall(rf"{FLAGS}[ =]([\w./-]+)", readme))
    paths |= set(re.findall(r'generate_synthetic_dataset\(\s*"([^"]+)"', readme))
    paths |= set(re.findall(r'export_model\(model, "([^"]+)"', readme))
    paths |= {"runs/NAME/best.keras", "tuning/ispan/best.keras"}  # fit.py's and tune.py's defaults
    return sorted(p for p in paths if not p.startswith("/"))


def test_readme_output_folders_are_git_ignored():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    paths = _written_paths()
    assert "data/synthetic" in paths and "models" in paths, paths  # the README still writes these
    not_ignored = [
        path
        for path in paths
        if subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", f"{path}/x"], cwd=REPO
        ).returncode
        != 0
    ]
    assert not not_ignored, (
        f"README commands write these into the checkout, not ignored: {not_ignored}"
    )
