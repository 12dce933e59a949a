"""The fixtures live inside the repository, each with its origin: a fresh clone runs every test (issue 17)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests import fixtures

TESTS = Path(__file__).resolve().parent


def test_every_reference_file_names_its_origin_and_matches_its_hash() -> None:
    origins = (fixtures.REFERENCE / "ORIGINS.md").read_text(encoding="utf-8")
    files = sorted(p for p in fixtures.REFERENCE.rglob("*") if p.is_file() and p.name != "ORIGINS.md")
    assert len(files) >= 40, files
    for path in files:
        name = path.relative_to(fixtures.REFERENCE).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        assert f"{digest}  {name}" in origins, f"{name}: no row in ORIGINS.md with its sha256 ({digest})"
        assert path.name in origins.replace(f"{digest}  {name}", ""), f"{name}: ORIGINS.md names no origin for it"


def test_no_test_reads_outside_the_repository() -> None:
    outside = re.compile(r"""parents\[[3-9]\]|/work/|["']shared["']|\bshared/reference""")
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in TESTS.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line) and path.name != "test_fixtures.py"
    ]
    assert not offenders, "tests read files outside the repository:\n" + "\n".join(offenders)
