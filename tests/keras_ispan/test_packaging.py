"""Packaging metadata: the Python versions and the requirements setup.cfg declares match what the
code needs."""

import ast
import configparser
import importlib.metadata
import pathlib
import sys

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

SETUP_CFG = pathlib.Path(__file__).resolve().parents[2] / "setup.cfg"


def test_python_requires_admits_311_and_not_310():
    # the code uses `datetime.UTC` and `tomllib`, both new in Python 3.11
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    requires = SpecifierSet(parser["options"]["python_requires"])
    assert "3.11" in requires
    assert "3.12" in requires
    assert "3.10" not in requires
    assert "3.10.14" not in requires


def _requirement_names(requirements):
    return {Requirement(text).name.lower().replace("_", "-") for text in requirements if text}


def _with_dependencies(names):
    """`names` and everything they require, as installed here (extras' requirements left out)."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo.extend(_requirement_names(r for r in requires if "extra ==" not in r))
    return found


def _third_party_imports(folder):
    """Top-level module -> files, for every import under `folder` (lazy imports included)."""
    modules = {}
    for path in sorted((SETUP_CFG.parent / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("keras_ispan", folder):
                    modules.setdefault(top, set()).add(path.name)
    return modules


@pytest.mark.parametrize(
    ("folder", "extras"),
    [("keras_ispan", ()), ("training", ("training",)), ("serving", ("serving",))],
)
def test_requirements_provide_every_module_imported(folder, extras):
    # `pip install .` alone must run the README's "Use as a library" script: the export writes
    # models.config with TF Serving's protos, the synthetic data draws with Pillow, io.video decodes
    # with PyAV (a missing requirement shows only in a fresh environment, never in the dev one);
    # each application needs at most its extra on top
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    lines = parser["options"]["install_requires"].splitlines()
    for extra in extras:
        lines += parser["options.extras_require"][extra].splitlines()
    required = _with_dependencies(_requirement_names(lines))
    distributions = importlib.metadata.packages_distributions()
    missing = {
        module: sorted(files)
        for module, files in _third_party_imports(folder).items()
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & required
    }
    assert not missing, f"imported by {folder}/ but not required by setup.cfg {extras}: {missing}"
