"""`linedesk demo` is the first thing a new user runs: it must play every step and say so."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bots.demo import run_demo


async def test_demo_plays_every_step_and_exits_0() -> None:
    out = io.StringIO()
    code = await run_demo(out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "0 failed" in text
    for line in ("Ivan sees", "← Hello! An operator will answer shortly.", "[Take] [Start process] [Close]",
                 "You are offline", "▶ Handle request started by Anna", "← Your request #1 is registered",
                 "← Request #1: registered", "HTTP 401"):
        assert line in text, line
    assert "\033[" not in text  # plain text when not a terminal


def test_demo_runs_from_any_folder_and_writes_nothing_there(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bots.cli", "demo", "--quiet"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks passed, 0 failed" in result.stdout
    assert list(tmp_path.iterdir()) == []
