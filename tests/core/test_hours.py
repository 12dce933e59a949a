"""Business hours in time (SPEC §14, core/hours.py): time zones, holidays, daylight-saving changes, several ranges
a day — and the config's checks of the schedule, as `linedesk check-config` reports them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bots.cli import main
from core.config import ConfigError, load_config
from core.config.hours import HoursConfig
from core.hours import BusinessHours
from tests.support.cli import example_folder

HOUR = 3600.0
MOSCOW = dt.timezone(dt.timedelta(hours=3))
WEEKDAYS_9_TO_18 = {day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")}


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: dt.tzinfo = dt.UTC) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def moscow(**extra: object) -> BusinessHours:
    return BusinessHours(HoursConfig.model_validate({"tz": "Europe/Moscow", **WEEKDAYS_9_TO_18, **extra}))


def test_hours_are_read_in_the_lines_time_zone_across_the_utc_date_boundary() -> None:
    # Tokyo opens at 09:00 local — 00:00 UTC — and Monday 08:00 in Tokyo is still Sunday in UTC
    tokyo = BusinessHours(HoursConfig(tz="Asia/Tokyo", mon="09:00-18:00"))
    sunday_utc = at(2026, 12, 6, 23, 0)  # Monday 08:00 in Tokyo
    assert dt.datetime.fromtimestamp(sunday_utc, dt.UTC).weekday() == 6
    assert not tokyo.is_open(sunday_utc)
    assert tokyo.next_open(sunday_utc) == at(2026, 12, 7, 0, 0)
    assert tokyo.is_open(at(2026, 12, 7, 8, 59))
    assert not tokyo.is_open(at(2026, 12, 7, 9, 0))  # 18:00 in Tokyo
    # Monday 09:00-18:00 in Moscow is 06:00-15:00 UTC
    hours = moscow()
    assert not hours.is_open(at(2026, 12, 7, 5, 59))
    assert hours.is_open(at(2026, 12, 7, 6, 0))
    assert hours.business_seconds(at(2026, 12, 7, 0), at(2026, 12, 8, 0)) == 9 * HOUR


def test_a_holiday_is_closed_in_the_lines_time_zone_and_the_clock_skips_it() -> None:
    hours = moscow(holidays=["2026-12-31"])
    thursday_noon = at(2026, 12, 31, 12, tz=MOSCOW)
    assert not hours.is_open(thursday_noon)
    assert hours.next_open(thursday_noon) == at(2027, 1, 1, 9, tz=MOSCOW)  # a Friday
    wednesday_five = at(2026, 12, 30, 17, tz=MOSCOW)
    # one hour on Wednesday, none on the holiday, the rest on Friday morning
    assert hours.add_business_seconds(wednesday_five, 2 * HOUR) == at(2027, 1, 1, 10, tz=MOSCOW)
    assert hours.business_seconds(wednesday_five, at(2027, 1, 1, 10, tz=MOSCOW)) == 2 * HOUR


def test_a_daylight_saving_change_makes_the_day_shorter_or_longer_in_real_time() -> None:
    berlin = BusinessHours(HoursConfig(tz="Europe/Berlin", sun="00:00-24:00", mon="09:00-17:00"))
    spring = dt.datetime(2026, 3, 29, tzinfo=dt.UTC)  # clocks go 02:00 → 03:00 that Sunday
    start = dt.datetime(2026, 3, 29, tzinfo=berlin.zone).timestamp()
    assert berlin.business_seconds(start, start + 2 * 86400) == 23 * HOUR + 8 * HOUR
    autumn = dt.datetime(2026, 10, 25, tzinfo=berlin.zone).timestamp()  # 03:00 → 02:00: 25 hours
    assert berlin.business_seconds(autumn, autumn + 2 * 86400) == 25 * HOUR + 8 * HOUR
    # Monday 09:00 is 07:00 UTC after the spring change, 08:00 UTC before it
    assert berlin.next_open(spring.timestamp() + 86400 + 1) == at(2026, 3, 30, 7)
    assert berlin.next_open(at(2026, 3, 23, 1)) == at(2026, 3, 23, 8)


def test_several_ranges_a_day_and_the_next_opening() -> None:
    hours = BusinessHours(HoursConfig(tz="UTC", tue="09:00-13:00, 14:00-18:00"))
    lunch = at(2026, 12, 8, 13, 30)
    assert not hours.is_open(lunch)
    assert hours.next_open(lunch) == at(2026, 12, 8, 14)
    assert hours.business_seconds(at(2026, 12, 8, 0), at(2026, 12, 9, 0)) == 8 * HOUR
    assert hours.add_business_seconds(at(2026, 12, 8, 12), 2 * HOUR) == at(2026, 12, 8, 15)
    assert hours.next_open(at(2026, 12, 8, 18)) == at(2026, 12, 15, 9)  # a week later
    assert hours.business_seconds(at(2026, 12, 8, 15), at(2026, 12, 8, 14)) == 0.0


BAD_HOURS = [
    ('{ tz = "Mars/Olympus", mon = "09:00-18:00" }', "lines[0].hours.tz", "unknown time zone 'Mars/Olympus'"),
    ('{ tz = "UTC", mon = "18:00-09:00" }', "lines[0].hours.mon", "ends before it starts"),
    ('{ tz = "UTC", tue = "09:00-13:00,12:00-18:00" }', "lines[0].hours.tue", "ranges overlap"),
    ('{ tz = "UTC", wed = "9am-6pm" }', "lines[0].hours.wed", "invalid range '9am-6pm'"),
    ('{ tz = "UTC", thu = "09:00-25:00" }', "lines[0].hours.thu", "invalid time"),
    ('{ tz = "UTC", monday = "09:00-18:00" }', "lines[0].hours.monday", "nknown"),
    ('{ tz = "UTC", mon = "09:00-18:00", holidays = ["31.12.2026"] }', "lines[0].hours.holidays", "YYYY-MM-DD"),
    ('{ tz = "UTC", mon = "09:00-18:00", holidays = ["2026-02-30"] }', "lines[0].hours.holidays", "date"),
    ('{ tz = "UTC" }', "lines[0].hours", "no day has open hours"),
]


@pytest.mark.parametrize(("hours", "key", "fragment"), BAD_HOURS)
def test_a_bad_schedule_is_an_error_naming_its_key(tmp_path: Path, hours: str, key: str, fragment: str) -> None:
    config = tmp_path / "linedesk.toml"
    config.write_text(f'[[lines]]\nid = "support"\nname = "Support"\ntelegram_token = "1:A"\nhours = {hours}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    problems = [p for p in caught.value.problems if p.key.startswith(key)]
    assert problems and any(fragment in p.message for p in problems), [str(p) for p in caught.value.problems]


def test_check_config_reports_the_schedule_and_an_out_of_hours_message_without_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = example_folder(tmp_path, monkeypatch)
    config = folder / "linedesk.toml"
    text = config.read_text()
    good = 'name = "Support"\nhours = { tz = "Europe/Moscow", mon = "09:00-18:00" }\nfirst_response_within = "5m"'
    config.write_text(text.replace('name = "Support"', good, 1))
    assert main(["check-config"]) == 0
    capsys.readouterr()
    config.write_text(text.replace('name = "Support"', 'name = "Support"\nhours = { tz = "Moon/Base" }', 1))
    assert main(["check-config"]) == 1
    assert "lines[0].hours.tz" in capsys.readouterr().err
    config.write_text(text.replace('name = "Support"', 'name = "Support"\nout_of_hours_message = "Closed"', 1))
    assert main(["check-config"]) == 1
    assert "lines[0].out_of_hours_message: needs the line's hours" in capsys.readouterr().err


def test_the_admin_cli_accepts_session_overdue_as_an_auto_start_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example_folder(tmp_path, monkeypatch)
    assert main(["autostart", "support", "session.overdue", "create_lead", "on"]) == 0
    assert "session.overdue" in capsys.readouterr().out
    assert main(["autostart", "--list"]) == 0
    assert any(
        "session.overdue" in row and "create_lead" in row and " on " in row
        for row in capsys.readouterr().out.splitlines()
    )
