"""Two `linedesk serve` instances on one Redis against one: relay throughput and duplicates.

The relay load of `relay.py` (Telegram webhook → Slack desk thread), max-throughput phase: first one
instance takes all of it; then two instances share one Redis and one key prefix, each client's
updates going to the webhook of one of them (by chat, as a load balancer with affinity would; the
outbox and any leftover work are shared through Redis). SPEC §10: two instances ≥ 1.7× one, and no
message relayed twice.

    python benchmarks/instances.py --quick
    python benchmarks/instances.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load import Poster
from benchmarks.relay import Plan, Relay
from benchmarks.results import table, write_results
from benchmarks.stage import Program, Stage, linedesk_program, redis_answers, redis_cleanup, redis_prefix, redis_url
from sandboxes.limits import Limits


async def run(relay: Relay, count: int, folder: Path) -> dict[str, Any]:
    """`count` linedesk instances on one fresh Redis prefix; warm-up, then a max-throughput burst."""
    plan = relay.plan
    prefix = redis_prefix()
    programs: list[Program] = []
    posters: list[Poster] = []
    try:
        for n in range(count):
            workdir = folder / f"{count}x-{n}"
            workdir.mkdir(parents=True)
            program, url = linedesk_program(relay.stage, workdir, redis_url(prefix), name=f"linedesk-{n + 1}")
            programs.append(program)
            posters.append(Poster(url, limit=max(plan.concurrency, 256)))
        for program in programs:
            await program.start()
        for poster in posters:
            await poster.open()
        print(f"· {count} instance(s): warm-up ({plan.chats} chats)", flush=True)
        warmup = await relay.phase(
            programs, posters, relay.messages(plan.chats, plan.chats, count), redis=True, timeout=120
        )
        relay.stage.forget_history()
        print(f"· {count} instance(s): max throughput ({plan.messages} messages)", flush=True)
        burst = await relay.phase(programs, posters, relay.messages(plan.messages, plan.chats, count), redis=True)
        relay.stage.forget_history()
        return {
            "instances": count,
            "warmup": warmup,
            "burst": burst,
            "rss_mb": [round(p.rss_bytes() / 2**20, 1) for p in programs],
        }
    finally:
        for poster in posters:
            await poster.close()
        for program in programs:
            program.stop()
        await redis_cleanup(prefix)


async def measure(plan: Plan) -> list[dict[str, Any]]:
    stage = Stage(limits=Limits.off())
    await stage.start()
    try:
        with tempfile.TemporaryDirectory(prefix="linedesk-instances-") as folder:
            relay = Relay(stage, plan, Path(folder))
            return [await run(relay, 1, Path(folder)), await run(relay, 2, Path(folder))]
    finally:
        await stage.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 messages over 300 chats")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--chats", type=int)
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args(argv)
    if not asyncio.run(redis_answers()):
        print("no Redis answers: nothing to measure", file=sys.stderr)
        return {}
    plan = Plan.quick() if args.quick else Plan()
    for name in ("messages", "chats", "concurrency"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    results = asyncio.run(measure(plan))
    one = results[0]["burst"]["relayed_per_s"]
    rows = [
        [
            r["instances"],
            f"{r['burst']['relayed_per_s']:.0f}",
            f"{r['burst']['relayed_per_s'] / one:.2f}" if one else "-",
            f"{r['burst']['p50_ms']:.0f}",
            f"{r['burst']['p99_ms']:.0f}",
            f"{r['burst']['target_cpu_pct']:.0f}%",
            f"{r['burst'].get('redis_cpu_pct', 0):.0f}%",
            f"{r['burst']['generator_cpu_pct']:.0f}%",
            r["burst"]["missing"] + r["warmup"]["missing"],
            r["burst"]["duplicates"] + r["warmup"]["duplicates"],
        ]
        for r in results
    ]
    print(
        table(
            rows,
            [
                "instances",
                "msgs/s",
                "× one",
                "p50 ms",
                "p99 ms",
                "linedesk CPU",
                "Redis CPU",
                "generator CPU",
                "missing",
                "duplicates",
            ],
        )
    )
    ratio = results[1]["burst"]["relayed_per_s"] / one if one else 0.0
    data = {
        "benchmark": "instances",
        "quick": args.quick,
        "plan": plan.__dict__,
        "ratio": round(ratio, 2),
        "results": results,
    }
    path = write_results("instances-quick" if args.quick else "instances", data)
    print(f"\ntwo instances ÷ one: {ratio:.2f}\nresults: {path.relative_to(path.parents[2])}")
    return data


if __name__ == "__main__":
    main()
