"""The demo's last act (SPEC §14–§15): a team's daily tools — a saved reply, the client's rating after close,
and the report an admin reads in Slack, its chart a real PNG."""

from __future__ import annotations

import struct
from typing import Any

from bots.transcript import Transcript
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, Rig

TEAM_CONFIG = """rating = true

[[replies]]
id = "thanks"
title = "Thanks and goodbye"
text = "Thank you, {client_name}! This was {operator_name} of {line_name}; session #{session} is done."
"""
"""Keys the demo adds to its Support line (`rating`), then the saved replies (top-level tables: TOML reads them
after the line's keys, and the next `[[lines]]` goes on as before)."""

SAVED_REPLY = "Thank you, Ivan! This was Anna of Support; session #1 is done."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def team_act(rig: Rig, show: Transcript) -> None:
    desk = rig.desk
    assert desk is not None
    show.step(
        "10",
        "A saved reply, then Ivan rates the session",
        "Answers a team types every day are saved replies in the config: /reply lists them, /reply ID sends "
        "one as the operator's own message. Closing the session asks Ivan “How did we do?” with 1–5 buttons; "
        "his first tap is kept and shown on the card.",
    )
    show.line("Anna types (Slack)", "/reply 1 thanks", "→", "operator")
    await rig.slash(ANNA, "/reply", "1 thanks")
    await rig.settle()
    show.line("Ivan sees", rig.client_chat(IVAN)[-1] if rig.client_chat(IVAN) else "(nothing)", "←", "client")
    show.check(
        any(text.endswith(SAVED_REPLY) and text.startswith("Anna") for text in rig.client_chat(IVAN)),
        "the saved reply reached Ivan, signed by Anna",
    )

    show.line("Anna writes in topic", "/close", "→", "operator")
    await rig.topic_says(ANNA, 1, "/close")
    asked = _rating_question(rig)
    show.line("Ivan sees", _with_buttons(asked) if asked else "(nothing)", "←", "client")
    show.check(asked is not None, "Ivan was asked to rate the session")
    if asked is None:
        return
    five = next((data for label, data in _buttons(asked) if label.startswith("5")), "")
    show.line("Ivan taps", "[5 ⭐]", "→", "client")
    answer = await _client_press(rig, asked, five)
    show.line("the bot answers", answer, role="bot")
    again = await _client_press(rig, asked, five)
    session = await desk.store.get_session(1)
    show.check(session is not None and session.rating == 5, "the rating is stored once: ★★★★★ (5/5)")
    show.check(again.startswith("You already rated"), "a second tap changes nothing")
    card = await rig.thread_root(1)
    root = rig.slack.message(card["channel"], card["ts"])
    show.check("★★★★★" in str(root), "the session's card shows the rating")


def _rating_question(rig: Rig) -> dict[str, Any] | None:
    asked = [m for m in rig.bot_messages(IVAN) if m.get("text", "").startswith("How did we do?")]
    return asked[-1] if asked else None


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


def _with_buttons(message: dict[str, Any]) -> str:
    return message.get("text", "") + "\n" + " ".join(f"[{label}]" for label, _ in _buttons(message))


async def _client_press(rig: Rig, message: dict[str, Any], data: str) -> str:
    """Ivan presses a button under `message` in his private chat with the Support bot: what the bot answers."""
    user = rig.telegram.user(IVAN.telegram_user, IVAN.name)
    update = rig.telegram.callback_update(SUPPORT_TOKEN, user, data, message["message_id"], chat_id=IVAN.telegram_user)
    await rig.telegram.deliver(SUPPORT_TOKEN, update)
    await rig.settle()
    answer = rig.telegram.callback_answer(SUPPORT_TOKEN, update["callback_query"]["id"])
    return str((answer or {}).get("text", ""))


async def report_act(rig: Rig, show: Transcript) -> None:
    show.step(
        "11",
        "Anna reads the team's report in Slack",
        "/report shows the line's figures to whoever asked — sessions, response and resolution times, ratings, "
        "processes — with a chart as a PNG image; `linedesk report --format html` writes the same as one page.",
    )
    show.line("Anna types (Slack)", "/report support 7d", "→", "operator")
    await rig.slash(ANNA, "/report", "support 7d")
    answers = rig.ephemeral(ANNA)
    blocks: list[dict[str, Any]] = answers[-1].get("blocks", []) if answers else []
    texts = [b["text"]["text"] for b in blocks if b.get("type") in ("header", "section") and "text" in b]
    show.line("Anna sees (only her)", "\n".join(texts) or "(nothing)", role="operator")
    image = next((b for b in blocks if b.get("type") == "image"), None)
    file_id = ((image or {}).get("slack_file") or {}).get("id")
    uploaded = rig.slack.workspace.files.get(file_id) if file_id else None
    size = _png_size(uploaded.content if uploaded is not None else None)
    show.line("and a chart", f"PNG {size[0]}×{size[1]}" if size else "(none)", role="operator")
    show.check(any("Rating: 5" in text for text in texts), "the report counts Ivan's rating")
    show.check(size is not None and size[0] > 0 and size[1] > 0, "the chart is a PNG image")


def _png_size(content: bytes | None) -> tuple[int, int] | None:
    """Width and height from a PNG's header, None when it is not one."""
    if not content or not content.startswith(PNG_SIGNATURE) or content[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", content[16:24])
    return int(width), int(height)
