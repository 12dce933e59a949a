"""Workers (SPEC §12): external-task round trips, and the chat relay with idle long-polling workers attached.

Two measurements against `linedesk serve` (a subprocess, as in relay.py) on the sandboxes:

- round trips: `--instances` instances of a one-external-task process are started over REST
  (`POST /engine-rest/process-definition/key/bench_worker/start`), then `--workers` workers (aiohttp, in this
  process) each loop fetchAndLock (maxTasks 1, no long poll) → complete until every task is done. A round
  trip is one fetchAndLock plus its complete; reported: round trips/s, p50/p99 of a round trip, and of the
  fetch and the complete apart.
- relay with idle workers: relay.py's quick plan (or `--relay-full`) once as is and once with `--idle` workers
  long-polling (asyncResponseTimeout 60 s, re-polling at once) a topic nothing serves, for the whole run.

    python benchmarks/workers.py                       # SQLite and Redis, ~4 minutes
    python benchmarks/workers.py --stores sqlite --skip-relay
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import relay as relay_bench
from benchmarks.results import RESULTS, table, write_results
from benchmarks.stage import (
    Program,
    Stage,
    latency_summary,
    linedesk_program,
    redis_answers,
    redis_cleanup,
    redis_prefix,
    redis_url,
    sqlite_url,
    write_processes,
)
from sandboxes.limits import Limits
from tests.support.bpmn import block, write_process

WORKER_TOKEN = "benchmark-worker-token"
TOPIC = "bench.work"
IDLE_TOPIC = "nobody.serves"


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {WORKER_TOKEN}"}


def _engine(webhook_url: str) -> str:
    return webhook_url.rsplit("/telegram/", 1)[0] + "/engine-rest"


def _program(stage: Stage, folder: Path, store: str, **options: Any) -> tuple[Program, str]:
    """`linedesk serve` with the worker token and the benchmark catalog plus `bench_worker`."""
    write_processes(folder)
    write_process(folder / "processes", "bench_worker.bpmn", "bench_worker", "Bench worker", block(TOPIC))
    program, url = linedesk_program(stage, folder, store, **options)
    program.env = {**(program.env or {}), "LINEDESK_WORKER_TOKEN": WORKER_TOKEN}
    return program, url


async def _start_instances(http: aiohttp.ClientSession, engine: str, count: int) -> None:
    semaphore = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        async with semaphore:
            body = {"variables": {"n": {"value": n, "type": "Integer"}}, "businessKey": f"bench-{n}"}
            async with http.post(f"{engine}/process-definition/key/bench_worker/start", json=body) as response:
                assert response.status == 200, await response.text()

    await asyncio.gather(*(one(n) for n in range(count)))


async def _worker(
    http: aiohttp.ClientSession, engine: str, name: str, trips: list[tuple[float, float]], left: list[int]
) -> None:
    fetch = {"workerId": name, "maxTasks": 1, "topics": [{"topicName": TOPIC, "lockDuration": 30_000}]}
    while left[0] > 0:
        began = time.perf_counter()
        async with http.post(f"{engine}/external-task/fetchAndLock", json=fetch) as response:
            tasks = await response.json()
        fetched = time.perf_counter()
        if not tasks:
            await asyncio.sleep(0.005)
            continue
        body = {"workerId": name, "variables": {"done": {"value": True, "type": "Boolean"}}}
        async with http.post(f"{engine}/external-task/{tasks[0]['id']}/complete", json=body) as response:
            assert response.status == 204, await response.text()
        left[0] -= 1
        trips.append((fetched - began, time.perf_counter() - fetched))


async def round_trips(store_kind: str, instances: int, workers: int, workdir: Path) -> dict[str, Any]:
    stage = Stage(limits=Limits.off())
    await stage.start()
    prefix = redis_prefix() if store_kind == "redis" else None
    folder = workdir / f"trips-{store_kind}"
    folder.mkdir(parents=True, exist_ok=True)
    program, url = _program(stage, folder, redis_url(prefix) if prefix else sqlite_url(folder))
    await program.start()
    try:
        engine = _engine(url)
        async with aiohttp.ClientSession(headers=_headers()) as http:
            await _start_instances(http, engine, instances)
            trips: list[tuple[float, float]] = []
            left = [instances]
            began = time.perf_counter()
            await asyncio.gather(*(_worker(http, engine, f"w{n}", trips, left) for n in range(workers)))
            elapsed = time.perf_counter() - began
        whole = [f + c for f, c in trips]
        return {
            "store": store_kind,
            "instances": instances,
            "workers": workers,
            "round_trips": len(trips),
            "round_trips_per_s": round(len(trips) / elapsed, 1),
            **{k: round(v, 2) for k, v in latency_summary(whole).items()},
            **{k: round(v, 2) for k, v in latency_summary([f for f, _ in trips], "fetch_").items()},
            **{k: round(v, 2) for k, v in latency_summary([c for _, c in trips], "complete_").items()},
        }
    finally:
        program.stop()
        await stage.stop()
        if prefix:
            await redis_cleanup(prefix)


class IdleWorkers:
    """`count` workers long-polling a topic nothing serves, for as long as linedesk runs."""

    def __init__(self, count: int):
        self.count = count
        self.polls = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None

    async def attach(self, engine: str) -> None:
        self._http = aiohttp.ClientSession(headers=_headers(), timeout=aiohttp.ClientTimeout(total=90))
        self._tasks = [asyncio.create_task(self._poll(engine, f"idle-{n}")) for n in range(self.count)]

    async def _poll(self, engine: str, name: str) -> None:
        assert self._http is not None
        body = {
            "workerId": name,
            "maxTasks": 1,
            "asyncResponseTimeout": 60_000,
            "topics": [{"topicName": IDLE_TOPIC, "lockDuration": 10_000}],
        }
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._http.post(f"{engine}/external-task/fetchAndLock", json=body) as response:
                    await response.read()
                    self.polls += 1

    async def detach(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()


async def relay_runs(stores: list[str], idle: int, full: bool, workdir: Path) -> list[dict[str, Any]]:
    """relay.py's run per store, without and with `idle` long-polling workers attached to linedesk."""
    plan = relay_bench.Plan() if full else relay_bench.Plan.quick()
    plan.low_rate = 0
    results = []
    attached: list[IdleWorkers] = []
    original_start = Program.start

    async def start_with_workers(program: Program, timeout: float = 60.0) -> None:
        await original_start(program, timeout)
        if attached and program.name == "linedesk":
            await attached[-1].attach(_engine(program.ready_url.replace("/readyz", "/telegram/x")))

    def program_with_token(stage: Stage, folder: Path, store: str, **options: Any) -> tuple[Program, str]:
        return _program(stage, folder, store, **options)

    relay_bench.linedesk_program = program_with_token  # type: ignore[assignment]
    Program.start = start_with_workers  # type: ignore[method-assign,assignment]
    stage = Stage(limits=Limits.off())
    await stage.start()
    runner = relay_bench.Relay(stage, plan, workdir)  # one: its message numbers go on across the runs
    try:
        for store in stores:
            for count in (0, idle):
                target = f"linedesk-{store}"
                print(f"· relay on {store} with {count} idle workers", flush=True)
                workers = IdleWorkers(count)
                if count:
                    attached.append(workers)
                runner.workdir = workdir / f"relay-{store}-{count}"
                try:
                    result = await runner.run_target(target)
                finally:
                    await workers.detach()
                    attached.clear()
                results.append({**result, "store": store, "idle_workers": count, "polls_answered": workers.polls})
    finally:
        Program.start = original_start  # type: ignore[method-assign]
        await stage.stop()
    return results


def report(trips: list[dict[str, Any]], relays: list[dict[str, Any]]) -> None:
    if trips:
        rows = [
            [
                t["store"],
                t["instances"],
                t["workers"],
                f"{t['round_trips_per_s']:.0f}",
                f"{t['p50_ms']:.1f}/{t['p99_ms']:.1f}",
                f"{t['fetch_p50_ms']:.1f}/{t['fetch_p99_ms']:.1f}",
                f"{t['complete_p50_ms']:.1f}/{t['complete_p99_ms']:.1f}",
            ]
            for t in trips
        ]
        print(
            table(
                rows,
                ["store", "instances", "workers", "round trips/s", "p50/p99 ms", "fetch p50/p99", "complete p50/p99"],
            )
        )
    if relays:
        rows = [
            [
                r["store"],
                r["idle_workers"],
                f"{r['burst']['relayed_per_s']:.0f}",
                f"{r['burst']['p50_ms']:.0f}/{r['burst']['p99_ms']:.0f}",
                f"{r['paced']['p50_ms']:.1f}/{r['paced']['p99_ms']:.1f}",
                f"{r['burst']['target_cpu_ms_per_msg']:.2f}",
                f"{r['burst']['missing'] + r['paced']['missing']}",
            ]
            for r in relays
        ]
        rate = relays[0]["paced"]["rate"]
        print(
            table(
                rows,
                [
                    "store",
                    "idle workers",
                    "relay msgs/s",
                    "burst p50/p99 ms",
                    f"@{rate:.0f}/s p50/p99",
                    "CPU ms/msg",
                    "missing",
                ],
            )
        )


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    stores = [s for s in args.stores.split(",") if s]
    if "redis" in stores and not await redis_answers():
        print("no Redis answers: skipping redis", file=sys.stderr)
        stores = [s for s in stores if s != "redis"]
    with tempfile.TemporaryDirectory(prefix="linedesk-workers-") as folder:
        workdir = Path(folder)
        trips = []
        for store in stores:
            print(f"· round trips on {store}: {args.instances} instances, {args.workers} workers", flush=True)
            trips.append(await round_trips(store, args.instances, args.workers, workdir))
        relays = [] if args.skip_relay else await relay_runs(stores, args.idle, args.relay_full, workdir)
    return {"round_trips": trips, "relay": relays}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,redis", help="comma-separated: sqlite, redis")
    parser.add_argument("--instances", type=int, default=500, help="instances (external tasks) to work off")
    parser.add_argument("--workers", type=int, default=4, help="workers fetching and completing at once")
    parser.add_argument("--idle", type=int, default=20, help="idle long-polling workers during the relay run")
    parser.add_argument("--relay-full", action="store_true", help="relay.py's full plan instead of --quick")
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--out", default="workers", help="name of the results file in benchmarks/results")
    args = parser.parse_args(argv)
    data = asyncio.run(measure(args))
    report(data["round_trips"], data["relay"])
    path = write_results(args.out, {"benchmark": "workers", "args": vars(args), **data})
    print(f"\nresults: {path.relative_to(RESULTS.parent.parent)}")
    return data


if __name__ == "__main__":
    main()
