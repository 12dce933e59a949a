"""When a timer start event is due (SPEC §11 "Start events other than none").

- `timeDate`: an ISO-8601 date-time (UTC when it has no offset), once.
- `timeCycle`: `R[n]/[start/]period` (ISO-8601 repeating interval: every `period` from `start`, or from the
  moment linedesk first saw the definition; `n` runs at most), or a cron expression — five fields
  (`min hour dom month dow`) or Camunda's Quartz form with seconds first (`0 0 9 * * ?`, `?` as `*`,
  day-of-week 1–7 = Sunday–Saturday, an optional year field `*`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from croniter import croniter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition


class CycleError(ValueError):
    pass


@dataclass(frozen=True)
class Cycle:
    """A parsed timer start definition; `due_after` gives the next due time strictly after a moment."""

    kind: str
    """"date", "repeat" or "cron"."""
    date: float | None = None
    start: float | None = None
    period: float | None = None
    repeats: int | None = None
    cron: str | None = None
    seconds_first: bool = False

    def due_after(self, after: float, anchor: float, runs: int) -> float | None:
        """The first due time > `after`, given when linedesk first saw the definition and how often it ran."""
        if self.repeats is not None and runs >= self.repeats:
            return None
        if self.kind == "date":
            return self.date if runs == 0 else None
        if self.kind == "repeat":
            assert self.period is not None
            if self.start is not None:
                if after < self.start:
                    return self.start
                base = self.start
            else:
                base = anchor
            steps = int((after - base) // self.period) + 1
            return base + max(steps, 1 if self.start is None else 0) * self.period
        assert self.cron is not None
        start = dt.datetime.fromtimestamp(after, dt.UTC)
        nxt = croniter(self.cron, start, second_at_beginning=self.seconds_first).get_next(dt.datetime)
        return float(nxt.timestamp())


def _instant(text: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise CycleError(f"{text!r} is not an ISO-8601 date-time") from err
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _period(text: str, start: float | None) -> float:
    try:
        parsed = TimerEventDefinition.parse_iso_duration(text)
    except Exception as err:
        raise CycleError(f"{text!r} is not an ISO-8601 duration") from err
    when = dt.datetime.fromtimestamp(start, dt.UTC) if start is not None else None
    seconds = TimerEventDefinition.get_timedelta_from_start(parsed, when).total_seconds()
    if seconds <= 0:
        raise CycleError(f"the period {text!r} must be longer than zero")
    return float(seconds)


def _quartz(fields: list[str]) -> str:
    if len(fields) == 7:
        if fields[6] not in ("*", "?"):
            raise CycleError("a year field other than * is not supported")
        fields = fields[:6]
    fields = ["*" if f == "?" else f for f in fields]
    # Quartz counts days of the week 1-7 from Sunday, cron 0-6: shift the day numbers, not `#n` or `/step`
    fields[5] = re.sub(r"(?<![#/\d])\d+", lambda m: str((int(m.group()) - 1) % 7), fields[5])
    return " ".join(fields)


def parse_cycle(kind: str, text: str) -> Cycle:
    text = text.strip()
    if kind == "timeDate":
        return Cycle("date", date=_instant(text))
    if text.upper().startswith("R"):
        parts = text.split("/")
        repeats = int(parts[0][1:]) if parts[0][1:] else None
        if len(parts) == 2:
            return Cycle("repeat", period=_period(parts[1], None), repeats=repeats)
        if len(parts) == 3 and parts[2].upper().startswith("P"):
            start = _instant(parts[1])
            return Cycle("repeat", start=start, period=_period(parts[2], start), repeats=repeats)
        raise CycleError(f"{text!r}: use R[n]/period or R[n]/start/period")
    fields = text.split()
    if len(fields) in (6, 7):
        cron, seconds_first = _quartz(fields), True
    elif len(fields) == 5:
        cron, seconds_first = text, False
    else:
        raise CycleError(f"{text!r} is neither R/… (ISO-8601) nor a cron expression")
    if not croniter.is_valid(cron, second_at_beginning=seconds_first):
        raise CycleError(f"{text!r} is not a valid cron expression")
    return Cycle("cron", cron=cron, seconds_first=seconds_first)


def timer_problem(kind: str, text: str) -> str | None:
    if text.startswith(("${", "#{")):
        return "a timer start event needs a literal date or cycle, not an expression"
    try:
        parse_cycle(kind, text)
    except (CycleError, ValueError) as err:
        return f"timer start event: {err}"
    return None
