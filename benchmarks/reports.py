"""Reports (SPEC §15): the time of a report over 100,000 sessions, on each store (target: under 5 s).

The sessions are written straight into the store (in batches, through the store's own session writes, so
the report indexes are kept as in production): 30 days, three lines, eight operators, first responses and
resolutions drawn from log-normal distributions, 85% closed, 60% of those rated, 2% spam, and one process
instance for every three sessions (5% failed). Timed, three times each: the report of every line over the
30 days, the report of one line, and the renderings (text, JSON, the HTML page with its charts, the Slack
PNG) of the every-line report.

    LINEDESK_BENCH_REDIS=redis://127.0.0.1:6379/7 python benchmarks/reports.py            # 100,000 sessions
    python benchmarks/reports.py --sessions 10000 --stores sqlite
    python benchmarks/reports.py --page docs/report.html --sessions 900 --days 14 --stores sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import table, write_results
from benchmarks.stores import redis_answers, redis_cleanup, redis_prefix, redis_url, sqlite_url
from core.model import InstanceRecord, InstanceStatus, Session, SessionStatus
from core.reports import build_report, parse_period
from core.reports.charts import slack_png
from core.reports.html import render_html
from core.reports.text import render_text
from core.store import RedisStore, SqliteStore, Store, open_store

DAY = 86400.0
END = 1_796_083_200.0  # 2026-12-01 00:00 UTC
LINES = ("support", "sales", "billing")
OPERATORS = ("anna", "boris", "carl", "dina", "egor", "fatima", "gleb", "hanna")
BATCH = 2000


def synthetic(count: int, days: int, seed: int = 15) -> Iterator[tuple[Session, InstanceRecord | None]]:
    """`count` sessions opened over the `days` before END, busier on weekdays and in working hours."""
    rng = random.Random(seed)
    start = END - days * DAY
    for number in range(1, count + 1):
        day = rng.randrange(days)
        weekend = (int((start + day * DAY) // DAY) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        if weekend and rng.random() < 0.6:
            day = rng.randrange(days)
        opened = start + day * DAY + rng.triangular(6, 20, 11) * 3600
        line = rng.choices(LINES, weights=(6, 3, 1))[0]
        status = rng.choices(
            (SessionStatus.CLOSED, SessionStatus.ACTIVE, SessionStatus.QUEUED, SessionStatus.SPAM),
            weights=(85, 8, 5, 2),
        )[0]
        assignee = rng.choice(OPERATORS) if status in (SessionStatus.CLOSED, SessionStatus.ACTIVE) else None
        first = opened + rng.lognormvariate(5.2, 0.9) if assignee else None  # median about 3 min
        closed = (first or opened) + rng.lognormvariate(8.0, 1.0) if status == SessionStatus.CLOSED else None
        rating = rng.choices((5, 4, 3, 2, 1), weights=(50, 25, 12, 8, 5))[0] if closed and rng.random() < 0.6 else None
        session = Session(
            number=number,
            line_id=line,
            client_id=f"telegram:{100000 + rng.randrange(count)}",
            status=status,
            assignee=assignee,
            created_at=opened,
            updated_at=closed or first or opened,
            first_response_at=first,
            closed_at=closed,
            rating=rating,
            rated_at=closed + 60 if rating and closed else None,
        )
        instance = None
        if rng.random() < 1 / 3:
            instance = InstanceRecord(
                id=f"bench-{number}",
                process_id="handle_request",
                process_name="Handle request",
                session=number,
                line_id=line,
                client_id=session.client_id,
                trigger="manual" if rng.random() < 0.7 else "session.created",
                status=InstanceStatus.FAILED if rng.random() < 0.05 else InstanceStatus.COMPLETED,
                state='{"serialized": "' + "x" * 2000 + '"}',  # a workflow's state is a few kB of JSON
                created_at=opened + 30,
                updated_at=opened + 60,
            )
        yield session, instance


async def seed(store: Store, count: int, days: int) -> None:
    sessions: list[Session] = []
    instances: list[InstanceRecord] = []
    for session, instance in synthetic(count, days):
        sessions.append(session)
        if instance is not None:
            instances.append(instance)
        if len(sessions) >= BATCH:
            await _write(store, sessions, instances)
            sessions, instances = [], []
    await _write(store, sessions, instances)


async def _write(store: Store, sessions: list[Session], instances: list[InstanceRecord]) -> None:
    """A batch through the store's own session write (SQLite: one transaction; Redis: one pipeline of the
    session script calls, which keeps the report indexes)."""
    if isinstance(store, SqliteStore):
        async with store._tx() as db:
            for session in sessions:
                await store._put_session(db, session)
    elif isinstance(store, RedisStore):
        await asyncio.gather(  # calls of one turn go to Redis as one pipeline (core/store/redis/batching.py)
            *(
                store._put_session_script(
                    keys=[store._k("session", s.number), store._k("sessions", "line", s.line_id, "quiet")],
                    args=[store.prefix, s.number, s.model_dump_json(), "", *store._session_indexes(s)],
                )
                for s in sessions
            )
        )
    await asyncio.gather(*(store.commit_instance(i) for i in instances))


async def timed(work: Callable[[], Awaitable[Any]], runs: int = 3) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - began)
    return times, result


async def measure(kind: str, url: str, count: int, days: int) -> dict[str, Any]:
    store = open_store(url)
    await store.open()
    try:
        began = time.perf_counter()
        await seed(store, count, days)
        seeded = time.perf_counter() - began
        period = parse_period(f"{days}d", None, END)
        every, report = await timed(lambda: build_report(store, None, period, END))
        one, _ = await timed(lambda: build_report(store, "support", period, END))
    finally:
        await store.close()
    renders = {}
    for name, render in (
        ("text", lambda: render_text(report)),
        ("json", lambda: report.model_dump_json()),
        ("html", lambda: render_html(report)),
        ("png", lambda: slack_png(report)),
    ):
        began = time.perf_counter()
        render()
        renders[name] = time.perf_counter() - began
    return {
        "store": kind,
        "sessions": count,
        "opened": report.opened,
        "seed_s": round(seeded, 1),
        "all_lines_s": [round(t, 3) for t in every],
        "one_line_s": [round(t, 3) for t in one],
        "render_s": {k: round(v, 3) for k, v in renders.items()},
    }


async def page(out: Path, count: int, days: int) -> None:
    """The HTML report of a realistic dataset (for docs/report-example.png)."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(sqlite_url(Path(folder)))
        await store.open()
        try:
            await seed(store, count, days)
            report = await build_report(store, "support", parse_period(f"{days}d", None, END), END)
        finally:
            await store.close()
    await asyncio.to_thread(out.write_text, render_html(report), encoding="utf-8")
    print(f"wrote {out}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--page", type=Path, help="write the HTML report of the synthetic data here instead")
    args = parser.parse_args()
    if args.page:
        await page(args.page, args.sessions, args.days)
        return
    results = []
    for kind in args.stores.split(","):
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                results.append(await measure(kind, sqlite_url(Path(folder)), args.sessions, args.days))
        elif await redis_answers():
            prefix = redis_prefix()
            try:
                results.append(await measure(kind, redis_url(prefix), args.sessions, args.days))
            finally:
                await redis_cleanup(prefix)
        else:
            print("no Redis answers: the Redis run is skipped", file=sys.stderr)
    rows = [
        (
            r["store"],
            f"{r['sessions']:,}",
            f"{statistics.median(r['all_lines_s']):.2f} s",
            f"{statistics.median(r['one_line_s']):.2f} s",
            " / ".join(f"{v:.2f}" for v in r["render_s"].values()),
            f"{r['seed_s']:.0f} s",
        )
        for r in results
    ]
    header = ("store", "sessions", "report, all lines", "one line (60%)", "text/json/html/png s", "seeding")
    print(table(rows, header))
    print(f"results: {write_results('reports', {'runs': results})}")


if __name__ == "__main__":
    asyncio.run(main())
