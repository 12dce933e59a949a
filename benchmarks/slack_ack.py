"""Slack: how fast `linedesk serve` acknowledges `/startprocess`, and click → instance → modal.

- ack: rounds of 50 concurrent `/startprocess N` slash commands (50 operators, each on a session of its
  own, signed as the Slack sandbox signs them) to `/slack/events`; the time until each HTTP answer
  (the ack, which carries the process picker). SPEC §10: p99 < 100 ms.
- click → modal: an operator clicks a process in the picker (block_actions) → the instance starts →
  its first user task opens as a modal: the time until `views.open` reaches the Slack sandbox. One
  click at a time, then rounds of 50 concurrent clicks (50 operators). SPEC §10: p99 < 150 ms.
  (`process_cycle.py` measures the whole start → form → reply cycle in one process.)

    python benchmarks/slack_ack.py --quick
    python benchmarks/slack_ack.py                 # SQLite and Redis
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.slack.views import PICK, pick_value
from benchmarks.load import Outgoing, Poster, post_burst
from benchmarks.results import table, write_results
from benchmarks.stage import (
    DESK_CHANNEL,
    Program,
    Stage,
    latency_summary,
    linedesk_program,
    operator_slack,
    redis_answers,
    redis_cleanup,
    redis_prefix,
    redis_url,
    sqlite_url,
)
from sandboxes.limits import Limits

OPERATORS = 50


async def open_sessions(stage: Stage, webhook: str, count: int) -> None:
    """`count` clients write once: sessions #1..#count exist, each with its thread in the desk."""
    poster = Poster(webhook)
    await poster.open()
    try:
        first = max(stage.arrived, default=0) + 1
        messages = [Outgoing(first + n, stage.update(n, f"m{first + n}x hello")) for n in range(count)]
        stage.expect(m.seq for m in messages)
        await post_burst([poster], messages, 32)
        missing = await stage.all_arrived(max(60.0, count / 20))
        if missing:
            raise RuntimeError(f"{missing} of {count} sessions did not show up on the desk")
    finally:
        await poster.close()


async def acks(stage: Stage, url: str, rounds: int, first_session: int) -> dict[str, Any]:
    """`rounds` × 50 concurrent `/startprocess N`."""
    times: list[float] = []
    pickers = refused = 0
    for round_ in range(rounds):
        calls = [
            stage.slack.post_slash(
                url,
                "/startprocess",
                str(first_session + (round_ * OPERATORS + n) % 500),
                operator_slack(n + 1),
                DESK_CHANNEL,
            )
            for n in range(OPERATORS)
        ]
        for response in await asyncio.gather(*calls):
            times.append(response.elapsed)
            body = response.json if isinstance(response.json, dict) else {}
            if response.status == 200 and body.get("blocks"):
                pickers += 1
            else:
                refused += 1
    return {
        "requests": len(times),
        "pickers": pickers,
        "other_answers": refused,
        **{k: round(v, 2) for k, v in latency_summary(times).items()},
    }


async def click(stage: Stage, url: str, operator: int, session: int, timeout: float = 10.0) -> float | None:
    """One click on "Quick answer" in session #`session`'s picker; seconds until the modal opened."""
    user = operator_slack(operator)
    waiter = stage.modal_waiter(user)
    began = time.perf_counter()
    await stage.slack.click(url, user, f"{PICK}:quick", pick_value(session, "quick"), channel_id=DESK_CHANNEL)
    try:
        opened = await asyncio.wait_for(waiter, timeout)
    except TimeoutError:
        return None
    return opened - began


async def clicks(stage: Stage, url: str, sequential: int, rounds: int, first_session: int) -> dict[str, Any]:
    session = first_session
    one: list[float] = []
    failed = 0
    for n in range(sequential):
        took = await click(stage, url, n % OPERATORS + 1, session)
        session += 1
        if took is None:
            failed += 1
        else:
            one.append(took)
    many: list[float] = []
    for _ in range(rounds):
        done = await asyncio.gather(*(click(stage, url, n + 1, session + n) for n in range(OPERATORS)))
        session += OPERATORS
        many.extend(t for t in done if t is not None)
        failed += sum(1 for t in done if t is None)
    return {
        "sequential": {"clicks": len(one), **{k: round(v, 2) for k, v in latency_summary(one).items()}},
        "concurrent_50": {"clicks": len(many), **{k: round(v, 2) for k, v in latency_summary(many).items()}},
        "no_modal": failed,
    }


async def measure_store(
    stage: Stage, folder: Path, store: str, ack_rounds: int, sequential: int, click_rounds: int
) -> dict[str, Any]:
    prefix = redis_prefix() if store == "redis" else None
    workdir = folder / store
    workdir.mkdir()
    program: Program
    program, webhook = linedesk_program(
        stage, workdir, redis_url(prefix) if prefix else sqlite_url(workdir), operators=OPERATORS
    )
    url = webhook.replace("/telegram/support", "/slack/events")
    sessions = 500 + sequential + click_rounds * OPERATORS
    await program.start()
    try:
        print(f"· {store}: {sessions} sessions, {OPERATORS} operators online", flush=True)
        await open_sessions(stage, webhook, sessions)
        await asyncio.gather(
            *(
                stage.slack.post_slash(url, "/status", "online", operator_slack(n + 1), DESK_CHANNEL)
                for n in range(OPERATORS)
            )
        )
        await asyncio.sleep(0.5)
        stage.forget_history()
        print(f"· {store}: {ack_rounds} × {OPERATORS} concurrent /startprocess", flush=True)
        ack = await acks(stage, url, ack_rounds, 1)
        print(f"· {store}: {sequential} clicks one at a time, {click_rounds} × {OPERATORS} at once", flush=True)
        modal = await clicks(stage, url, sequential, click_rounds, 501)
        stage.forget_history()
        return {
            "store": "SQLite (file, WAL)" if store == "sqlite" else "Redis (loopback)",
            "ack": ack,
            "click_to_modal": modal,
            "rss_mb": round(program.rss_bytes() / 2**20, 1),
        }
    finally:
        program.stop()
        if prefix:
            await redis_cleanup(prefix)


async def measure(stores: list[str], ack_rounds: int, sequential: int, click_rounds: int) -> list[dict[str, Any]]:
    if "redis" in stores and not await redis_answers():
        print("no Redis answers: skipping the Redis store", file=sys.stderr)
        stores = [s for s in stores if s != "redis"]
    stage = Stage(limits=Limits.off())
    await stage.start(operators=OPERATORS)
    try:
        with tempfile.TemporaryDirectory(prefix="linedesk-slack-") as folder:
            return [
                await measure_store(stage, Path(folder), store, ack_rounds, sequential, click_rounds)
                for store in stores
            ]
    finally:
        await stage.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds of acks, 100 + 2 × 50 clicks")
    parser.add_argument("--stores", default="sqlite,redis")
    args = parser.parse_args(argv)
    ack_rounds, sequential, click_rounds = (5, 100, 2) if args.quick else (20, 500, 10)
    results = asyncio.run(
        measure([s.strip() for s in args.stores.split(",") if s.strip()], ack_rounds, sequential, click_rounds)
    )
    rows = []
    for r in results:
        ack, modal = r["ack"], r["click_to_modal"]
        rows.append(
            [
                r["store"],
                f"{ack['p50_ms']:.1f}",
                f"{ack['p99_ms']:.1f}",
                f"{ack['pickers']}/{ack['requests']}",
                f"{modal['sequential']['p50_ms']:.1f}",
                f"{modal['sequential']['p99_ms']:.1f}",
                f"{modal['concurrent_50']['p50_ms']:.1f}",
                f"{modal['concurrent_50']['p99_ms']:.1f}",
                str(modal["no_modal"]),
            ]
        )
    print(
        table(
            rows,
            [
                "store",
                "ack p50 ms",
                "ack p99 ms",
                "pickers",
                "click→modal p50",
                "p99",
                "50 at once p50",
                "p99",
                "no modal",
            ],
        )
    )
    data = {
        "benchmark": "slack_ack",
        "quick": args.quick,
        "operators": OPERATORS,
        "ack_rounds": ack_rounds,
        "sequential_clicks": sequential,
        "click_rounds": click_rounds,
        "results": results,
    }
    path = write_results("slack_ack-quick" if args.quick else "slack_ack", data)
    print(f"\nresults: {path.relative_to(path.parents[2])}")
    return data


if __name__ == "__main__":
    main()
