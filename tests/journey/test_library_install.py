"""`pip install .` (not editable) into a fresh virtual environment, used from outside the checkout: only
`keras_ispan` is installed at the top level, and the README's "Use as a library" script runs with it.

The fresh environment gets its dependencies (TensorFlow, Keras, ...) through a `.pth` line naming this
environment's site-packages, so the test installs only the project itself (`--no-deps`): the package
under test is the copy built from the checkout, found first on the path.
"""

import os
import pathlib
import re
import subprocess
import sys
import sysconfig

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HANG_LIMIT_S = 1200

pytestmark = pytest.mark.slow


def _library_script():
    readme = (REPO / "README.md").read_text()
    section = re.search(r"^## Use as a library\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    assert section, "README has no 'Use as a library' section"
    return re.search(r"```python\n(.*?)```", section.group(1), flags=re.S).group(1)


def _run(command, cwd, env=None):
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG_LIMIT_S
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


def test_installed_package_is_only_keras_ispan_and_the_readme_script_runs(tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = pathlib.Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp_path,
        ).strip()
    )
    before = {p.name for p in site.iterdir()}
    (site / "outer_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(REPO)],
        cwd=tmp_path,
    )  # fmt: skip
    installed = {p.name for p in site.iterdir()} - before - {"outer_dependencies.pth"}
    top_level = {name for name in installed if not name.endswith((".dist-info", ".pth"))}
    assert top_level == {"keras_ispan"}, installed
    records = next(site.glob("keras_ispan-*.dist-info")) / "RECORD"
    roots = {line.split("/", 1)[0] for line in records.read_text().splitlines()}
    assert not roots & {"training", "serving", "tests", "benchmarks"}, roots

    work = tmp_path / "user"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    where = _run([str(python), "-c", "import keras_ispan; print(keras_ispan.__file__)"], work, env)
    assert where.strip().startswith(str(site)), where
    (work / "script.py").write_text(_library_script())
    printed = _run([str(python), "script.py"], work, env).strip().splitlines()
    signatures = (
        "['preprocess', 'serve_anytime', 'serve_jpeg', 'serve_preprocessed', 'serving_default']"
    )
    assert printed[-1] == f"3 1 {signatures}", printed
    assert (work / "models" / "tiny" / "1" / "saved_model.pb").is_file()
    assert (work / "data" / "tiny" / "metadata.json").is_file()
