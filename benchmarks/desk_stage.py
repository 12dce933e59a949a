"""The busy-desks benchmark's scenarios and its stage: the sandboxes with the platforms' limits on, which note
when each tagged message reaches the desk and when a card shows an operator's action (`desks.py` runs them)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.stage import (
    TAG,
    Stage,
    operator_telegram,
)
from sandboxes.limits import PLATFORM_LIMITS
from sandboxes.rig import DESK_CHANNEL, TELEGRAM_DESK
from sandboxes.telegram import BotState, Params

CARD_EVERY = 20.0
"""Seconds between two card actions."""
CARD_TIMEOUT = 30.0
"""A card update not seen this long after its click counts as missing."""
SESSION_CARD = re.compile(r"Session #(\d+) · Client (\d+)")
TOPIC_NAME = re.compile(r"#(\d+) Client (\d+)")
TAKE_DATA = re.compile(r"^ses:take:(\d+)$")


@dataclass(frozen=True)
class Scenario:
    name: str
    desk: str
    """"slack" or "telegram"."""
    sessions: int
    every: float
    """Seconds between two messages of one client."""
    lag_p99_s: float
    """The target: desk lag p99 below this."""
    channels: int = 1
    """Slack desk channels."""
    card_p99_s: float | None = None
    """The target for card updates' p99, where SPEC §13 names one for this load."""

    @property
    def desk_channels(self) -> list[str]:
        if self.desk != "slack":
            return []
        return [DESK_CHANNEL, *(f"C0DESK{n:02d}" for n in range(2, self.channels + 1))]


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("slack-10", "slack", 10, 10.0, 5.0),
        Scenario("slack-30", "slack", 30, 10.0, 45.0, card_p99_s=2.0),
        Scenario("slack-30x3", "slack", 30, 10.0, 15.0, channels=3),
        Scenario("telegram-5", "telegram", 5, 15.0, 5.0),
        Scenario("telegram-15", "telegram", 15, 15.0, 60.0),
    )
}


@dataclass
class Sent:
    client: int
    at: float
    """Scheduled post time (perf_counter): the lag runs from here."""
    warmup: bool = False


@dataclass
class CardWait:
    session: int
    kind: str
    """"take" or "queue"."""
    expect: Callable[[str], bool]
    future: asyncio.Future[float]


@dataclass
class Tally:
    """What reached the desk: arrivals per tag, and what went wrong."""

    arrived: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    reordered: int = 0
    misplaced: int = 0
    """Tags posted in another session's thread/topic (or in none known)."""
    last_seq: dict[int, int] = field(default_factory=dict)
    """client → the highest tag of theirs seen so far."""


class DeskStage(Stage):
    """The stage with the platforms' limits on, the scenario's desks (Slack channels or a Telegram forum group,
    whose members are the operators), and what reaches the desks noted: tags per session thread/topic, the
    cards and their updates."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(limits=PLATFORM_LIMITS)
        self.scenario = scenario
        self.sent: dict[int, Sent] = {}
        self.tally = Tally()
        self.session_client: dict[int, int] = {}
        """session number → client index (from its card or topic name)"""
        self.slack_roots: dict[tuple[str, str], int] = {}
        """(channel, root ts) → session"""
        self.slack_cards: dict[int, tuple[str, str]] = {}
        """session → (channel, ts) of its card"""
        self.card_session_by_ts: dict[str, int] = {}
        self.topics: dict[int, int] = {}
        """Telegram topic (message_thread_id) → session"""
        self.telegram_cards: dict[int, int] = {}
        """session → the card's message id in the desk group"""
        self.card_session_by_id: dict[int, int] = {}
        self.card_waits: dict[int, CardWait] = {}
        self.desk_posts: Counter[str] = Counter()
        """Posts in session threads/topics: with tags (mirrors) and without (notices, cards' replies)."""

    def cast(self) -> None:
        super().cast()
        for channel in self.scenario.desk_channels[1:]:
            self.slack.add_channel(channel, f"support-desk-{channel[-2:]}")
        if self.scenario.desk == "telegram":
            members = [self.telegram.user(operator_telegram(n), f"Operator {n}") for n in range(1, self.operators + 1)]
            self.telegram.forum_group(TELEGRAM_DESK, "Support desk", members=members)

    # --- what reaches the desks ---------------------------------------------------------------------
    def _arrive(self, text: str, session: int | None = None) -> None:
        now = time.perf_counter()
        tally = self.tally
        tags = [int(m.group(1)) for m in TAG.finditer(text)]
        self.desk_posts["mirrors" if tags else "other"] += 1
        for seq in tags:
            sent = self.sent.get(seq)
            if seq in tally.arrived:
                tally.duplicates += 1
                continue
            tally.arrived[seq] = now
            if sent is None:
                continue
            if session is None or self.session_client.get(session) != sent.client:
                tally.misplaced += 1
            last = tally.last_seq.get(sent.client, 0)
            if seq < last:
                tally.reordered += 1
            else:
                tally.last_seq[sent.client] = seq

    def _card_changed(self, session: int, state: str) -> None:
        wait = self.card_waits.get(session)
        if wait is not None and not wait.future.done() and wait.expect(state):
            wait.future.set_result(time.perf_counter())
            del self.card_waits[session]

    def _hook_slack(self) -> None:
        workspace = self.slack.workspace
        post_bot = workspace.post_bot

        def noted_post(channel: Any, text: str, blocks: Any = None, thread_ts: str | None = None, **fields: Any) -> Any:
            message = post_bot(channel, text, blocks, thread_ts, **fields)
            if thread_ts:
                self._arrive(text, self.slack_roots.get((channel.id, thread_ts)))
            elif (card := SESSION_CARD.search(text or "")) is not None:
                session, client = int(card.group(1)), int(card.group(2))
                self.session_client[session] = client
                self.slack_roots[(channel.id, message["ts"])] = session
                self.slack_cards[session] = (channel.id, message["ts"])
                self.card_session_by_ts[message["ts"]] = session
            return message

        setattr(workspace, "post_bot", noted_post)  # noqa: B010 — an instance attribute, on purpose
        edit = workspace.edit

        def noted_edit(message: Any, text: str, blocks: Any, editor: str) -> None:
            edit(message, text, blocks, editor)
            session = self.card_session_by_ts.get(str(message.get("ts")))
            if session is not None and blocks:
                facts = str((blocks[0].get("text") or {}).get("text", ""))
                self._card_changed(session, facts)

        setattr(workspace, "edit", noted_edit)  # noqa: B010

    def _hook_telegram(self) -> None:
        methods = self.telegram.api.methods

        def wrap(name: str, after: Callable[[Params, Any], None]) -> None:
            original = methods[name]

            async def noted(bot: BotState, params: Params) -> Any:
                outcome = await original.handler(bot, params)
                after(params, getattr(outcome, "result", outcome))
                return outcome

            methods[name] = dataclasses.replace(original, handler=noted)

        def in_desk(params: Params) -> bool:
            chat = params.values.get("chat_id")
            return str(chat) == str(TELEGRAM_DESK)

        def sent(params: Params, result: Any) -> None:
            if not in_desk(params):
                return  # the greeting, in the client's chat
            markup = params.values.get("reply_markup")
            if isinstance(markup, str):
                with contextlib.suppress(ValueError):
                    markup = json.loads(markup)
            take = None
            if isinstance(markup, dict):
                for row in markup.get("inline_keyboard") or []:
                    for button in row:
                        take = take or TAKE_DATA.match(str(button.get("callback_data", "")))
            thread = params.values.get("message_thread_id")
            session = self.topics.get(int(thread)) if thread is not None else None
            if take is not None and isinstance(result, dict):
                number = int(take.group(1))
                self.telegram_cards[number] = int(result["message_id"])
                self.card_session_by_id[int(result["message_id"])] = number
                return
            self._arrive(str(params.values.get("text", "")), session)

        def topic(params: Params, result: Any) -> None:
            name = TOPIC_NAME.search(str(params.values.get("name", "")))
            if name is not None and isinstance(result, dict):
                session = int(name.group(1))
                self.topics[int(result["message_thread_id"])] = session
                self.session_client[session] = int(name.group(2))

        def edited(params: Params, result: Any) -> None:
            if not in_desk(params):
                return
            with contextlib.suppress(TypeError, ValueError):
                session = self.card_session_by_id.get(int(params.values.get("message_id")))  # type: ignore[arg-type]
                if session is not None:
                    self._card_changed(session, str(params.values.get("text", "")))

        wrap("sendmessage", sent)
        wrap("createforumtopic", topic)
        wrap("editmessagetext", edited)

    def client_seq_update(self, client: int, seq: int, at: float, warmup: bool = False) -> bytes:
        self.sent[seq] = Sent(client, at, warmup)
        return self.update(client, f"m{seq}x from client {client}")


# --- statistics -----------------------------------------------------------------------------------------
