"""The stage of the saved-replies and rating tests (SPEC §14): a rig whose support line and sales line (the
Slack DM line) rate sessions, with saved replies and auto-start rules on `session.rated` and `session.assigned`
whose processes write what they were given into an app's items, and a process "Goodbye" that closes the
session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bots.app import Linedesk
from core.clock import Clock
from sandboxes.limits import Limits
from sandboxes.rig import DESK_CHANNEL, SUPPORT_TOKEN, WEBHOOK_SECRET, Person, Rig, free_port
from tests.support.bpmn import block, write_process
from tests.support.rigs import REDIS_URL, drop_redis_prefix, redis_available

SUPPORT_EXTRA = """rating = true

[[lines.autostart]]
event = "session.rated"
process = "note_rating"

[[lines.autostart]]
event = "session.assigned"
process = "note_assignee"

[[replies]]
id = "hello"
title = "Greeting"
text = "Hello {client_name}, this is {operator_name} of {line_name} (session #{session})."

[[replies]]
id = "offer"
title = "Sales offer"
text = "Our offer of the week."
lines = ["sales"]
"""


ADMIN_TOKEN = "replies-admin-token"


class RatingRig(Rig):
    """The sandboxes' rig with the sales line (Slack DMs) rating its sessions too."""

    def config_text(self) -> str:
        return super().config_text().replace("slack_dm = true\n", "slack_dm = true\nrating = true\n", 1)


@asynccontextmanager
async def replies_rig(store: str, tmp_path: Path, clock: Clock | None = None) -> AsyncIterator[Rig]:
    """A started `RatingRig` on SQLite or on a fresh Redis key prefix (removed afterwards); skips without Redis."""
    folder = tmp_path / "processes"
    write_process(
        folder,
        "note_rating.bpmn",
        "note_rating",
        "Note rating",
        block("linedesk.create_item", app="ratings", rating="{rating}"),
    )
    write_process(
        folder,
        "note_assignee.bpmn",
        "note_assignee",
        "Note assignee",
        block("linedesk.create_item", app="assigned", assignee="{assignee}"),
    )
    write_process(folder, "bye.bpmn", "bye", "Goodbye", block("linedesk.close_session"))
    store_url = None
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    if store == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        store_url = f"{REDIS_URL}?prefix={prefix}"
    stage = RatingRig(
        tmp_path,
        folder,
        store_url=store_url,
        limits=Limits.off(),
        extra_line_config=SUPPORT_EXTRA,
        admin_token=ADMIN_TOKEN,
        clock=clock,
    )
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()
        if store == "redis":
            await drop_redis_prefix(prefix)


def slack_buttons(blocks: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The buttons of Block Kit `blocks`, by their label."""
    return {e["text"]["text"]: e for b in blocks or [] if b["type"] == "actions" for e in b["elements"]}


async def slack_press(rig: Rig, person: Person, button: dict[str, Any], **where: Any) -> None:
    """`person` clicks a button of an ephemeral list in the desk channel (or where `where` says)."""
    where = where or {"channel_id": DESK_CHANNEL, "container_ephemeral": True}
    await rig.click(person, button["action_id"], button["value"], **where)


async def items(rig: Rig, app: str) -> list[dict[str, Any]]:
    assert rig.desk is not None
    return [item.fields for item in await rig.desk.store.list_items(app)]


async def client_press(rig: Rig, person: Person, message: dict[str, Any], data: str, chat_id: int) -> str:
    """`person` presses a button with `data` under `message` of the client's private chat `chat_id` with the
    support bot; returns the text the bot answered the press with."""
    user = rig.telegram.user(person.telegram_user, person.name)
    update = rig.telegram.callback_update(SUPPORT_TOKEN, user, data, message["message_id"], chat_id=chat_id)
    result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
    assert result.status == 200, result
    await rig.settle()
    answer = rig.telegram.callback_answer(SUPPORT_TOKEN, update["callback_query"]["id"])
    assert answer is not None, "the press was never answered"
    return str(answer.get("text", ""))


@asynccontextmanager
async def second_linedesk(rig: Rig) -> AsyncIterator[tuple[Linedesk, str]]:
    """Another linedesk on the rig's config and store (two instances sharing work: a Redis store), on a port of
    its own; yields it and the URL of its Telegram webhook for the support line."""
    desk = Linedesk(rig.load_config(), outbox_poll=0.05)
    runner = web.AppRunner(desk.web_app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await desk.start(transports=False)
    try:
        yield desk, f"http://127.0.0.1:{port}/telegram/support"
    finally:
        await desk.stop()
        await runner.cleanup()


async def post_update(url: str, update: dict[str, Any]) -> int:
    """What Telegram does with an update for a webhook: POST it with the line's secret token."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with aiohttp.ClientSession() as http, http.post(url, json=update, headers=headers) as response:
        return response.status
