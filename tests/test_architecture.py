"""The rooms of `docs/architecture.md` and what each may import, checked on every import statement of
the tree (lazy imports inside functions included): the table there and `ALLOWED` here say the same."""

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ("keras_ispan.options", "keras_ispan.checks", "keras_ispan.cli_args")
CORE = ("keras", "numpy", "keras_ispan.layers", "keras_ispan.regularizers", "keras_ispan.models")
CORE += ("keras_ispan.io.transform", "keras_ispan.io.coarse_to_fine")
APPLICATION = ("keras_ispan", "keras", "tensorflow", "numpy", "PIL")
# room (a module path prefix) -> what it may import besides the standard library and SHARED
ALLOWED = {
    "keras_ispan.layers": CORE,
    "keras_ispan.regularizers": CORE,
    "keras_ispan.models": CORE,
    "keras_ispan.options": (),
    "keras_ispan.checks": (),
    "keras_ispan.cli_args": ("keras_ispan.io.quiet_logs",),  # standard library only, when called
    "keras_ispan.io.frames_tf": ("numpy", "keras_ispan.io", "tensorflow"),
    "keras_ispan.io": ("numpy", "av", "PIL", "cv2", "absl", "keras_ispan.io"),
    "keras_ispan.data": ("tensorflow", "numpy", "PIL", "av", "cv2", "absl", "keras_ispan.io"),
    "keras_ispan.data.": ("keras_ispan.data",),
    "keras_ispan.export": ("tensorflow", "keras", "numpy", "google.protobuf", "tensorflow_serving"),
    "keras_ispan.export.": ("keras_ispan.models", "keras_ispan.io", "keras_ispan.export"),
    "training": (*APPLICATION, "keras_tuner", "sklearn", "scipy", "matplotlib", "training"),
    "serving": (*APPLICATION, "grpc", "tensorflow_serving", "google.protobuf", "serving"),
}
TRAINING_ORDER = ("config", "data", "evaluation", "engine", "tuning")


def _module(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """`(line, imported module)` for each import; `from package import name` also gives
    `package.name` when that is one of the tree's modules (`from keras_ispan.io import flow`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            folder = ROOT.joinpath(*node.module.split("."))
            found += [
                (node.lineno, f"{node.module}.{alias.name}")
                for alias in node.names
                if (folder / f"{alias.name}.py").is_file() or (folder / alias.name).is_dir()
            ]
    return found


def _within(name, prefixes):
    return any(name == p or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def _allowed(module, name):
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or _within(name, SHARED) or name == "keras_ispan":
        return True
    rooms = [room for room in ALLOWED if _within(module, [room]) or module.startswith(room)]
    return any(_within(name, ALLOWED[room]) for room in rooms)


def _files(*folders):
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_every_import_is_one_the_architecture_allows():
    wrong = []
    for path in _files("keras_ispan", "training", "serving"):
        module = _module(path)
        for line, name in _imports(path):
            if not _allowed(module, name):
                wrong.append(f"{path.relative_to(ROOT)}:{line} {module} imports {name}")
    assert not wrong, "imports docs/architecture.md does not allow:\n" + "\n".join(wrong)


def test_the_library_never_imports_an_application_and_serving_never_imports_training():
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _files("keras_ispan", "serving")
        for line, name in _imports(path)
        if name.split(".")[0] in ("training", "serving")
        and not (path.parts[len(ROOT.parts)] == "serving" and name.startswith("serving"))
    ]
    assert not wrong, wrong


def _training_arrows_backwards():
    backwards = []
    for path in _files("training"):
        parts = path.relative_to(ROOT / "training").parts
        if len(parts) < 2 or parts[0] not in TRAINING_ORDER:
            continue
        for line, name in _imports(path):
            target = [*name.split("."), ""][:2]
            if (
                target[0] == "training"
                and target[1] in TRAINING_ORDER[TRAINING_ORDER.index(parts[0]) + 1 :]
            ):
                backwards.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return backwards


def test_config_and_tuning_keep_the_training_order():
    # config imports no later room; no room imports tuning (the last)
    wrong = [
        line
        for line in _training_arrows_backwards()
        if line.startswith("training/config/") or ".tuning" in line.split(" imports ")[1]
    ]
    assert not wrong, wrong


def test_no_training_room_imports_a_later_one():
    assert not _training_arrows_backwards()


def test_the_tests_of_benchmarks_sit_in_tests_benchmarks():
    """tests/ mirrors the tree: a test that imports a benchmark is a benchmark's test (the loss-scales
    one sat in tests/keras_ispan/, the library's room, and imported training and benchmarks)."""
    misplaced = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if any(name.split(".")[0] == "benchmarks" for _, name in _imports(path))
        and path.parent != ROOT / "tests" / "benchmarks"
    )
    assert not misplaced, misplaced
