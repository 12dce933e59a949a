"""The house stays readable (issue 12): no module of the product over 500 lines outside `sandboxes/` and `tests/`.

The tests share their helpers through `tests/support/` (issue 12, point 9): no module under `tests/` imports from a
test module (`test_*`) or from a `conftest`.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 500


def _product_modules() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    names = listed.stdout.split() if listed.returncode == 0 else []
    if not names:  # not a git checkout (an sdist, say): every .py file under the root
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if ".venv" not in p.parts]
    return [ROOT / n for n in names if not n.startswith(("sandboxes/", "tests/")) and (ROOT / n).is_file()]


def test_no_module_grows_past_500_lines() -> None:
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in _product_modules()
    }
    assert len(sizes) > 50
    too_long = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not too_long, f"modules over {LIMIT} lines (split them by job): {too_long}"


def _imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """Every module a source imports, dotted and absolute (relative imports resolved against `module`), with the
    names imported from a package counted as modules too (`from tests.e2e import test_x` imports `tests.e2e.test_x`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*")
    return found


def _forbidden_imports(source: str, module: str) -> list[str]:
    """Imports of a test module or a conftest of the `tests` package (`aiohttp.test_utils` is not one)."""
    return [
        f"line {line}: {name}"
        for line, name in _imported_modules(source, module)
        if name.split(".")[0] == "tests"
        and any(part.startswith("test_") or part == "conftest" for part in name.split("."))
    ]


def test_the_guard_sees_imports_of_test_modules_and_conftests() -> None:
    source = (
        "from aiohttp.test_utils import TestServer\n"
        "from tests.support.flows import pick\n"
        "from tests.e2e.test_full_path import pick\n"
        "from tests.e2e import test_blocks\n"
        "from .conftest import rig\n"
        "def f():\n"
        "    import tests.conftest\n"
    )
    assert _forbidden_imports(source, "tests.security.test_security") == [
        "line 3: tests.e2e.test_full_path",
        "line 3: tests.e2e.test_full_path.pick",
        "line 4: tests.e2e.test_blocks",
        "line 5: tests.security.conftest",
        "line 5: tests.security.conftest.rig",
        "line 7: tests.conftest",
    ]


def test_tests_import_helpers_only_from_tests_support() -> None:
    """Shared helpers live in `tests/support/`; a test module or a conftest is never imported (a conftest only
    registers fixtures, possibly imported from `tests.support`)."""
    tests = ROOT / "tests"
    modules = sorted(tests.rglob("*.py"))
    assert len(modules) > 50
    offenders = {}
    for path in modules:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if problems := _forbidden_imports(path.read_text(encoding="utf-8"), module):
            offenders[path.relative_to(ROOT).as_posix()] = problems
    assert not offenders, f"import helpers from tests.support, not from test modules or conftests: {offenders}"
