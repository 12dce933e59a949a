"""Footprint: stored bytes per open session and per waiting instance, in each store; RSS of
`linedesk serve` with 10,000 open sessions.

Sessions are opened the way production opens them: N Telegram clients write once to the webhook of
`linedesk serve` (a session each, with its greeting, its Slack thread and the mirrored message). Two runs
per store: (A) sessions only; (B) the same with the auto-start rule `session.created → wait_reply`, a
process parked at a "client_message" catch event — one waiting instance per session.
Bytes per open session = what run A stored / N; per waiting instance = (B − A) / N.

- SQLite: the database file after linedesk stopped (WAL checkpointed) minus the empty database, with
  the share of each table and index (`dbstat`).
- Redis: `MEMORY USAGE` of every key under the run's prefix (SAMPLES 0: exact), grouped by key family.
- RSS: `VmRSS` of the `serve` process, after start and with the N sessions open (run A).

Everything linedesk keeps for a session counts: the session, client, messages (client's + greeting),
refs (Slack thread, mirrored message), the inbound record (kept 7 days for de-duplication) and the
delivered outbox entries (kept 7 days in Redis; in SQLite until pruned).

    python benchmarks/footprint.py --quick          # 1,000 sessions
    python benchmarks/footprint.py                  # 10,000 sessions
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load import Outgoing, Poster, post_burst
from benchmarks.results import table, write_results
from benchmarks.stage import (
    REDIS_URL,
    Stage,
    linedesk_program,
    redis_answers,
    redis_cleanup,
    redis_prefix,
    redis_url,
    sqlite_url,
)
from sandboxes.limits import Limits


def sqlite_files(db: Path) -> int:
    """The file's bytes once its WAL is copied into it and emptied (linedesk has stopped): the data, not a WAL
    file that a reader still open at linedesk's close (or a burst's length) left behind."""
    if db.exists():
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return sum(
        p.stat().st_size for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()
    )


def sqlite_breakdown(db: Path) -> dict[str, int]:
    """Bytes of pages per table/index (dbstat), plus the row count of each table."""
    with sqlite3.connect(db) as conn:
        pages = {
            str(name): int(size) for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        }
        tables = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
        rows = {f"rows:{t}": int(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables}
    return {**pages, **rows}


def sqlite_waiting(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM instances WHERE status = 'waiting'").fetchone()[0])


_NUMBERS = re.compile(r"(?<=:)[^:]*\d[^:]*(?=:|$)")


def key_family(key: str, prefix: str) -> str:
    """`bench-x:session:12` → `session:N`; `…:messages:12` → `messages:N`."""
    rest = key[len(prefix) :]
    if rest.startswith("inbound:seen:"):
        return "inbound:seen:…"
    return _NUMBERS.sub("N", rest)


async def redis_usage(prefix: str) -> dict[str, int]:
    """MEMORY USAGE (exact) of every key under `prefix`, summed by key family; `keys:<family>` counts keys."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    sizes: Counter[str] = Counter()
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            pipe = client.pipeline(transaction=False)
            for key in chunk:
                pipe.memory_usage(key, samples=0)
            for key, used in zip(chunk, await pipe.execute(), strict=True):
                family = key_family(key, prefix)
                sizes[family] += int(used or 0)
                sizes[f"keys:{family}"] += 1
    finally:
        await client.aclose()
    return dict(sizes)


async def redis_waiting(prefix: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return int(await client.zcard(f"{prefix}instances:status:waiting"))
    finally:
        await client.aclose()


def total(breakdown: dict[str, int]) -> int:
    return sum(v for k, v in breakdown.items() if not k.startswith(("rows:", "keys:")))


class Footprint:
    def __init__(self, stage: Stage, folder: Path, sessions: int):
        self.stage = stage
        self.folder = folder
        self.sessions = sessions

    async def open_sessions(self, webhook: str) -> float:
        poster = Poster(webhook)
        await poster.open()
        try:
            first = max(self.stage.arrived, default=0) + 1
            messages = [
                Outgoing(first + n, self.stage.update(n, f"m{first + n}x my washing machine is broken"))
                for n in range(self.sessions)
            ]
            self.stage.expect(m.seq for m in messages)
            began = time.perf_counter()
            await post_burst([poster], messages, 32)
            missing = await self.stage.all_arrived(max(120.0, self.sessions / 20))
            if missing:
                raise RuntimeError(f"{missing} of {self.sessions} sessions did not reach the desk")
            self.stage.forget_history()
            return time.perf_counter() - began
        finally:
            await poster.close()

    async def run(self, store: str, autostart: bool) -> dict[str, Any]:
        """Start linedesk on an empty store, measure, open the sessions, measure again."""
        name = f"{store}-{'instances' if autostart else 'sessions'}"
        workdir = self.folder / name
        workdir.mkdir()
        prefix = redis_prefix() if store == "redis" else None
        db = workdir / "linedesk.db"
        url = redis_url(prefix) if prefix else sqlite_url(workdir)
        program, webhook = linedesk_program(self.stage, workdir, url, autostart="wait_reply" if autostart else None)
        try:
            await program.start()  # once, to create the empty store
            program.stop()
            empty = sqlite_breakdown(db) if prefix is None else await redis_usage(prefix)
            empty_bytes = sqlite_files(db) if prefix is None else total(empty)
            await program.start()
            await asyncio.sleep(1.0)
            rss_start = program.rss_bytes()
            print(f"· {name}: {self.sessions} sessions", flush=True)
            took = await self.open_sessions(webhook)
            waiting = 0
            if autostart:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    waiting = sqlite_waiting(db) if prefix is None else await redis_waiting(prefix)
                    if waiting >= self.sessions:
                        break
                    await asyncio.sleep(0.5)
                if waiting < self.sessions:
                    print(f"  only {waiting} of {self.sessions} instances are waiting", file=sys.stderr)
            await asyncio.sleep(1.0)
            rss = program.rss_bytes()
            program.stop()
            full = sqlite_breakdown(db) if prefix is None else await redis_usage(prefix)
            full_bytes = sqlite_files(db) if prefix is None else total(full)
            delta = {k: full.get(k, 0) - empty.get(k, 0) for k in full if full.get(k, 0) != empty.get(k, 0)}
            return {
                "run": name,
                "sessions": self.sessions,
                "waiting_instances": waiting,
                "opened_per_s": round(self.sessions / took, 1),
                "bytes": full_bytes - empty_bytes,
                "bytes_per_session": round((full_bytes - empty_bytes) / self.sessions),
                "breakdown_per_session": {
                    k: round(v / self.sessions, 1) for k, v in sorted(delta.items(), key=lambda kv: -kv[1])
                },
                "rss_start_mb": round(rss_start / 2**20, 1),
                "rss_mb": round(rss / 2**20, 1),
            }
        finally:
            program.stop()
            if prefix:
                await redis_cleanup(prefix)


async def measure(sessions: int, stores: list[str]) -> list[dict[str, Any]]:
    if "redis" in stores and not await redis_answers():
        print("no Redis answers: skipping the Redis store", file=sys.stderr)
        stores = [s for s in stores if s != "redis"]
    stage = Stage(limits=Limits.off())
    await stage.start()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="linedesk-footprint-") as folder:
            footprint = Footprint(stage, Path(folder), sessions)
            for store in stores:
                plain = await footprint.run(store, autostart=False)
                waiting = await footprint.run(store, autostart=True)
                results.append(
                    {
                        "store": "SQLite (file, WAL)" if store == "sqlite" else "Redis (MEMORY USAGE)",
                        "sessions": plain,
                        "with_instances": waiting,
                        "bytes_per_open_session": plain["bytes_per_session"],
                        "bytes_per_waiting_instance": round((waiting["bytes"] - plain["bytes"]) / sessions),
                        "rss_mb_start": plain["rss_start_mb"],
                        "rss_mb_with_sessions": plain["rss_mb"],
                        "rss_mb_with_sessions_and_instances": waiting["rss_mb"],
                    }
                )
    finally:
        await stage.stop()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 sessions instead of 10,000")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--stores", default="sqlite,redis")
    args = parser.parse_args(argv)
    sessions = args.sessions or (1_000 if args.quick else 10_000)
    results = asyncio.run(measure(sessions, [s.strip() for s in args.stores.split(",") if s.strip()]))
    rows = [
        [
            r["store"],
            f"{r['bytes_per_open_session']:,}",
            f"{r['bytes_per_waiting_instance']:,}",
            f"{r['rss_mb_start']:.0f}",
            f"{r['rss_mb_with_sessions']:.0f}",
            f"{r['rss_mb_with_sessions_and_instances']:.0f}",
        ]
        for r in results
    ]
    print(
        table(
            rows,
            [
                "store",
                "bytes/open session",
                "bytes/waiting instance",
                "RSS start MB",
                f"RSS {sessions:,} sessions MB",
                "+ instances MB",
            ],
        )
    )
    for r in results:
        print(f"\n{r['store']}: per session (run A), top items")
        for key, value in list(r["sessions"]["breakdown_per_session"].items())[:10]:
            print(f"  {value:>10,.1f}  {key}")
    data = {"benchmark": "footprint", "quick": args.quick, "sessions": sessions, "results": results}
    path = write_results("footprint-quick" if args.quick else "footprint", data)
    print(f"\nresults: {path.relative_to(path.parents[2])}")
    return data


if __name__ == "__main__":
    main()
