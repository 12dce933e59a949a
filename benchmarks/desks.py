"""Busy desks (SPEC §13): mirrored client messages reaching desks that the platforms' rate limits hold back.

The sandboxes enforce Telegram's and Slack's limits (`sandboxes.limits`, on here, unlike the other benchmarks)
and linedesk paces itself (`[delivery] pace = true`, the default). Each scenario runs `linedesk serve` with one
line whose desk is one or more Slack channels, or a Telegram forum group; its clients (Telegram users of the
support bot) each write a tagged message (`m<seq>x`) every few seconds, open loop:

| scenario | desk | sessions | a message per client every | target |
|---|---|---|---|---|
| `slack-10` | one Slack channel | 10 | 10 s (below the channel's ~1/s) | p99 lag < 5 s |
| `slack-30` | one Slack channel | 30 | 10 s (3× the channel's limit) | p99 lag < 45 s, card updates p99 < 2 s |
| `slack-30x3` | three Slack channels | 30 | 10 s | p99 lag < 15 s |
| `telegram-5` | one Telegram forum group | 5 | 15 s (below the group's 20/min) | p99 lag < 5 s |
| `telegram-15` | one Telegram forum group | 15 | 15 s (3× the group's limit) | p99 lag < 60 s |

Everywhere: nothing lost, duplicated, reordered (or posted in another session's thread/topic), no 429, and the
lag does not grow (the last minute's p99 no worse than the second minute's).

A warm-up first opens the sessions (one message per client: topic/thread, card, greeting) and waits until the
desk's budget is back (Telegram: a minute); then the measured run. Desk lag = the message's scheduled post time
→ the sandbox stores a desk post in the session's thread/topic whose text carries its tag (linedesk merges
messages that waited into one post, one line each: every tag in a post counts). Every ~20 s an operator acts on
a session's card (Slack: Take, or "Back to the queue" when it is taken; Telegram: Take, while untaken sessions
remain) and the card update is timed from the click to the `chat.update` / `editMessageText` reaching the
sandbox with the card's new state.

    python benchmarks/desks.py --quick                 # every scenario for 1 minute (~13 minutes)
    python benchmarks/desks.py                         # 5 minutes each (~36 minutes)
    python benchmarks/desks.py --scenarios slack-30,telegram-15 --minutes 3 --store redis
    python benchmarks/desks.py --parallel              # the scenarios at once (each its own sandboxes and serve)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.desk_stage import (
    CARD_EVERY,
    CARD_TIMEOUT,
    SCENARIOS,
    CardWait,
    DeskStage,
    Scenario,
)
from benchmarks.desks_report import lag_stats, print_report, verdicts
from benchmarks.load import Poster
from benchmarks.results import RESULTS, machine, write_results
from benchmarks.stage import (
    Program,
    linedesk_program,
    operator_telegram,
    percentile,
    redis_answers,
    redis_cleanup,
    redis_prefix,
    redis_url,
    slack_events_url,
    sqlite_url,
)
from sandboxes.rig import DESK_CHANNEL, TELEGRAM_DESK
from sandboxes.rig import SUPPORT_TOKEN as TOKEN


class Run:
    def __init__(self, scenario: Scenario, minutes: float, workdir: Path, store: str) -> None:
        self.scenario = scenario
        self.minutes = minutes
        self.workdir = workdir
        self.store = store
        self.stage = DeskStage(scenario)
        self.seq = 0
        self.card_results: list[dict[str, Any]] = []
        self.log = lambda text: print(f"[{scenario.name}] {text}", flush=True)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def measure(self) -> dict[str, Any]:
        scenario, stage = self.scenario, self.stage
        operators = 2
        await stage.start(operators=operators)
        prefix = redis_prefix() if self.store == "redis" else None
        store_url = redis_url(prefix) if prefix else sqlite_url(self.workdir)
        program, webhook = linedesk_program(
            stage,
            self.workdir,
            store_url,
            operators=operators,
            name=f"linedesk-{scenario.name}",
            pace=True,
            desk_channels=scenario.desk_channels,
            telegram_desk=TELEGRAM_DESK if scenario.desk == "telegram" else None,
        )
        poster = Poster(webhook, limit=64)
        try:
            await program.start()
            await poster.open()
            return await self._measure(program, poster, slack_events_url(webhook))
        finally:
            await poster.close()
            code = program.stop()
            if code not in (0, None, -15):
                print(f"  linedesk exited with {code}:\n{program.log_tail()}", file=sys.stderr)
            await stage.stop()
            if prefix:
                await redis_cleanup(prefix)

    async def _measure(self, program: Program, poster: Poster, slack_url: str) -> dict[str, Any]:
        scenario, stage = self.scenario, self.stage
        await self._operators_online(poster, slack_url)
        # warm-up: every client writes once (the session opens: topic/thread, card, greeting, the mirror)
        began = time.perf_counter()
        warm = []
        for client in range(scenario.sessions):
            seq = self.next_seq()
            warm.append(seq)
            await poster.post(stage.client_seq_update(client, seq, time.perf_counter(), warmup=True))
        warm_missing = await self._wait_for(warm, 240.0)
        warmup_s = time.perf_counter() - began
        self.log(f"warm-up: {scenario.sessions} sessions open in {warmup_s:.1f} s ({warm_missing} missing)")
        # let the desk's budget come back (Telegram counts a group's sends over a minute)
        await asyncio.sleep(62.0 if scenario.desk == "telegram" else 5.0)

        duration = self.minutes * 60.0
        start = time.perf_counter() + 0.5
        schedule = sorted(
            (start + client * scenario.every / scenario.sessions + k * scenario.every, client)
            for client in range(scenario.sessions)
            for k in range(int(duration / scenario.every) + 1)
            if client * scenario.every / scenario.sessions + k * scenario.every < duration
        )
        refusals_before = self._refusals()
        cpu_before = program.cpu_seconds()
        cards = asyncio.create_task(self._cards(poster, slack_url, start, duration))
        tasks: list[asyncio.Task[bool]] = []
        seqs: list[int] = []
        worst_late = 0.0
        for due, client in schedule:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                worst_late = max(worst_late, -delay)
            seq = self.next_seq()
            seqs.append(seq)
            tasks.append(asyncio.create_task(poster.post(stage.client_seq_update(client, seq, due))))
        await asyncio.gather(*tasks)
        posted = time.perf_counter()
        await cards
        seen = [c["latency_s"] for c in self.card_results if "latency_s" in c]
        self.log(
            f"posted; card updates seen {len(seen)}/{len(self.card_results)}, slowest {max(seen, default=0):.3f} s"
        )
        missing = await self._wait_for(seqs, max(120.0, 3 * scenario.lag_p99_s))
        drained = time.perf_counter()
        await asyncio.sleep(2.0)  # a duplicate would come now
        self.log(f"run over: {len(seqs)} messages, {missing} missing after {drained - posted:.0f} s")
        return self._report(seqs, start, duration, warmup_s, warm_missing, refusals_before, worst_late, poster) | {
            "linedesk_cpu_pct": round(100 * (program.cpu_seconds() - cpu_before) / max(1e-9, drained - start), 1),
            "drain_s_after_last_post": round(drained - posted, 1),
        }

    async def _operators_online(self, poster: Poster, slack_url: str) -> None:
        """Operators start offline, and an offline operator cannot take a session: `/status online` (Slack: the
        slash command; Telegram: to the bot in a private chat, so the answer costs the desk group nothing)."""
        stage = self.stage
        for n in range(1, stage.operators + 1):
            if self.scenario.desk == "slack":
                response = await stage.slack.post_slash(slack_url, "/status", "online", f"U0OP{n:04d}", DESK_CHANNEL)
                ok = response.status == 200 and "online" in response.text
            else:
                user = stage.telegram.user(operator_telegram(n), f"Operator {n}")
                stage.telegram.open_private_chat(TOKEN, user)
                update = stage.telegram.text_update(TOKEN, user, "/status online")
                ok = await poster.post(json.dumps(update, separators=(",", ":")).encode())
            if not ok:
                raise RuntimeError(f"operator {n} could not go online")

    async def _wait_for(self, seqs: Sequence[int], timeout: float) -> int:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            left = sum(1 for s in seqs if s not in self.stage.tally.arrived)
            if not left:
                return 0
            await asyncio.sleep(0.2)
        return sum(1 for s in seqs if s not in self.stage.tally.arrived)

    def _refusals(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for platform, refusals in (("slack", self.stage.slack.refusals), ("telegram", self.stage.telegram.refusals)):
            for method, n in refusals.by_method.items():
                counts[f"{platform} {method}"] = counts.get(f"{platform} {method}", 0) + n
        return counts

    # --- card updates -----------------------------------------------------------------------------------
    async def _cards(self, poster: Poster, slack_url: str, start: float, duration: float) -> None:
        stage, scenario = self.stage, self.scenario
        assigned: set[int] = set()
        sessions = sorted(stage.session_client)
        turn = 0
        at = start + CARD_EVERY / 2
        while at < start + duration:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            at += CARD_EVERY
            if not sessions:
                continue
            session = sessions[turn % len(sessions)]
            turn += 1
            operator = 1 + turn % 2
            name = f"Operator {operator}"
            if session in assigned:
                if scenario.desk == "telegram":
                    continue  # releasing it would post a transfer menu in the topic: untaken ones only
                kind = "queue"
                expect: Callable[[str], bool] = lambda state: "unassigned" in state  # noqa: E731
            else:
                kind = "take"

                def expect(state: str, name: str = name) -> bool:
                    return name in state

            future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            stage.card_waits[session] = CardWait(session, kind, expect, future)
            clicked = time.perf_counter()
            ok = await self._click(poster, slack_url, session, operator, kind)
            result: dict[str, Any] = {"session": session, "kind": kind, "at_s": round(clicked - start, 1)}
            if not ok:
                result["error"] = "click not accepted"
                stage.card_waits.pop(session, None)
            else:
                try:
                    seen = await asyncio.wait_for(asyncio.shield(future), CARD_TIMEOUT)
                    result["latency_s"] = round(seen - clicked, 3)
                except TimeoutError:
                    result["error"] = f"no card update within {CARD_TIMEOUT:.0f} s"
                    stage.card_waits.pop(session, None)
            if kind == "take":
                assigned.add(session)
            else:
                assigned.discard(session)
            self.card_results.append(result)

    async def _click(self, poster: Poster, slack_url: str, session: int, operator: int, kind: str) -> bool:
        stage = self.stage
        if self.scenario.desk == "slack":
            channel, ts = stage.slack_cards[session]
            user = f"U0OP{operator:04d}"
            if kind == "take":
                response = await stage.slack.click(
                    slack_url, user, "session.take", str(session), channel_id=channel, message_ts=ts
                )
            else:
                response = await stage.slack.click(
                    slack_url, user, "session.menu", f"queue:{session}", channel_id=channel, message_ts=ts
                )
            return response.status == 200
        card = stage.telegram_cards[session]
        person = stage.telegram.user(operator_telegram(operator), f"Operator {operator}")
        update = stage.telegram.callback_update(TOKEN, person, f"ses:take:{session}", card, chat_id=TELEGRAM_DESK)
        return await poster.post(json.dumps(update, separators=(",", ":")).encode())

    # --- the report ---------------------------------------------------------------------------------------
    def _report(
        self,
        seqs: list[int],
        start: float,
        duration: float,
        warmup_s: float,
        warm_missing: int,
        refusals_before: dict[str, int],
        worst_late: float,
        poster: Poster,
    ) -> dict[str, Any]:
        scenario, stage, tally = self.scenario, self.stage, self.stage.tally
        minutes = max(1, round(duration / 60))
        lags = [tally.arrived[s] - stage.sent[s].at for s in seqs if s in tally.arrived]
        per_minute = []
        for minute in range(minutes):
            in_minute = [s for s in seqs if minute * 60 <= stage.sent[s].at - start < (minute + 1) * 60]
            minute_lags = [tally.arrived[s] - stage.sent[s].at for s in in_minute if s in tally.arrived]
            delivered = sum(1 for t in tally.arrived.values() if minute * 60 <= t - start < (minute + 1) * 60)
            per_minute.append(
                {"minute": minute + 1, "offered": len(in_minute), "delivered": delivered, **lag_stats(minute_lags)}
            )
        refusals = self._refusals()
        refusals = {k: v - refusals_before.get(k, 0) for k, v in refusals.items() if v - refusals_before.get(k, 0)}
        card_lat = [c["latency_s"] for c in self.card_results if "latency_s" in c]
        lost = sum(1 for s in stage.sent if s not in tally.arrived)
        return {
            "scenario": scenario.name,
            "desk": scenario.desk,
            "desk_channels": scenario.desk_channels,
            "sessions": scenario.sessions,
            "every_s": scenario.every,
            "minutes": self.minutes,
            "store": self.store,
            "targets": {"lag_p99_s": scenario.lag_p99_s, "card_p99_s": scenario.card_p99_s},
            "warmup_s": round(warmup_s, 1),
            "warmup_missing": warm_missing,
            "messages": len(seqs),
            "offered_per_min": round(len(seqs) / (duration / 60), 1),
            "delivered_per_min": round(sum(1 for s in seqs if s in tally.arrived) / (duration / 60), 1),
            "lag": lag_stats(lags),
            "per_minute": per_minute,
            "cards": {
                "actions": len(self.card_results),
                "updated": len(card_lat),
                "p50_s": round(percentile(card_lat, 0.50), 3),
                "p99_s": round(percentile(card_lat, 0.99), 3),
                "max_s": round(max(card_lat), 3) if card_lat else 0.0,
                "each": self.card_results,
            },
            "refusals_429": refusals,
            "refusals_429_total": sum(refusals.values()),
            "refusals_429_whole_run": self._refusals(),
            "lost": lost,
            "duplicates": tally.duplicates,
            "reordered": tally.reordered,
            "misplaced": tally.misplaced,
            "desk_posts": dict(stage.desk_posts),
            "tags_per_mirror_post": round(len(tally.arrived) / max(1, stage.desk_posts["mirrors"]), 2),
            "timeline": [
                [
                    round(stage.sent[s].at - start, 2),
                    stage.sent[s].client,
                    round(tally.arrived[s] - stage.sent[s].at, 2),
                ]
                for s in seqs
                if s in tally.arrived
            ],
            "webhook_errors": dict(poster.errors),
            "generator_worst_late_ms": round(worst_late * 1000, 1),
        }


async def run_one(scenario: Scenario, minutes: float, store: str, keep: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"linedesk-desks-{scenario.name}-") as folder:
        workdir = keep / scenario.name if keep else Path(folder)
        workdir.mkdir(parents=True, exist_ok=True)
        return await Run(scenario, minutes, workdir, store).measure()


async def measure(
    scenarios: list[Scenario], minutes: float, store: str, parallel: bool, keep: Path | None
) -> list[dict[str, Any]]:
    if store == "redis" and not await redis_answers():
        raise SystemExit("no Redis answers (LINEDESK_BENCH_REDIS)")
    if parallel:
        return list(await asyncio.gather(*(run_one(s, minutes, store, keep) for s in scenarios)))
    return [await run_one(s, minutes, store, keep) for s in scenarios]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 minute per scenario")
    parser.add_argument("--minutes", type=float, help="minutes of each measured run (default 5; --quick: 1)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument(
        "--parallel", action="store_true", help="run the scenarios at once (each with its own sandboxes and serve)"
    )
    parser.add_argument("--out", help="name of the results file in benchmarks/results (default: desks, desks-quick)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (configs, logs, SQLite files)")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    minutes = args.minutes if args.minutes is not None else 1.0 if args.quick else 5.0
    print(f"machine: {machine()}", flush=True)
    results = asyncio.run(measure([SCENARIOS[n] for n in names], minutes, args.store, args.parallel, args.keep))
    print_report(results)
    for r in results:
        r["verdicts"] = verdicts(r)
    data = {"benchmark": "desks", "quick": args.quick, "parallel": args.parallel, "results": results}
    path = write_results(args.out or ("desks-quick" if args.quick else "desks"), data)
    print(f"\nresults: {path.relative_to(RESULTS.parent.parent)}")
    return data


if __name__ == "__main__":
    main()
