"""`/transcript`, `/transcript client` and `/history` in a session's topic (SPEC §14).

`/transcript` posts the whole session as a text file into the topic (notes marked as such);
`/transcript client` sends the client's view to the client as a document (with the checks of any message
to the client); `/history` answers with the client's earlier sessions on the line. Core checks the operator.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from adapters.telegram.desk.errors import REFUSED
from adapters.telegram.desk.middleware import in_desk, not_another_lines, required
from core.config import OperatorConfig
from core.courier import TELEGRAM_DESK
from core.model import Session
from core.transcripts import Transcripts

USAGE = "Use /transcript (the whole session, into this topic) or /transcript client (the client's copy, to the client)."


async def on_transcript(
    message: Message,
    command: CommandObject,
    transcripts: Transcripts,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    if session is None:
        return await message.reply("Type /transcript inside a session's topic.")
    operator = required(operator)
    word = (command.args or "").strip().lower()
    if word == "client":
        await transcripts.send_to_client(session.number, operator)
        return await message.reply(f"📄 The transcript of session #{session.number} is on its way to the client.")
    if word:
        return await message.reply(USAGE)
    await transcripts.post_to_desk(session.number, operator, TELEGRAM_DESK)
    return None  # the file arrives in the topic


async def on_history(
    message: Message, transcripts: Transcripts, session: Session | None, operator: OperatorConfig | None
) -> Any:
    if session is None:
        return await message.reply("Type /history inside a session's topic.")
    return await message.reply(await transcripts.history(session.number, required(operator)))


def build() -> Router:
    router = Router(name="telegram-desk-transcripts")
    router.message.register(
        on_transcript, Command("transcript"), in_desk, not_another_lines, flags={REFUSED: "No transcript"}
    )
    router.message.register(on_history, Command("history"), in_desk, not_another_lines, flags={REFUSED: "No history"})
    return router
