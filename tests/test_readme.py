"""The README's commands are the ones CI runs (issue 17): a stranger who follows the README tests what CI tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_block(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(f"## {heading}\n") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, f"no bash block under '## {heading}'"
    return [line.split("#")[0].strip() for line in block[1].splitlines() if line.strip()]


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r"^TEST_COMMAND='([^']+)'$", ci, re.M)
    assert match is not None, ".ci/run has no TEST_COMMAND"
    assert 'bash -c "$TEST_COMMAND"' in ci
    assert match[1] in _readme_block("Development"), f"the README's Development block does not run {match[1]!r}"


def test_ci_and_the_readme_install_from_the_lock_into_a_new_virtualenv() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = "pip install --quiet -c requirements/test.lock -e '.[test]'"
    assert install in ci and 'python3 -m venv "$VENV"' in ci
    assert "pip install -c requirements/test.lock -e '.[test]'" in _readme_block("Development")
    assert "pip install -c requirements/test.lock -e ." in _readme_block("Quick start")
    assert "linedesk demo" in _readme_block("Quick start") and "linedesk demo --quiet" in ci


def test_the_lock_pins_every_dependency_pyproject_names() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = (ROOT / "requirements" / "test.lock").read_text(encoding="utf-8").lower().replace("_", "-")
    pinned = set(re.findall(r"^([a-z0-9.\-]+)==", lock, re.M))
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name = re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is in pyproject.toml but not pinned in requirements/test.lock"
