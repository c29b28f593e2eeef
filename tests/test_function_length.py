"""Functions stay under 60 lines (the project's standard) in the library, the applications and the
benchmarks. A docstring does not count: `build_classifier` documents 20 arguments in 62 lines."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = ("keras_ispan", "training", "serving", "benchmarks")
LIMIT = 60


def _length_without_docstring(node) -> int:
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    length = node.end_lineno - start + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
        length -= first.end_lineno - first.lineno + 1
    return length


def test_no_function_is_over_60_lines():
    long = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = _length_without_docstring(node)
                    if length > LIMIT:
                        long.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})"
                        )
    assert not long, f"functions over {LIMIT} lines (docstring excluded): {long}"
