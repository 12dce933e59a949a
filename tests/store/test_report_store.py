"""Reports' figures from what the store holds (SPEC §15), both stores, against a fixture worked out by
hand (tests/support/reports.py)."""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from core.reports import Measure, Targets, build_report, compute, parse_period
from core.store import RedisStore, SqliteStore, Store
from core.store.redis.reports import _FIELDS
from core.store.sqlite import MIGRATIONS
from tests.support.reports import NOW, SINCE, UNTIL, fixture_sessions, write_fixture
from tests.support.rigs import REDIS_URL

RedisFactory = Callable[[], Awaitable[RedisStore]]  # the `redis_stores` fixture of conftest.py


async def test_a_lines_figures_match_the_hand_computed_ones(store: Store) -> None:
    await write_fixture(store)
    report = await build_report(store, "support", parse_period(SINCE, UNTIL, NOW), NOW)
    assert (report.opened, report.closed, report.open_now, report.spam) == (5, 3, 2, 1)
    # first responses 60, 120, 300, 30 s: nearest rank p50 = 2nd of 4, p90 = 4th of 4
    assert (report.first_response.count, report.first_response.p50, report.first_response.p90) == (4, 60, 300)
    assert (report.resolution.count, report.resolution.p50, report.resolution.p90) == (3, 1200, 3600)
    assert report.first_response.within_target is None  # no targets set
    assert report.ratings.count == 3
    assert report.ratings.average == pytest.approx(11 / 3)
    assert report.ratings.distribution == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    rows = {
        (r.operator, r.sessions, r.closed, r.first_response.p50, r.resolution.p50, r.rating_average)
        for r in report.operators
    }
    assert rows == {("anna", 2, 2, 60, 600, 4.5), ("bob", 2, 1, 30, 3600, 2.0), ("", 1, 0, None, None, None)}
    assert [r.operator for r in report.operators] == ["anna", "bob", ""]
    days = [(d.day.isoformat(), d.opened, d.closed) for d in report.days]
    assert days == [("2026-11-02", 2, 2), ("2026-11-03", 2, 1), ("2026-11-04", 1, 0)]
    processes = report.processes
    assert (processes.started, processes.manual, processes.automatic, processes.failed) == (3, 2, 1, 1)


async def test_every_line_together(store: Store) -> None:
    await write_fixture(store)
    report = await build_report(store, None, parse_period(SINCE, UNTIL, NOW), NOW)
    assert (report.line, report.opened, report.closed, report.spam) == (None, 6, 4, 1)
    assert report.first_response.values == [10, 30, 60, 120, 300]
    assert report.ratings.distribution == {1: 0, 2: 1, 3: 1, 4: 1, 5: 1}
    assert (report.processes.started, report.processes.automatic) == (4, 2)
    assert report.since == datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC)
    assert report.until == datetime.datetime(2026, 11, 5, tzinfo=datetime.UTC)


async def test_targets_and_business_time(store: Store) -> None:
    """Shares within the targets (an unanswered or unclosed session past its target is a miss) and the
    injected business-time measure."""
    await write_fixture(store)
    period = parse_period(SINCE, UNTIL, NOW)
    sessions = await store.report_sessions("support", period.since, period.until)
    targets = Measure(targets=lambda line: Targets(first_response=100, resolution=1000))
    report = compute("support", period, sessions, [], now=NOW, measure=targets)
    # answered 60 ✔ 120 ✘ 300 ✘ 30 ✔, the queued one waited a day ✘ → 2 of 5
    assert report.first_response.within_target == pytest.approx(0.4)
    # closed 600 ✔ 1200 ✘ 3600 ✘, two still open for more than 1000 s ✘ → 1 of 5
    assert report.resolution.within_target == pytest.approx(0.2)
    halved = compute("support", period, sessions, [], now=NOW, measure=Measure(elapsed=lambda _l, a, b: (b - a) / 2))
    assert (halved.first_response.p50, halved.resolution.p90) == (30, 1800)


async def test_the_period_bounds_are_kept(store: Store) -> None:
    await write_fixture(store)
    period = parse_period("2026-11-03", "2026-11-03", NOW)
    facts = await store.report_sessions("support", period.since, period.until)
    assert [f.assignee for f in facts] == ["bob", "bob"]
    assert await store.report_sessions("nobody", period.since, period.until) == []
    assert len(await store.report_instances("support", period.since, period.until)) == 1


async def test_redis_layout_6_indexes_sessions_stored_before_it(redis_stores: RedisFactory) -> None:
    first = await redis_stores()
    await write_fixture(first)
    client = aioredis.from_url(REDIS_URL)
    try:  # as a linedesk before layout 6 left them: no created indexes
        keys = [k async for k in client.scan_iter(match=f"{first.prefix}sessions*created")]
        assert len(keys) == 3  # every line's and the all-lines index
        await client.delete(*keys)
        await client.set(f"{first.prefix}schema", 4)
        later = await redis_stores()
        assert int(await client.get(f"{first.prefix}schema") or 0) == 6
    finally:
        await client.aclose()
    report = await build_report(later, "support", parse_period(SINCE, UNTIL, NOW), NOW)
    assert (report.opened, report.closed) == (5, 3)


async def test_sqlite_migration_10_covers_the_report_with_one_index(tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path / "store.db")
    await sqlite.open()
    try:
        assert await sqlite.schema_version() == 10
        plan = await sqlite._rows(
            "EXPLAIN QUERY PLAN SELECT number, status, closed_at, rating FROM sessions INDEXED BY sessions_report"
            " WHERE created_at >= ? AND created_at < ? AND line_id = ?",
            (0, 1, "support"),
        )
        assert any("COVERING INDEX sessions_report" in str(row) for row in plan), plan
    finally:
        await sqlite.close()


async def test_sqlite_migration_10_fills_the_columns_of_sessions_stored_before_it(tmp_path: Path) -> None:
    class Before(SqliteStore):
        migrations = tuple(m for m in MIGRATIONS if m[0] < 10)

    path = tmp_path / "old.db"
    old = Before(path)
    await old.open()
    await old.close()
    with sqlite3.connect(path) as db:  # as linedesk before migration 10 wrote them
        db.executemany(
            "INSERT INTO sessions (number, line_id, client_id, status, assignee, created_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (s.number, s.line_id, s.client_id, s.status.value, s.assignee, s.created_at, s.model_dump_json())
                for s in fixture_sessions()
            ],
        )
    store = SqliteStore(path)
    await store.open()
    try:
        report = await build_report(store, "support", parse_period(SINCE, UNTIL, NOW), NOW)
    finally:
        await store.close()
    assert (report.opened, report.closed, report.first_response.p90, report.ratings.count) == (5, 3, 300, 3)


async def test_redis_reads_sessions_whatever_their_json_looks_like(redis_stores: RedisFactory) -> None:
    """Sessions are read by a pattern over pydantic's JSON (fast), and with `json.loads` where it does not
    match (a document written otherwise): the same figures either way."""
    store = await redis_stores()
    await write_fixture(store)
    sessions = fixture_sessions()
    assert all(_FIELDS.match(s.model_dump_json()) for s in sessions)  # the fast path is taken
    client = aioredis.from_url(REDIS_URL)
    try:
        for s in sessions[:4]:  # keys sorted and spaced: the pattern does not match these
            found = await client.zrangebyscore(f"{store.prefix}sessions:created", s.created_at, s.created_at)
            number = int(cast(bytes, found[0]))
            doc = s.model_dump(mode="json") | {"number": number}
            await client.set(f"{store.prefix}session:{number}", json.dumps(doc, sort_keys=True, indent=1))
    finally:
        await client.aclose()
    report = await build_report(store, "support", parse_period(SINCE, UNTIL, NOW), NOW)
    assert (report.opened, report.closed, report.first_response.p90, report.ratings.count) == (5, 3, 300, 3)
    assert [r.operator for r in report.operators] == ["anna", "bob", ""]
