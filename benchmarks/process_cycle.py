"""Start → form → reply: how long one cycle takes, end to end over HTTP against the sandboxes.

One cycle: the operator clicks a process in the `/startprocess` picker (Slack block_actions to
linedesk) → the instance starts and the modal opens (views.open at the Slack sandbox) → the operator
submits the form (view_submission) → the process's reply reaches the client's Telegram chat
(sendMessage at the Telegram sandbox). Each cycle uses its own session, so the 5 s double-click
guard never interferes.

    python benchmarks/process_cycle.py            # 1,000 cycles, SQLite store
    python benchmarks/process_cycle.py -n 200 --store redis://127.0.0.1:6379/14
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.slack.views import PICK, pick_value  # noqa: E402
from sandboxes.limits import Limits  # noqa: E402
from sandboxes.rig import ANNA, DESK_CHANNEL, SUPPORT_TOKEN, Person, Rig  # noqa: E402
from tests.support.bpmn import block, field, user_task, write_process  # noqa: E402


async def measure(cycles: int, store_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="linedesk-bench-") as folder:
        processes = Path(folder) / "processes"
        write_process(
            processes,
            "quick.bpmn",
            "quick",
            "Quick answer",
            user_task("Answer", field("answer", "string", required=True)),
            block("linedesk.reply", text="{answer}"),
        )
        rig = Rig(Path(folder), processes, store_url=store_url, outbox_poll=0.01, limits=Limits.off())
        await rig.start()
        try:
            await rig.slash(ANNA, "/status", "online")
            clients = [Person(f"Client {n}", telegram_user=900_000 + n) for n in range(cycles)]
            for person in clients:
                await rig.client_writes(person, "hi")
            starts, opens, totals = [], [], []
            for number, person in enumerate(clients, start=1):
                began = time.perf_counter()
                await rig.slack.click(
                    rig.slack_url,
                    ANNA.slack_user,
                    f"{PICK}:quick",
                    pick_value(number, "quick"),
                    channel_id=DESK_CHANNEL,
                )
                await rig.desk.slack_listeners.idle()  # type: ignore[union-attr]
                opened = time.perf_counter()
                modal = rig.slack.workspace.views.modal(ANNA.slack_user)
                assert modal is not None
                await rig.slack.submit_view(
                    rig.slack_url, ANNA.slack_user, modal.id, {"answer": {"value": f"answer {number}"}}
                )
                while True:
                    chat = rig.telegram.chat_messages(SUPPORT_TOKEN, person.telegram_user)
                    if chat and chat[-1].get("text") == f"answer {number}":
                        break
                    await asyncio.sleep(0.0005)
                done = time.perf_counter()
                starts.append(opened - began)
                totals.append(done - began)
                opens.append(done - opened)
        finally:
            await rig.stop()
    return {
        "cycles": cycles,
        "click_to_modal_p50_ms": statistics.median(starts) * 1000,
        "click_to_modal_p99_ms": sorted(starts)[int(len(starts) * 0.99) - 1] * 1000,
        "submit_to_reply_p50_ms": statistics.median(opens) * 1000,
        "cycle_p50_ms": statistics.median(totals) * 1000,
        "cycle_p99_ms": sorted(totals)[int(len(totals) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--cycles", type=int, default=1000)
    parser.add_argument("--store", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    result = asyncio.run(measure(args.cycles, args.store))
    print(
        f"machine: {platform.machine()} · {platform.python_implementation()} {platform.python_version()} · "
        f"store: {args.store or 'sqlite (file)'}"
    )
    for key, value in result.items():
        print(f"{key:<24} {value:.1f}" if isinstance(value, float) else f"{key:<24} {value}")


if __name__ == "__main__":
    main()
