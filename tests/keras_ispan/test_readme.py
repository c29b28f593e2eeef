"""The README's quickstart runs as written, and CI runs the README's test command."""

import re

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def _section(title):
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README, flags=re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_quickstart_runs(capsys):
    code = re.search(r"```python\n(.*?)```", _section("Quickstart"), flags=re.S).group(1)
    exec(compile(code, "README.md#quickstart", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "(2, 7, 7, 256) (2, 8, 7, 7) 2"
    assert printed[1] == "(1, 5)"
    assert printed[2] == "['attention', 'logits', 'probabilities']"


def test_ci_runs_the_readme_commands():
    commands = re.search(r"```bash\n(.*?)```", _section("Two commands"), flags=re.S).group(1)
    test_command = [line for line in commands.splitlines() if "pytest" in line][0]
    install, run = (part.strip() for part in test_command.split("&&"))
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert install.replace("pip install", "pip install --quiet") in ci
    assert re.search(rf"^{re.escape(run)}$", ci, flags=re.M)
