"""`linedesk demo` is the first thing a new user runs: it must play every step and say so."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from bots.cli import _parser
from bots.demo import Transcript, color_enabled, run_demo


async def test_demo_plays_every_step_and_exits_0() -> None:
    out = io.StringIO()
    code = await run_demo(out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "0 failed" in text
    for line in (
        "Ivan sees",
        "← Hello! An operator will answer shortly.",
        "[Take] [Start process] [Processes] [Close]",
        "You are offline",
        "▶ Handle request started by Anna",
        "← Your request #1 is registered",
        "← Request #1: registered",
        "HTTP 401",
    ):
        assert line in text, line
    assert "\033[" not in text  # plain text when not a terminal
    # the story: each of SPEC §9's steps, in order, with its checks and time; then the summary
    headings = [row for row in text.splitlines() if row.startswith("━━ ")]
    assert [row.split(" · ")[0] for row in headings if row[3].isdigit()] == [f"━━ {n}" for n in range(1, 12)]
    assert headings[-1] == "━━ Summary"
    assert text.count("checks passed · ") == 12
    summary = text[text.index("━━ Summary") :]
    assert "✔ 34 checks passed, 0 failed in " in summary
    assert "linedesk init mydesk" in summary and "README.md" in summary


def test_demo_runs_from_any_folder_and_writes_nothing_there(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bots.cli", "demo", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().startswith("34 checks passed, 0 failed in ")
    assert len(result.stdout.strip().splitlines()) == 1  # --quiet: the summary line only
    assert list(tmp_path.iterdir()) == []


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: an empty NO_COLOR does not count
        (False, {"FORCE_COLOR": "1"}, True),
        (False, {"FORCE_COLOR": "0"}, False),
        (True, {"FORCE_COLOR": "false"}, False),
        (False, {"FORCE_COLOR": ""}, False),
        (False, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
        (True, {"TERM": "dumb"}, False),
        (False, {"TERM": "dumb", "FORCE_COLOR": "1"}, True),
    ],
)
def test_colour_only_on_a_terminal_unless_told(tty: bool, environ: dict[str, str], expected: bool) -> None:
    assert color_enabled(FakeTerminal(tty), environ) is expected


def play_two_steps(show: Transcript) -> None:
    show.intro()
    show.step("1", "Ivan writes", "The client writes.")
    show.line("Ivan writes", "Hello", "→", "client")
    show.check(True, "session #1 created")
    show.step("2", "Anna answers")
    show.line("Anna writes", "Hi", "→", "operator")
    show.check(True, "Ivan got it")
    show.check(False, "Ivan got it only once")
    show.summary(1.25)


def test_the_transcript_is_coloured_or_plain() -> None:
    coloured, plain = io.StringIO(), io.StringIO()
    play_two_steps(Transcript(out=coloured, color=True))
    play_two_steps(Transcript(out=plain, color=False))
    assert "\033[32m   ✔ session #1 created\033[0m" in coloured.getvalue()
    assert "\033[1;31m   ✘ Ivan got it only once\033[0m" in coloured.getvalue()
    assert "\033[" not in plain.getvalue()
    assert "   ✔ session #1 created\n" in plain.getvalue()


def test_the_summary_counts_per_step_and_names_the_failures() -> None:
    out = io.StringIO()
    show = Transcript(out=out)
    play_two_steps(show)
    text = out.getvalue()
    assert "   1/1 checks passed · " in text and "   1/2 checks passed · " in text
    summary = text[text.index("━━ Summary") :]
    rows = summary.splitlines()
    assert any(row.startswith("   1  Ivan writes") and "1/1 ✔" in row for row in rows), summary
    assert any(row.startswith("   2  Anna answers") and "1/2 ✘" in row for row in rows), summary
    assert "✘ 2 checks passed, 1 failed in 1.2 s:" in summary
    assert "✘ 2 · Ivan got it only once" in summary
    assert "linedesk init" not in summary  # next steps only when everything worked


def test_quiet_prints_the_summary_line_and_the_failures_only() -> None:
    out = io.StringIO()
    play_two_steps(Transcript(out=out, quiet=True))
    assert out.getvalue() == "2 checks passed, 1 failed in 1.2 s:\n  2 · Ivan got it only once\n"


def test_the_colour_option() -> None:
    assert _parser().parse_args(["demo"]).color == "auto"
    assert _parser().parse_args(["demo", "--color", "never", "--quiet"]).color == "never"
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--color", "sometimes"])
