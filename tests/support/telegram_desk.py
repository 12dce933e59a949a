"""The Telegram desk as the tests drive and read it: operators writing and pressing, topics, cards, pickers
(moved from tests/e2e/test_telegram_desk.py)."""

from __future__ import annotations

from typing import Any

from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Person, Rig

MALLORY = Person("Mallory", telegram_user=999999)


async def writes(rig: Rig, person: Person, text: str, session: int | None = 1) -> None:
    """`person` writes `text` in the topic of `session` (None: the desk group's General topic)."""
    await rig.topic_says(person, session, text)


async def press(rig: Rig, person: Person, message: dict[str, Any], data: str) -> dict[str, Any]:
    """`person` presses a button with `data` under `message`; returns the callback's answer."""
    answer = await rig.press(person, message, data)
    assert answer is not None, "the button was never answered"
    return answer


async def click(rig: Rig, person: Person, message: dict[str, Any], text: str) -> dict[str, Any]:
    return await press(rig, person, message, button(message, text))


# --- what people see ---------------------------------------------------------------------------------
async def topic(rig: Rig, session: int = 1) -> list[dict[str, Any]]:
    return await rig.topic(session)


async def topic_texts(rig: Rig, session: int = 1) -> list[str]:
    return [m.get("text", "") for m in await topic(rig, session)]


def general(rig: Rig) -> list[dict[str, Any]]:
    return [m for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK) if "message_thread_id" not in m]


def rows(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list((message.get("reply_markup") or {}).get("inline_keyboard", []))


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in rows(message) for b in row}


def button(message: dict[str, Any], text: str) -> str:
    found = buttons(message)
    assert text in found, f"no button {text!r} in {list(found)}"
    return found[text]


async def last(rig: Rig, starts: str, session: int = 1) -> dict[str, Any]:
    """The latest message of the topic whose text starts with `starts`."""
    found = [m for m in await topic(rig, session) if m.get("text", "").startswith(starts)]
    assert found, f"no message starting with {starts!r} in {await topic_texts(rig, session)}"
    return found[-1]


async def card(rig: Rig, session: int = 1) -> dict[str, Any]:
    return await last(rig, f"#{session} · ", session)


async def picker(rig: Rig, session: int = 1) -> dict[str, Any]:
    return await last(rig, f"▶ Start a process for session #{session}", session)


async def session_with_anna_online(rig: Rig, *, take: bool = True) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await writes(rig, ANNA, "/status online", session=None)
    if take:
        await click(rig, ANNA, await card(rig), "Take")
