"""Figures from what the store holds (SPEC §15): the sessions opened in a period and the instances started
in it, read through the store's report indexes, counted here in one pass."""

from __future__ import annotations

import asyncio
import datetime
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from core.config import Config
from core.model import InstanceStatus, SessionStatus
from core.reports.business import BusinessTime
from core.reports.figures import DayFigures, OperatorFigures, ProcessFigures, Ratings, Report, Times
from core.reports.period import DAY, Period, ReportError
from core.service_levels import hours_of
from core.store.base import InstanceFacts, SessionFacts, Store

Elapsed = Callable[[str, float, float], float]
"""(line id, start, end) → seconds that count between them: wall-clock by default, business time where the
line has hours (the composition root passes that in)."""


def wall_clock(line_id: str, start: float, end: float) -> float:
    return max(0.0, end - start)


@dataclass(frozen=True)
class Targets:
    """A line's service levels in seconds (SPEC §14), None where not set."""

    first_response: float | None = None
    resolution: float | None = None


def no_targets(line_id: str) -> Targets:
    return Targets()


def line_targets(config: Config) -> Callable[[str], Targets]:
    """Each line's `first_response_within` / `resolve_within` from the config (None where not set)."""

    def targets(line_id: str) -> Targets:
        line = config.line(line_id)
        if line is None:  # a line removed from the config since: its sessions still count, without targets
            return Targets()
        return Targets(line.first_response_within, line.resolve_within)

    return targets


@dataclass(frozen=True)
class Measure:
    """How a line's times count: `elapsed` (business time where the line has hours) against its `targets`."""

    elapsed: Elapsed = wall_clock
    targets: Callable[[str], Targets] = no_targets


async def build_report(
    store: Store, line_id: str | None, period: Period, now: float, measure: Measure | None = None
) -> Report:
    """The report of `line_id` (None: every line) over `period`, as the store holds it at `now`."""
    sessions = await store.report_sessions(line_id, period.since, period.until)
    instances = await store.report_instances(line_id, period.since, period.until)
    # counted on a worker thread: the event loop (the chat relay) goes on between the GIL's switches
    return await asyncio.to_thread(compute, line_id, period, sessions, instances, now=now, measure=measure or Measure())


@dataclass
class _Clocks:
    """Durations of one group of sessions, with hits and misses of the targets."""

    values: list[float] = field(default_factory=list)
    hits: int = 0
    misses: int = 0

    def add(self, seconds: float, target: float | None) -> None:
        self.values.append(seconds)
        if target is not None:
            self.hits += seconds <= target
            self.misses += seconds > target

    def times(self) -> Times:
        ordered = sorted(self.values)
        judged = self.hits + self.misses
        return Times(
            count=len(ordered),
            p50=percentile(ordered, 0.5),
            p90=percentile(ordered, 0.9),
            within_target=self.hits / judged if judged else None,
            values=ordered,
        )


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """Nearest rank: the smallest value that at least `share` of the values do not exceed."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class _Group:
    sessions: int = 0
    closed: int = 0
    first: _Clocks = field(default_factory=_Clocks)
    resolve: _Clocks = field(default_factory=_Clocks)
    ratings: list[int] = field(default_factory=list)


def compute(
    line_id: str | None,
    period: Period,
    sessions: Iterable[SessionFacts],
    instances: Iterable[InstanceFacts],
    *,
    now: float,
    measure: Measure | None = None,
) -> Report:
    measure = measure or Measure()
    everyone = _Group()
    people: dict[str, _Group] = defaultdict(_Group)
    days = period.days
    first_day = datetime.datetime.combine(days[0], datetime.time(), datetime.UTC).timestamp()
    opened, closed = [0] * len(days), [0] * len(days)  # per day, by index: a report counts 100,000 sessions
    spam = open_now = 0
    known: dict[str, Targets] = {}
    for s in sessions:
        if s.status == SessionStatus.SPAM:
            spam += 1
            continue
        target = known.get(s.line_id) or known.setdefault(s.line_id, measure.targets(s.line_id))
        open_now += s.status in (SessionStatus.QUEUED, SessionStatus.ACTIVE)
        _count(everyone, s, target, now, measure.elapsed)
        _count(people[s.assignee or ""], s, target, now, measure.elapsed)
        if 0 <= (day := int((s.created_at - first_day) // DAY)) < len(days):
            opened[day] += 1
        if s.closed_at is not None and s.status == SessionStatus.CLOSED:
            if 0 <= (day := int((s.closed_at - first_day) // DAY)) < len(days):
                closed[day] += 1
    return Report(
        line=line_id,
        since=datetime.datetime.fromtimestamp(period.since, datetime.UTC),
        until=datetime.datetime.fromtimestamp(period.until, datetime.UTC),
        opened=everyone.sessions,
        closed=everyone.closed,
        open_now=open_now,
        spam=spam,
        first_response=everyone.first.times(),
        resolution=everyone.resolve.times(),
        ratings=_ratings(everyone.ratings),
        operators=[_operator(name, group) for name, group in sorted(people.items(), key=_busiest)],
        days=[DayFigures(day=day, opened=o, closed=c) for day, o, c in zip(days, opened, closed, strict=True)],
        processes=_processes(instances),
    )


def _count(group: _Group, s: SessionFacts, target: Targets, now: float, elapsed: Elapsed) -> None:
    group.sessions += 1
    if s.first_response_at is not None:
        group.first.add(elapsed(s.line_id, s.created_at, s.first_response_at), target.first_response)
    elif target.first_response is not None:
        # no answer: a miss once the target has passed (by closing or by now), not judged before
        group.first.misses += elapsed(s.line_id, s.created_at, s.closed_at or now) > target.first_response
    if s.status == SessionStatus.CLOSED and s.closed_at is not None:
        group.closed += 1
        group.resolve.add(elapsed(s.line_id, s.created_at, s.closed_at), target.resolution)
    elif target.resolution is not None:
        group.resolve.misses += elapsed(s.line_id, s.created_at, now) > target.resolution
    if s.rating is not None:
        group.ratings.append(s.rating)


def _busiest(item: tuple[str, _Group]) -> tuple[int, int, str]:
    name, group = item
    return (name == "", -group.sessions, name)


def _operator(name: str, group: _Group) -> OperatorFigures:
    return OperatorFigures(
        operator=name,
        sessions=group.sessions,
        closed=group.closed,
        first_response=group.first.times(),
        resolution=group.resolve.times(),
        rating_average=_ratings(group.ratings).average,
    )


def _ratings(ratings: list[int]) -> Ratings:
    distribution = dict.fromkeys(range(1, 6), 0)
    for rating in ratings:
        if rating in distribution:
            distribution[rating] += 1
    counted = sum(distribution.values())
    average = sum(r * n for r, n in distribution.items()) / counted if counted else None
    return Ratings(count=counted, average=average, distribution=distribution)


def _processes(instances: Iterable[InstanceFacts]) -> ProcessFigures:
    started = manual = failed = 0
    for instance in instances:
        started += 1
        manual += instance.trigger == "manual"
        failed += instance.status == InstanceStatus.FAILED
    return ProcessFigures(started=started, manual=manual, automatic=started - manual, failed=failed)


def measure_for(config: Config) -> Measure:
    """How the configured lines' times count: against their targets, in business time where a line has
    hours (SPEC §15), else wall-clock."""
    hours = {line.id: BusinessTime(found) for line in config.lines if (found := hours_of(line)) is not None}

    def elapsed(line_id: str, start: float, end: float) -> float:
        line_hours = hours.get(line_id)
        return line_hours.seconds(start, end) if line_hours is not None else max(0.0, end - start)

    return Measure(elapsed=elapsed, targets=line_targets(config))


def check_line(config: Config, line_id: str | None) -> str | None:
    """`line_id` when the config has that line (None: every line), else a ReportError naming the lines."""
    if line_id is None or line_id == "" or config.line(line_id) is not None:
        return line_id or None
    known = ", ".join(line.id for line in config.lines) or "none configured"
    raise ReportError(f"line: no line {line_id!r} (lines: {known})")
