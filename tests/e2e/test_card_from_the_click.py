"""The clicked card shows the click's outcome straight from the click (SPEC §13), not through the desk's queue:
with linedesk's outbox stopped, a Take, Close or Spam on a card still redraws that card — Slack through the
click's response URL, Telegram by editing the pressed message — and the outbox's own refresh, once it runs
again, leaves the same card."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from adapters.slack.views import CLOSE, TAKE
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Rig
from tests.support.rigs import MakeRig
from tests.support.telegram_desk import button, card

WITHIN = 2.0


async def shows(check: Callable[[], bool], what: str) -> float:
    """Seconds until `check` holds (at most WITHIN), without waiting for the outbox (it is stopped)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < WITHIN, f"{what} not shown within {WITHIN} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def opened(make_rig: MakeRig) -> Rig:
    rig = await make_rig()
    await rig.slash(ANNA, "/status", "online")
    await rig.client_writes(IVAN, "Hello, my order is late")
    await rig.settle()
    assert rig.desk is not None
    rig.desk.outbox.stop()
    await asyncio.sleep(0.2)  # the worker's loop has ended: nothing more leaves through the outbox
    return rig


async def test_a_slack_card_is_redrawn_from_the_click_with_the_outbox_stopped(make_rig: MakeRig) -> None:
    rig = await opened(make_rig)
    root = await rig.thread_root(1)

    def card_blocks() -> str:
        """The card's blocks without the block ids Slack gives them."""
        blocks = (rig.slack.workspace.message(root["channel"], root["ts"]) or {}).get("blocks") or []
        return str([{k: v for k, v in b.items() if k != "block_id"} for b in blocks])

    assert "· Anna" not in card_blocks()
    updates_before = len(rig.slack.calls_of("chat.update"))
    response = await rig.slack.click(
        rig.slack_url, ANNA.slack_user, TAKE, "1", channel_id=root["channel"], message_ts=root["ts"]
    )
    assert response.status == 200, response
    took = await shows(lambda: "· Anna" in card_blocks(), "the card taken by Anna")
    print(f"CARD slack take: redrawn {took:.2f}s after the click")
    assert len(rig.slack.calls_of("chat.update")) == updates_before  # not the outbox's chat.update: the click's
    assert any("· Anna" in str(c.params.get("blocks")) for c in rig.slack.calls_of("response_url"))

    response = await rig.slack.click(
        rig.slack_url, ANNA.slack_user, CLOSE, "1", channel_id=root["channel"], message_ts=root["ts"]
    )
    assert response.status == 200, response
    await shows(lambda: "⚪ closed" in card_blocks(), "the card closed")
    closed = card_blocks()

    assert rig.desk is not None
    rig.desk.outbox.wake()
    task = asyncio.create_task(rig.desk.outbox.run())  # the outbox again: its refreshes draw the same card
    try:
        await rig.settle()
    finally:
        rig.desk.outbox.stop()
        await asyncio.wait_for(task, 5)
    assert card_blocks() == closed


async def test_a_telegram_card_is_redrawn_from_the_press_with_the_outbox_stopped(make_rig: MakeRig) -> None:
    rig = await opened(make_rig)
    shown = await card(rig, 1)
    assert "Anna" not in shown["text"]
    user = rig.telegram.user(ANNA.telegram_user, ANNA.name)

    async def press(label: str) -> None:
        now = await card(rig, 1)
        update = rig.telegram.callback_update(
            SUPPORT_TOKEN, user, button(now, label), now["message_id"], chat_id=TELEGRAM_DESK
        )
        result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
        assert result.status == 200, result

    def card_text() -> str:
        messages = rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)
        return next(str(m.get("text")) for m in messages if m["message_id"] == shown["message_id"])

    await press("Take")
    took = await shows(lambda: "Anna" in card_text(), "the card taken by Anna")
    print(f"CARD telegram take: redrawn {took:.2f}s after the press")
    await press("Spam")
    await shows(lambda: "spam" in card_text().lower(), "the card marked as spam")
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals
