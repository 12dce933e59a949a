"""A report's figures (SPEC §15) as typed records: what the CLI prints, the API answers and charts draw."""

from __future__ import annotations

import datetime

from pydantic import BaseModel, Field


class Times(BaseModel):
    """Durations in seconds (business time where the line has hours): how many, p50 and p90 (nearest rank:
    the smallest time that at least half / nine tenths of them do not exceed), and the share within the
    line's target."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    within_target: float | None = None
    """Share (0–1) of the sessions with a target that met it (a session past the target and still waiting
    counts as missed); None when no session had a target."""
    values: list[float] = Field(default_factory=list, exclude=True)
    """Every duration, for the charts (not in the JSON)."""


class Ratings(BaseModel):
    count: int = 0
    average: float | None = None
    distribution: dict[int, int] = Field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))


class OperatorFigures(BaseModel):
    operator: str
    """The operator id; "" for sessions nobody took."""
    sessions: int = 0
    closed: int = 0
    first_response: Times = Field(default_factory=Times)
    resolution: Times = Field(default_factory=Times)
    rating_average: float | None = None


class DayFigures(BaseModel):
    day: datetime.date
    opened: int = 0
    closed: int = 0


class ProcessFigures(BaseModel):
    started: int = 0
    manual: int = 0
    automatic: int = 0
    failed: int = 0


class Report(BaseModel):
    line: str | None
    """The line id, None for every line."""
    since: datetime.datetime
    until: datetime.datetime
    opened: int = 0
    closed: int = 0
    open_now: int = 0
    spam: int = 0
    first_response: Times = Field(default_factory=Times)
    resolution: Times = Field(default_factory=Times)
    ratings: Ratings = Field(default_factory=Ratings)
    operators: list[OperatorFigures] = Field(default_factory=list)
    days: list[DayFigures] = Field(default_factory=list)
    processes: ProcessFigures = Field(default_factory=ProcessFigures)
