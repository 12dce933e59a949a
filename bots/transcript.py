"""The demo's transcript: who does what, what each side sees, each check's ✔/✘ and each step's time, then a
summary. Coloured only on a terminal (`NO_COLOR` turns colour off, `FORCE_COLOR` on; see `color_enabled`)."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

LABEL_WIDTH = 24
TEXT_WIDTH = 100

# ANSI SGR codes by role; used only when colour is on.
STYLES = {
    "step": "1;36",  # step headings
    "client": "1;33",  # Ivan, Olga, Petra
    "operator": "1;35",  # Anna
    "desk": "1;34",  # what the desks (Slack channel, Telegram group) show
    "bot": "1;32",  # linedesk itself and the processes it runs
    "other": "1;31",  # a forger
    "ok": "32",
    "fail": "1;31",
    "dim": "2",
}


def color_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal only: `NO_COLOR` (any value but empty) turns it off, then `FORCE_COLOR`
    (any value but empty, "0" or "false") turns it on even when piped, and `TERM=dumb` turns it off."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR", "")
    if force:
        return force.strip().lower() not in ("0", "false", "no")
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@dataclass
class StepRecord:
    number: str
    title: str
    started: float
    passed: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclass
class Transcript:
    out: TextIO
    quiet: bool = False
    color: bool = False
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    def paint(self, style: str, text: str) -> str:
        code = STYLES.get(style, style)
        return f"\033[{code}m{text}\033[0m" if self.color and code else text

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(text, file=self.out)

    # --- structure ------------------------------------------------------------------------------
    def intro(self) -> None:
        self.say(
            self.paint("1", "linedesk demo") + " — the scenario of SPEC §9, played against local Telegram and "
            "Slack sandboxes (no tokens, no network)"
        )
        self.say()
        cast = [
            ("Ivan, Olga", "client", "customers who write to the Support line's Telegram bot"),
            ("Petra", "client", "a customer who writes to the linedesk app in a Slack DM (the Sales line)"),
            (
                "Anna",
                "operator",
                "an operator and admin: she works the Slack desk #support-desk and the Telegram desk group",
            ),
            ("linedesk", "bot", "the bots, the desk cards and the processes it runs"),
        ]
        self.say("   Who is who")
        for who, role, what in cast:
            self.say(f"   {self.paint(role, f'{who:<{LABEL_WIDTH}}')} {what}")

    def step(self, number: str, title: str, story: str = "") -> None:
        """Start a step: the previous one is closed with its checks and time."""
        self._close()
        self.steps.append(StepRecord(number, title, time.perf_counter()))
        self.say()
        self.say(self.paint("step", f"━━ {number} · {title}" if number else f"━━ {title}"))
        if story:
            for row in textwrap.wrap(story, TEXT_WIDTH - 3):
                self.say(f"   {row}")
            self.say()

    def end(self) -> None:
        """Close the last step (its time stops here)."""
        self._close()

    def _close(self) -> None:
        if not self.steps or self.steps[-1].seconds:
            return
        record = self.steps[-1]
        record.seconds = max(time.perf_counter() - record.started, 1e-6)
        checks = record.passed + record.failed
        if checks:
            tally = f"{record.passed}/{checks} checks passed"
            self.say(self.paint("dim" if not record.failed else "fail", f"   {tally} · {record.seconds:.2f} s"))
        else:
            self.say(self.paint("dim", f"   {record.seconds:.2f} s"))

    # --- lines ----------------------------------------------------------------------------------
    def line(self, who: str, text: str, arrow: str = "", role: str = "bot") -> None:
        """One thing someone does or sees: `→` they write or click, `←` they receive."""
        label = self.paint(role, f"{who:<{LABEL_WIDTH}}")
        indent = " " * (LABEL_WIDTH + (len(arrow) + 1 if arrow else 0))
        for index, row in enumerate(text.splitlines() or [""]):
            if index == 0:
                self.say(f"   {label} {arrow + ' ' if arrow else ''}{row}")
            else:
                self.say(f"   {indent} {row}")

    def quote(self, text: str) -> None:
        """A message as a chat shows it, on its own."""
        for row in text.splitlines() or [""]:
            self.say(f"   {self.paint('dim', '│')} {row}")

    def check(self, ok: bool, what: str) -> bool:
        record = self.steps[-1] if self.steps else None
        if ok:
            self.passed += 1
            if record:
                record.passed += 1
            self.say(self.paint("ok", f"   ✔ {what}"))
        else:
            self.failed.append(f"{record.number or record.title} · {what}" if record else what)
            if record:
                record.failed += 1
            self.say(self.paint("fail", f"   ✘ {what}"))
        return ok

    # --- the end --------------------------------------------------------------------------------
    def summary(self, elapsed: float) -> None:
        """The table of steps (not in quiet mode), the totals, the failures, what to do next."""
        self._close()
        total = f"{self.passed} checks passed, {len(self.failed)} failed in {elapsed:.1f} s"
        if self.quiet:
            print(total if not self.failed else total + ":\n  " + "\n  ".join(self.failed), file=self.out)
            return
        self.say()
        self.say(self.paint("step", "━━ Summary"))
        width = max((len(s.title) for s in self.steps), default=10)
        self.say(self.paint("dim", f"   {'':<2} {'step':<{width}}  {'checks':>7}  {'time':>7}"))
        for record in self.steps:
            checks = record.passed + record.failed
            tally = f"{record.passed}/{checks}" if checks else "–"
            mark = " " if not checks else ("✔" if not record.failed else "✘")
            row = f"   {record.number:<2} {record.title:<{width}}  {tally:>6} {mark}  {record.seconds:>5.2f} s"
            self.say(self.paint("fail", row) if record.failed else row)
        self.say()
        if self.failed:
            self.say(self.paint("fail", f"   ✘ {total}:"))
            for what in self.failed:
                self.say(self.paint("fail", f"     ✘ {what}"))
            self.say()
            self.say("   Something did not happen as it should. Please report it with the output of")
            self.say("   `linedesk demo --color never`.")
            return
        self.say(self.paint("ok", f"   ✔ {total}"))
        self.say()
        self.say(self.paint("1", "   Next: your own bot"))
        self.say(
            f"   {'linedesk init mydesk':<{LABEL_WIDTH}} writes a starter linedesk.toml, .env and these example "
            "processes"
        )
        self.say(f"   {'':<{LABEL_WIDTH}} into a new folder, and says what to fill in")
        self.say(f"   {'README.md':<{LABEL_WIDTH}} “Quick start”, then “Telegram bot setup” and “Slack app setup”")


def printable(stream: TextIO) -> TextIO:
    """A console that cannot encode ✔ or ← (a legacy code page) gets '?' instead of a crash."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "✔✘←→━│·“”…".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    return stream
