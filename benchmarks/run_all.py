"""Every benchmark, one after the other, then the SPEC §10 targets: measured, met or not.

    python -m benchmarks --quick          # ~5 minutes: smaller loads, for a first look
    python -m benchmarks                  # the full set (~20 minutes), what benchmarks/README.md reports
    python -m benchmarks --profile        # also a py-spy profile of linedesk under the relay load
    python -m benchmarks --desks          # also the busy desks of SPEC §13 (desks.py: +35 minutes, +10 quick)

Each benchmark writes its own JSON to benchmarks/results/ (`*-quick.json` in quick mode); this one adds
`summary.json` (or `summary-quick.json`) with the targets. Needs the `bench` extra
(`pip install -e '.[bench]'`) and, for the Redis rows, a Redis on 127.0.0.1:6379 (db 15, keys under a
unique prefix, deleted afterwards; `LINEDESK_BENCH_REDIS` names another).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import desks, footprint, instances, process_cycle, relay, slack_ack
from benchmarks.results import RESULTS, ROOT, machine, table, write_results
from benchmarks.stage import redis_answers, redis_cleanup, redis_prefix, redis_url

STEPS = ("relay", "relay-profile", "slack_ack", "footprint", "instances", "desks")


def cycle(quick: bool) -> list[dict[str, Any]]:
    """`process_cycle.py` (start → form → reply, in one process) on both stores."""
    cycles = 200 if quick else 1000
    rows = [{"store": "SQLite (file, WAL)", **asyncio.run(process_cycle.measure(cycles, None))}]
    if asyncio.run(redis_answers()):
        prefix = redis_prefix()
        try:
            rows.append({"store": "Redis (loopback)", **asyncio.run(process_cycle.measure(cycles, redis_url(prefix)))})
        finally:
            asyncio.run(redis_cleanup(prefix))
    return rows


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def targets(relay_data: dict[str, Any], ack_data: dict[str, Any], two: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    by_target = {r["target"]: r for r in relay_data.get("results", [])}
    floor = by_target.get("aiogram", {}).get("burst", {}).get("relayed_per_s")
    for name in ("linedesk-sqlite", "linedesk-redis"):
        r = by_target.get(name)
        if r is None:
            continue
        rate = r["burst"]["relayed_per_s"]
        if floor:
            rows.append(
                [
                    f"relay {name}: ≥ 60% of bare aiogram",
                    f"{rate:.0f} / {floor:.0f} msgs/s = {rate / floor:.0%}",
                    verdict(rate >= 0.6 * floor),
                ]
            )
        rows.append([f"relay {name}: ≥ 1,500 msgs/s", f"{rate:.0f} msgs/s", verdict(rate >= 1500)])
        paced = r["paced"]
        rows.append(
            [
                f"relay {name}: p99 < 50 ms at {paced['rate']:.0f}/s",
                f"p99 {paced['p99_ms']:.1f} ms",
                verdict(paced["p99_ms"] < 50 and paced["missing"] == 0),
            ]
        )
    for r in ack_data.get("results", []):
        ack, modal = r["ack"], r["click_to_modal"]
        rows.append(
            [
                f"Slack ack /startprocess × 50 concurrent, {r['store']}: p99 < 100 ms",
                f"p99 {ack['p99_ms']:.1f} ms",
                verdict(ack["p99_ms"] < 100),
            ]
        )
        rows.append(
            [
                f"click → instance → modal, {r['store']}: p99 < 150 ms",
                f"p99 {modal['sequential']['p99_ms']:.1f} ms (50 at once: {modal['concurrent_50']['p99_ms']:.0f})",
                verdict(modal["sequential"]["p99_ms"] < 150 and modal["no_modal"] == 0),
            ]
        )
    if two:
        dups = sum(r["burst"]["duplicates"] + r["warmup"]["duplicates"] for r in two["results"])
        rows.append(
            [
                "two instances on one Redis: ≥ 1.7× one, no duplicates",
                f"{two['ratio']:.2f}×, {dups} duplicates",
                verdict(two["ratio"] >= 1.7 and dups == 0),
            ]
        )
    return rows


def desk_targets(data: dict[str, Any]) -> list[list[str]]:
    """SPEC §13's targets, one row per scenario of `desks.py`."""
    rows: list[list[str]] = []
    for r in data.get("results", []):
        v = r.get("verdicts") or desks.verdicts(r)
        lag, cards = r["lag"], r["cards"]
        wanted = f"p99 lag < {r['targets']['lag_p99_s']:.0f} s"
        if r["targets"]["card_p99_s"] is not None:
            wanted += f", cards p99 < {r['targets']['card_p99_s']:.0f} s"
        rows.append(
            [
                f"desks {r['scenario']}: {wanted}, 0 × 429, intact, lag not growing",
                f"p99 {lag['p99_s']:.1f} s, cards p99 {cards['p99_s']:.2f} s, {r['refusals_429_total']} × 429, "
                f"lost/dup/reordered {r['lost']}/{r['duplicates']}/{r['reordered']}",
                verdict(all(ok is not False for ok in v.values())),
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller loads (~5 minutes)")
    parser.add_argument("--profile", action="store_true", help="also profile linedesk under the relay load (py-spy)")
    parser.add_argument("--desks", action="store_true", help="also the busy desks of SPEC §13 (desks.py)")
    parser.add_argument(
        "--reuse",
        default="",
        metavar="STEPS",
        help=f"comma-separated steps ({', '.join(STEPS)}) not run again: their last results file "
        "is read instead (to finish an interrupted run)",
    )
    args = parser.parse_args(argv)
    quick = ["--quick"] if args.quick else []
    reuse = {s.strip() for s in args.reuse.split(",") if s.strip()}
    if reuse - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(reuse - set(STEPS)))}")

    def step(name: str, title: str, run: Callable[[], Any]) -> Any:
        print(f"\n== {title}", flush=True)
        if name in reuse:
            path = RESULTS / f"{name}{'-quick' if args.quick and name != 'relay-profile' else ''}.json"
            print(f"(not run again: {path.relative_to(ROOT)})")
            return json.loads(path.read_text())
        return run()

    began = time.monotonic()
    print(f"machine: {machine()}", flush=True)
    relay_data = step("relay", "relay", lambda: relay.main(quick))
    if args.profile:
        # quick sizes: the profile needs a few thousand messages, not the full run's
        step(
            "relay-profile",
            "relay, profiled (linedesk only)",
            lambda: relay.main(
                ["--quick", "--targets", "linedesk-sqlite,linedesk-redis", "--profile", "--out", "relay-profile"]
            ),
        )
    ack_data = step("slack_ack", "Slack ack and click → modal", lambda: slack_ack.main(quick))
    foot = step("footprint", "footprint", lambda: footprint.main(quick))
    two = step("instances", "two instances on one Redis", lambda: instances.main(quick))
    print("\n== start → form → reply (process_cycle.py)", flush=True)
    cycles = cycle(args.quick)
    for row in cycles:
        print(
            f"  {row['store']}: click → modal p50 {row['click_to_modal_p50_ms']:.1f} ms, "
            f"p99 {row['click_to_modal_p99_ms']:.1f} ms; whole cycle p50 {row['cycle_p50_ms']:.1f} ms, "
            f"p99 {row['cycle_p99_ms']:.1f} ms"
        )
    rows = targets(relay_data, ack_data, two)
    print("\n== SPEC §10 targets")
    print(table(rows, ["target", "measured", ""]))
    if args.desks:
        desk_data = step("desks", "busy desks (SPEC §13)", lambda: desks.main(quick))
        desk_rows = desk_targets(desk_data)
        print("\n== SPEC §13 targets")
        print(table(desk_rows, ["target", "measured", ""]))
        rows += desk_rows
    minutes = (time.monotonic() - began) / 60
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"\n{minutes:.1f} minutes; load average at the end: {load}")
    write_results(
        "summary-quick" if args.quick else "summary",
        {
            "benchmark": "all",
            "quick": args.quick,
            "minutes": round(minutes, 1),
            "load_average_at_end": load,
            "targets": [{"target": t, "measured": m, "verdict": v} for t, m, v in rows],
            "memory": [
                {
                    k: r[k]
                    for k in (
                        "store",
                        "bytes_per_open_session",
                        "bytes_per_waiting_instance",
                        "rss_mb_start",
                        "rss_mb_with_sessions",
                        "rss_mb_with_sessions_and_instances",
                    )
                }
                for r in foot.get("results", [])
            ],
            "process_cycle": cycles,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
