"""Slack customers as the tests drive and read them: DMs with the app, the sales thread (moved from
tests/e2e/test_slack_customers.py)."""

from __future__ import annotations

from typing import Any

from sandboxes.rig import SALES_CHANNEL, Person, Rig

PETRA = Person("Petra", "U0PETRA1")


def add_customer(rig: Rig, person: Person = PETRA, real_name: str = "Petra Novak") -> str:
    """A workspace member who is not an operator; returns the id of the app's DM with them."""
    rig.slack.add_user(person.slack_user, real_name, display_name=person.name)
    return str(rig.slack.dm(person.slack_user))


async def dm_writes(rig: Rig, person: Person, text: str, **kwargs: Any) -> None:
    response = await rig.slack.post_message(
        rig.slack_url, person.slack_user, rig.slack.dm(person.slack_user), text, **kwargs
    )
    assert response.status == 200, response
    await rig.settle()


def app_says(rig: Rig, person: Person) -> list[dict[str, Any]]:
    """What the app posted in the person's DM (edits applied, deleted ones gone)."""
    return [m for m in rig.slack.channel_messages(rig.slack.dm(person.slack_user)) if m.get("bot_id")]


def app_texts(rig: Rig, person: Person) -> list[str]:
    return [m.get("text", "") for m in app_says(rig, person)]


async def sales_thread(rig: Rig, session: int = 1) -> list[dict[str, Any]]:
    root = await rig.thread_root(session)
    assert root["channel"] == SALES_CHANNEL
    return rig.slack.thread(root["channel"], root["ts"])


async def thread_reply(rig: Rig, person: Person, session: int, text: str, **kwargs: Any) -> str:
    """An operator writes in the session's thread; returns the message's ts."""
    root = await rig.thread_root(session)
    ts = rig.slack.workspace.clock.next_ts()
    response = await rig.slack.post_message(
        rig.slack_url, person.slack_user, root["channel"], text, thread_ts=root["ts"], ts=ts, **kwargs
    )
    assert response.status == 200, response
    await rig.settle()
    return ts
