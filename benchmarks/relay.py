"""Relay: client messages from the Telegram webhook to the Slack desk, against the framework floor.

One invocation runs the same load, one program after the other, each against fresh sandboxes:

- `aiogram`: a bare aiogram 3 echo bot — webhook → `sendMessage` back at the Telegram sandbox;
- `ptb`: a bare python-telegram-bot echo bot, the same way;
- `linedesk-sqlite`, `linedesk-redis`: `linedesk serve` — webhook → stored → session → mirrored in the
  session's thread of the Slack desk channel (`chat.postMessage` at the Slack sandbox).

A message counts as relayed when its text reaches the sandbox. Per program: a warm-up (one message per
chat: linedesk opens the sessions), then max throughput (N messages over M chats, posted as fast as
the webhook accepts them, `--concurrency` requests in flight; throughput = messages / (last arrival −
first post)), then a fixed rate (`--rate` messages/s for `--seconds`, open loop; latency from each
message's scheduled post time to its arrival).

    python benchmarks/relay.py --quick                    # ~1 minute
    python benchmarks/relay.py                            # 20,000 messages over 1,000 chats; 300/s for 10 s
    python benchmarks/relay.py --targets linedesk-sqlite --profile
    python benchmarks/relay.py --quick --targets linedesk-sqlite --profile --spy-options=--nonblocking
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load import Outgoing, Poster, post_burst, post_paced
from benchmarks.profiling import Spy, profile_summary
from benchmarks.results import RESULTS, table, write_results
from benchmarks.stage import (
    Program,
    Stage,
    echo_program,
    latency_summary,
    linedesk_program,
    redis_answers,
    redis_cleanup,
    redis_cpu_seconds,
    redis_prefix,
    redis_url,
    sqlite_url,
)
from benchmarks.stalls import StallWatch, collector_paused, read_stalls, summary
from sandboxes.limits import Limits

TARGETS = ("aiogram", "ptb", "linedesk-sqlite", "linedesk-redis")


@dataclass
class Plan:
    messages: int = 20_000
    chats: int = 1_000
    concurrency: int = 64
    rate: float = 300.0
    seconds: float = 10.0
    low_rate: float = 150.0
    """A second fixed rate, below linedesk's capacity on 2 cores (0: skipped)."""
    profile: bool = False
    profile_messages: int = 10_000
    spy_options: tuple[str, ...] = ("--gil",)
    """py-spy's options for `--profile`: `--gil` counts Python's CPU only; `--nonblocking` (without `--gil`)
    also counts SQLite's own C time on the loop's thread (finding 15)."""
    stalls: bool = False
    """Watch linedesk's loop and this process's for stalls (`stalls.py`) and name them in each phase's result."""

    @classmethod
    def quick(cls) -> Plan:
        return cls(messages=3_000, chats=300, rate=300.0, seconds=3.0, profile_messages=3_000)


class Relay:
    def __init__(self, stage: Stage, plan: Plan, workdir: Path, keep: bool = False, watch: StallWatch | None = None):
        self.watch = watch
        """This process's stall watch (generator and sandboxes), with `--stalls`."""
        self.stall_file: Path | None = None
        self.keep = keep
        """Leave the Redis keys in place (with `--keep`, to look at what linedesk stored), and when messages are
        missing, dump where linedesk's asyncio tasks wait (linedesk then runs through `storecount.py`)."""
        self.program: Program | None = None
        self.stage = stage
        self.plan = plan
        self.workdir = workdir
        self._seq = itertools.count(1)

    def messages(self, count: int, chats: int, targets: int = 1, first_chat: int = 0) -> list[Outgoing]:
        """`count` tagged messages, round-robin over `chats` clients (spread over `targets` webhooks by chat)."""
        out = []
        for index in range(count):
            seq = next(self._seq)
            chat = first_chat + index % chats
            out.append(Outgoing(seq, self.stage.update(chat, f"m{seq}x load message {index}"), target=chat % targets))
        return out

    async def phase(
        self,
        programs: list[Program],
        posters: list[Poster],
        messages: list[Outgoing],
        *,
        concurrency: int | None = None,
        rate: float | None = None,
        redis: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Post `messages` (a burst with `concurrency`, or paced at `rate`) and measure until each arrived."""
        self.stage.expect(m.seq for m in messages)
        for poster in posters:
            poster.acks.clear()
            poster.errors.clear()
        duplicates = self.stage.duplicates
        cpu = [p.cpu_seconds() for p in programs]
        own_cpu = time.process_time()
        redis_cpu = await redis_cpu_seconds() if redis else 0.0
        with collector_paused():
            began = time.perf_counter()
            wall_began = time.time()
            lag = 0.0
            if rate is not None:
                lag = await post_paced(posters, messages, rate)
            else:
                await post_burst(posters, messages, concurrency or self.plan.concurrency)
            posted = time.perf_counter()
            missing = await self.stage.all_arrived(timeout or max(30.0, len(messages) / 100))
            wall_ended = time.time()  # the collection after the phase is not in it
        if missing and self.keep and self.program is not None and self.program.counts_path is not None:
            self.program.process.send_signal(signal.SIGUSR2)  # type: ignore[union-attr]
            await asyncio.sleep(1.0)
            print(
                f"  {missing} missing: asyncio tasks of linedesk in "
                f"{self.program.counts_path.with_suffix('.tasks.txt')}",
                flush=True,
            )
        arrivals = [self.stage.arrived[m.seq] for m in messages if m.seq in self.stage.arrived]
        latencies = [self.stage.arrived[m.seq] - m.sent for m in messages if m.seq in self.stage.arrived]
        first = min(m.sent for m in messages)
        last = max(arrivals) if arrivals else posted
        acks = [a for p in posters for a in p.acks]
        errors: dict[str, int] = {}
        for poster in posters:
            for key, value in poster.errors.items():
                errors[key] = errors.get(key, 0) + value
        target_cpu = sum(p.cpu_seconds() for p in programs) - sum(cpu)
        result: dict[str, Any] = {
            "messages": len(messages),
            "arrived": len(arrivals),
            "missing": missing,
            "duplicates": self.stage.duplicates - duplicates,
            "webhook_errors": errors,
            "seconds": round(last - first, 3),
            "relayed_per_s": round(len(arrivals) / (last - first), 1) if last > first else 0.0,
            "accepted_per_s": round(len(messages) / (posted - began), 1),
            **{k: round(v, 2) for k, v in latency_summary(latencies).items()},
            **{k: round(v, 2) for k, v in latency_summary(acks, "ack_").items()},
            "target_cpu_ms_per_msg": round(target_cpu * 1000 / max(1, len(arrivals)), 3),
            "target_cpu_pct": round(100 * target_cpu / max(1e-9, last - began), 1),
            "generator_cpu_pct": round(100 * (time.process_time() - own_cpu) / max(1e-9, last - began), 1),
        }
        if redis:
            result["redis_cpu_pct"] = round(100 * (await redis_cpu_seconds() - redis_cpu) / max(1e-9, last - began), 1)
        if rate is not None:
            result["rate"] = rate
            result["generator_worst_lag_ms"] = round(lag * 1000, 2)
        if self.watch is not None:
            # a stall still going at the phase's end is the collection after it (`collector_paused`)
            result["stalls"] = {
                "bench": summary(
                    [s for s in self.watch.between(wall_began, wall_ended) if s.began + s.seconds <= wall_ended]
                ),
                "linedesk": summary(
                    [s for s in read_stalls(self.stall_file) if wall_began <= s.began <= wall_ended]
                    if self.stall_file
                    else []
                ),
            }
        return result

    async def run_target(self, name: str) -> dict[str, Any]:
        plan = self.plan
        prefix = redis_prefix() if name == "linedesk-redis" else None
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        if name.startswith("linedesk"):
            store = redis_url(prefix) if prefix else sqlite_url(folder)
            counted = plan.profile or self.keep
            self.stall_file = folder / "stalls.jsonl" if plan.stalls and not counted else None
            program, url = linedesk_program(self.stage, folder, store, count_store=counted, stalls=self.stall_file)
        else:
            program, url = echo_program(name, self.stage, folder)
        poster = Poster(url, limit=max(plan.concurrency, 256))
        await program.start()
        await poster.open()
        result: dict[str, Any] = {
            "target": name,
            "store": "SQLite (file, WAL)" if name == "linedesk-sqlite" else "Redis (loopback)" if prefix else "none",
        }
        try:
            redis = prefix is not None
            self.program = program
            print(f"· {name}: warm-up ({plan.chats} chats)", flush=True)
            result["warmup"] = await self.phase(
                [program], [poster], self.messages(plan.chats, plan.chats), redis=redis, timeout=120
            )
            self.stage.forget_history()
            print(f"· {name}: max throughput ({plan.messages} messages)", flush=True)
            result["burst"] = await self.phase(
                [program], [poster], self.messages(plan.messages, plan.chats), redis=redis
            )
            self.stage.forget_history()
            count = int(plan.rate * plan.seconds)
            print(f"· {name}: {plan.rate:.0f} messages/s for {plan.seconds:.0f} s", flush=True)
            result["paced"] = await self.phase(
                [program], [poster], self.messages(count, plan.chats), rate=plan.rate, redis=redis
            )
            self.stage.forget_history()
            if plan.low_rate:
                await asyncio.sleep(2.0)  # the backlog of the last phase, if any, is gone
                count = int(plan.low_rate * plan.seconds)
                print(f"· {name}: {plan.low_rate:.0f} messages/s for {plan.seconds:.0f} s", flush=True)
                result["paced_low"] = await self.phase(
                    [program], [poster], self.messages(count, plan.chats), rate=plan.low_rate, redis=redis
                )
                self.stage.forget_history()
            if plan.profile:
                result["profile"] = await self.profiled(name, program, poster)
            result["rss_mb"] = round(program.rss_bytes() / 2**20, 1)
        finally:
            await poster.close()
            code = program.stop()
            if code not in (0, None, -15):
                print(f"  {name} exited with {code}:\n{program.log_tail()}", file=sys.stderr)
            if prefix and self.keep:
                print(f"  Redis keys kept under {prefix}", flush=True)
            elif prefix:
                await redis_cleanup(prefix)
        return result

    async def profiled(self, name: str, program: Program, poster: Poster) -> dict[str, Any] | None:
        """One more burst with py-spy attached (not counted in the table: the sampler costs CPU)."""
        raw = RESULTS / "profiles" / f"relay-{name}.txt"
        raw.parent.mkdir(parents=True, exist_ok=True)
        spy = Spy(program.pid, raw, options=self.plan.spy_options)
        if not spy.start():
            return None
        print(f"· {name}: profiled burst ({self.plan.profile_messages} messages, py-spy)", flush=True)
        before = await program.store_counts()
        burst = await self.phase([program], [poster], self.messages(self.plan.profile_messages, self.plan.chats))
        after = await program.store_counts()
        self.stage.forget_history()
        out = spy.stop()
        if out is None:
            return None
        relayed = max(1, burst["arrived"])
        delta = {k: (v - before.get(k, 0)) / relayed for k, v in after.items() if v - before.get(k, 0) > 0}
        ordered = sorted(delta.items(), key=lambda kv: -kv[1])
        calls = {k: round(v, 2) for k, v in ordered if " <- " not in k and not k.endswith(" seconds")}
        callers = {k: round(v, 2) for k, v in ordered if " <- " in k and v >= 0.05}
        waits = {
            k: round(1000 * delta.get(f"{k} seconds", 0.0) * relayed / max(1.0, v * relayed), 2)
            for k, v in calls.items()
        }
        return {
            "burst": burst,
            "raw": str(out.relative_to(RESULTS.parent.parent)),
            **profile_summary(out),
            "store_calls_per_msg": calls,
            "store_calls_per_msg_total": round(sum(calls.values()), 2),
            "store_calls_per_msg_by_caller": callers,
            "store_call_mean_ms": waits,
        }


def print_report(results: list[dict[str, Any]]) -> None:
    floor = next((r["burst"]["relayed_per_s"] for r in results if r["target"] == "aiogram"), None)
    rows = []
    for r in results:
        burst, paced, low = r["burst"], r["paced"], r.get("paced_low")
        ratio = f"{burst['relayed_per_s'] / floor:.2f}" if floor else "-"
        rows.append(
            [
                r["target"],
                f"{burst['relayed_per_s']:.0f}",
                ratio,
                f"{burst['accepted_per_s']:.0f}",
                f"{burst['p50_ms']:.0f}/{burst['p99_ms']:.0f}",
                f"{paced['p50_ms']:.1f}/{paced['p95_ms']:.1f}/{paced['p99_ms']:.1f}",
                f"{low['p50_ms']:.1f}/{low['p99_ms']:.1f}" if low else "-",
                f"{burst['target_cpu_ms_per_msg']:.2f}",
                f"{r['warmup']['relayed_per_s']:.0f}",
                f"{burst['missing'] + paced['missing']}/{burst['duplicates'] + paced['duplicates']}",
                f"{r.get('rss_mb', 0):.0f}",
            ]
        )
    print(
        table(
            rows,
            [
                "target",
                "msgs/s",
                "÷aiogram",
                "accepted/s",
                "burst p50/p99 ms",
                f"@{results[0]['paced']['rate']:.0f}/s p50/p95/p99 ms",
                f"@{results[0].get('paced_low', {}).get('rate', 0):.0f}/s p50/p99",
                "CPU ms/msg",
                "warm-up/s",
                "missing/dup",
                "RSS MB",
            ],
        )
    )
    for r in results:
        for phase in ("burst", "paced", "paced_low"):
            stalls = r.get(phase, {}).get("stalls")
            if not stalls:
                continue
            for where, found in stalls.items():
                print(
                    f"\n{r['target']} {phase}: {found['count']} stall(s) of the {where} loop, "
                    f"worst {found['worst_ms']} ms"
                )
                for stall in found["stalls"][:3]:
                    top = stall["stacks"][0]["stack"] if stall["stacks"] else "(no sample)"
                    print(
                        f"  {stall['ms']} ms (loop thread CPU {stall['cpu_ms']} ms, collector {stall['gc_ms']} ms): "
                        f"{top[:400]}"
                    )
        profile = r.get("profile")
        if profile:
            print(f"\n{r['target']}: where the CPU goes (py-spy, {profile['samples']} samples, self time)")
            for name, pct in profile["self_by_library_pct"][:10]:
                print(f"  {pct:5.1f}%  {name}")
            print("  linedesk functions on the stack (inclusive):")
            for name, pct in profile["linedesk_inclusive_pct"][:12]:
                print(f"  {pct:5.1f}%  {name}")
            calls = profile.get("store_calls_per_msg") or {}
            if calls:
                print(
                    f"  store calls per relayed message: {profile['store_calls_per_msg_total']}  "
                    + ", ".join(f"{k} {v}" for k, v in calls.items())
                )


async def measure(plan: Plan, targets: list[str], keep: Path | None = None) -> list[dict[str, Any]]:
    if "linedesk-redis" in targets and not await redis_answers():
        print("no Redis answers: skipping linedesk-redis", file=sys.stderr)
        targets = [t for t in targets if t != "linedesk-redis"]
    results = []
    watch: StallWatch | None = None
    if plan.stalls:
        watch = StallWatch()
        watch.start()
    with tempfile.TemporaryDirectory(prefix="linedesk-relay-") as folder:
        for name in targets:
            # fresh sandboxes for each program: what an earlier program left in them (tens of thousands of
            # stored messages in this process) must not slow the next one down
            stage = Stage(limits=Limits.off())
            await stage.start()
            try:
                relay = Relay(stage, plan, keep or Path(folder), keep=keep is not None, watch=watch)
                results.append(await relay.run_target(name))
            finally:
                await stage.stop()
    if watch is not None:
        watch.stop()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 messages over 300 chats; 300/s for 3 s")
    parser.add_argument("--messages", type=int, help="messages in the max-throughput phase")
    parser.add_argument("--chats", type=int, help="clients writing (each a session in linedesk)")
    parser.add_argument("--concurrency", type=int, help="webhook requests in flight in the max-throughput phase")
    parser.add_argument("--rate", type=float, help="messages/s of the fixed-rate phase")
    parser.add_argument("--seconds", type=float, help="length of the fixed-rate phases")
    parser.add_argument("--low-rate", type=float, help="messages/s of the second fixed-rate phase (0: none)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--profile", action="store_true", help="one more burst per program with py-spy attached")
    parser.add_argument(
        "--spy-options",
        default="--gil",
        help="py-spy's options for --profile (e.g. '--nonblocking': SQLite's C time counted too)",
    )
    parser.add_argument(
        "--stalls", action="store_true", help="name the event loops' stalls (linedesk's and this process's) per phase"
    )
    parser.add_argument("--out", help="name of the results file in benchmarks/results (default: relay, relay-quick)")
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (configs, logs, SQLite files) and the Redis keys"
    )
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    for name in ("messages", "chats", "concurrency", "rate", "seconds", "low_rate"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    plan.profile = args.profile
    plan.stalls = args.stalls
    plan.spy_options = tuple(args.spy_options.split())
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    results = asyncio.run(measure(plan, targets, args.keep))
    print_report(results)
    data = {"benchmark": "relay", "quick": args.quick, "plan": plan.__dict__, "results": results}
    path = write_results(args.out or ("relay-quick" if args.quick else "relay"), data)
    print(f"\nresults: {path.relative_to(RESULTS.parent.parent)}")
    return data


if __name__ == "__main__":
    main()
