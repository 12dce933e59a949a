"""Reports count business time through `core.reports.business.BusinessTime` (intervals laid out once, running
totals): the same seconds as `BusinessHours.business_seconds` across a daylight-saving change, a holiday,
a lunch break and spans of minutes to weeks, in any order of asking."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from core.config.hours import HoursConfig
from core.hours import BusinessHours
from core.reports.business import BusinessTime

SCHEDULES: list[dict[str, object]] = [
    {"tz": "Europe/Moscow", "mon": "09:00-18:00", "tue": "09:00-13:00,14:00-18:00", "holidays": ["2026-11-04"]},
    {"tz": "America/New_York", "mon": "00:00-23:59", "sat": "09:00-17:00", "sun": "01:00-03:30"},  # DST 11-01
    {"tz": "Asia/Kolkata", "wed": "22:00-23:59", "thu": "00:00-02:00"},
]
AROUND = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize("schedule", SCHEDULES, ids=[str(s["tz"]) for s in SCHEDULES])
def test_the_same_seconds_as_the_business_hours(schedule: dict[str, object]) -> None:
    hours = BusinessHours(HoursConfig.model_validate(schedule))
    fast = BusinessTime(hours)
    rng = random.Random(15)
    for _ in range(3000):
        start = AROUND + rng.uniform(-40, 40) * 86400
        end = start + rng.choice([rng.uniform(0, 3600), rng.uniform(0, 14 * 86400), rng.uniform(-600, 600)])
        assert fast.seconds(start, end) == pytest.approx(hours.business_seconds(start, end), abs=1e-3)
