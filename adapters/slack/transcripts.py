"""`/transcript [N] [client]` and `/history [N]` in Slack (SPEC §14).

Slack does not say which thread a slash command was typed in, so, as `/processes` does, the session is the
one named (`/transcript 42`) or else the one whose thread the operator last wrote in or took.
`/transcript` uploads the whole session as a text file into its thread (notes marked as such);
`/transcript client` sends the client's view to the client; `/history` answers (to the operator only)
with the client's earlier sessions on the line. Core checks the operator; a refusal is the ack's text.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from adapters.slack import mrkdwn
from adapters.slack.tracking import REQUIRED, SlackListeners, in_ack
from core.config import OperatorConfig
from core.courier import SLACK_DESK
from core.model import parse_number
from core.operators import Operators
from core.transcripts import Transcripts

TRANSCRIPT = "/transcript"
HISTORY = "/history"
TRANSCRIPT_USAGE = (
    "Use `/transcript N` (session #N as a file in its thread) or `/transcript N client` (the client's copy, "
    "to the client); without N, the session whose thread you last wrote in."
)
HISTORY_USAGE = "Use `/history N` for the earlier sessions of session #N's client; without N, your latest session."


class SlackTranscripts:
    def __init__(self, listeners: SlackListeners, *, transcripts: Transcripts, operators: Operators):
        self._transcripts = transcripts
        self._operators = operators
        app, on = listeners.app, listeners.on
        on(app.command, TRANSCRIPT, self.on_transcript, in_ack("No transcript: "), REQUIRED)
        on(app.command, HISTORY, self.on_history, in_ack("No history: "), REQUIRED)

    async def _session(self, words: list[str], operator: OperatorConfig) -> int | None:
        if words:
            return parse_number(words[0].lstrip("#"))
        return (await self._operators.state(operator.id)).last_session

    async def on_transcript(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        words = (command.get("text") or "").split()
        to_client = bool(words) and words[-1].lower() == "client"
        if to_client:
            words = words[:-1]
        number = await self._session(words, operator) if len(words) <= 1 else None
        if number is None:
            await ack(text=TRANSCRIPT_USAGE)
            return
        if to_client:
            await self._transcripts.send_to_client(number, operator)
            await ack(text=f"📄 The transcript of session #{number} is on its way to the client.")
        else:
            await self._transcripts.post_to_desk(number, operator, SLACK_DESK)
            await ack(text=f"📄 The transcript of session #{number} goes into its thread.")

    async def on_history(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        words = (command.get("text") or "").split()
        number = await self._session(words, operator) if len(words) <= 1 else None
        if number is None:
            await ack(text=HISTORY_USAGE)
            return
        await ack(text=mrkdwn.escape(await self._transcripts.history(number, operator)))
