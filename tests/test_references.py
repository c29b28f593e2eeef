"""Names the text points at exist: every dotted `keras_ispan.`, `training.` or `serving.` name and
every path of the tree written in the code, docstrings, comments, docs/ and the README resolves to a
module of the tree and, past the module, to a name defined at its top level (or a class's member).
A function or module that moves leaves no stale pointer behind (`training.engine.datasets` after the
data room was made, `export_saved_model` after the export's rename). Static (ast): nothing imported."""

import ast
import functools
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = ("keras_ispan", "training", "serving", "benchmarks", "tests", "docs")
# `keras_ispan.json` is the export's asset file, `training.md` a doc; not preceded by a path or a name
DOTTED = re.compile(r"(?<![\w./-])(?:keras_ispan|training|serving)(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(
    r"(?<![\w./-])(?:keras_ispan|training|serving|benchmarks|tests|docs)/[\w/]+\.(?:py|md)\b"
)
FILE_SUFFIXES = {"json", "md", "py", "png", "gif", "keras", "toml", "csv", "txt", "config", "cfg"}
MISSING_ON_PURPOSE = {"keras_ispan.nope"}  # tests/cli: a module that does not exist, on purpose


def _texts():
    files = [path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*"))]
    for path in [*files, ROOT / "README.md"]:
        if path.suffix in (".py", ".md") and path.is_file() and path != pathlib.Path(__file__):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                yield f"{path.relative_to(ROOT)}:{number}", line


def _module_file(parts):
    base = ROOT.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.cache
def _tree(path):
    return ast.parse(path.read_text(), str(path))


def _top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                names.update(ast.literal_eval(node.value))  # PEP 562 exports of a package
    return names


def _class_members(tree, name):
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {
                getattr(n, "name", None) or getattr(n, "attr", None) or getattr(n, "id", None)
                for n in ast.walk(node)
            }
    return None


def _why_unresolved(name):
    parts = name.split(".")
    if parts[-1] in FILE_SUFFIXES or parts[-1].startswith("__") or name in MISSING_ON_PURPOSE:
        return None
    module = next(i for i in range(len(parts), 0, -1) if _module_file(parts[:i]) or i == 1)
    path = _module_file(parts[:module])
    rest = parts[module:]
    if path is None:
        return "no such module"
    if rest and rest[0] not in _top_level_names(_tree(path)):
        return f"no {rest[0]} in {path.relative_to(ROOT)}"
    members = _class_members(_tree(path), rest[0]) if len(rest) > 1 else None
    if members is not None and rest[1] not in members:
        return f"no {rest[1]} in class {rest[0]}"
    return None


def test_every_dotted_name_of_the_tree_resolves():
    stale = [
        f"{where}: {match} ({why})"
        for where, line in _texts()
        for match in DOTTED.findall(line)
        if (why := _why_unresolved(match))
    ]
    assert not stale, "\n".join(stale)


def test_every_path_of_the_tree_exists():
    stale = [
        f"{where}: {match}"
        for where, line in _texts()
        for match in PATH.findall(line)
        if not (ROOT / match).exists()
    ]
    assert not stale, "\n".join(stale)


def test_a_stale_name_is_found():
    assert (
        _why_unresolved("training.engine.datasets") == "no datasets in training/engine/__init__.py"
    )
    assert _why_unresolved("keras_ispan.export.saved_model.export_model") is None
    assert "no nope in class" in _why_unresolved("keras_ispan.models.recipe.WarmupSchedule.nope")
    assert _why_unresolved("training.data.datasets.training_clips") is None
