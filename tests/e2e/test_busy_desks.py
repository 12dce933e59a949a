"""Busy desks under the platforms' real limits (SPEC §13), through HTTP against the sandboxes with their limits
on and linedesk pacing as `linedesk serve` does, in real time.

- a burst of client messages into one desk is merged into a bounded number of desk posts, each message once,
  in order, with its sender, and the platforms refuse nothing;
- a Take while a desk's backlog waits reaches the card within 2 s;
- a 429 with `retry_after` on one send into the Telegram desk group pauses every conversation of that group.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.views import TAKE
from core.links import LinkKind
from core.pacing import TELEGRAM_GROUP, Draw
from sandboxes.limits import PLATFORM_LIMITS
from sandboxes.rig import ANNA, DESK_CHANNEL, SUPPORT_TOKEN, TELEGRAM_DESK, Person, Rig
from sandboxes.telegram.records import SandboxCall
from tests.support.busy_desks import wave_pause
from tests.support.rigs import PROCESSES
from tests.support.telegram_desk import button, card

pytestmark = pytest.mark.timeout(90)

PER_CLIENT = 5


class OneDeskRig(Rig):
    """The support line with one desk only: its Slack desk channel ("slack") or its Telegram forum group
    ("telegram"), so that a test waits only for the desk it is about."""

    def __init__(self, workdir: Path, desk: str, **options: Any) -> None:
        super().__init__(workdir, PROCESSES, limits=PLATFORM_LIMITS, **options)
        self.only = desk

    def config_text(self) -> str:
        dropped = "telegram_desk_chat = " if self.only == "slack" else f'slack_desk_channel = "{DESK_CHANNEL}"'
        lines = super().config_text().splitlines()
        kept = [line for line in lines if not line.startswith(dropped)]
        assert len(kept) == len(lines) - 1, f"no {dropped!r} in the rig's config"
        return "\n".join(kept) + "\n"


@pytest.fixture
async def slack_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = OneDeskRig(tmp_path, "slack")
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


@pytest.fixture
async def telegram_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = OneDeskRig(tmp_path, "telegram")
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


# --- clients writing ---------------------------------------------------------------------------------------
def clients(count: int) -> list[Person]:
    return [Person(f"Client{n}", telegram_user=7000 + n) for n in range(1, count + 1)]


def text_of(person: Person, seq: int) -> str:
    return f"{person.name} message {seq} of the burst"


async def burst(rig: Rig, people: list[Person], per_client: int = PER_CLIENT, first: int = 0) -> None:
    """Every client writes `per_client` messages as fast as the webhook takes them (each chat's next update
    once the previous one was answered, as Telegram sends them), all clients at once."""

    async def chat(person: Person) -> None:
        user = rig.telegram.user(person.telegram_user, person.name)
        for seq in range(first, first + per_client):
            update = rig.telegram.text_update(SUPPORT_TOKEN, user, text_of(person, seq))
            result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
            assert result.status == 200, result

    await asyncio.gather(*(chat(person) for person in people))


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"timed out after {timeout:.0f}s waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def session_of(rig: Rig, person: Person) -> int:
    number = await opened_for(rig, person)
    if number is None:
        raise AssertionError(f"{person.name} has no session")
    return number


async def opened_for(rig: Rig, person: Person) -> int | None:
    """The client's session, None while their first message is still being handled (the webhook answers once
    the update is stored, before it is handled)."""
    assert rig.desk is not None
    for session in await rig.desk.store.list_sessions():
        client = await rig.desk.store.get_client(session.client_id)
        if client is not None and client.chat_id == str(person.telegram_user):
            return session.number
    return None


# --- what the desks show ------------------------------------------------------------------------------------
SLACK_TIME = r"<!date\^\d+\^\{time_secs\}\|\d\d:\d\d:\d\d UTC> "
"""A merged line's time on the Slack desk (Slack's date token, in the reader's time zone)."""
SLACK_LINE = r"\*{name}\*: {text}"
TELEGRAM_TIME = r"\[\d\d:\d\d:\d\d\] "
TELEGRAM_LINE = r"{name}: {text}"


async def slack_posts(rig: Rig, session: int) -> list[str]:
    """The mirrored posts of a session's thread (its replies that quote a client)."""
    assert rig.desk is not None
    if await rig.desk.store.link_of(LinkKind.SESSION_THREAD, str(session)) is None:
        return []
    root = await rig.thread_root(session)
    replies = rig.slack.thread(root["channel"], root["ts"])
    return [m.get("text", "") for m in replies if m.get("ts") != root["ts"] and "message " in m.get("text", "")]


async def telegram_posts(rig: Rig, session: int) -> list[str]:
    assert rig.desk is not None
    if await rig.desk.store.link_of(LinkKind.SESSION_TOPIC, str(session)) is None:
        return []
    return [m.get("text", "") for m in await rig.topic(session) if "message " in m.get("text", "")]


def check_lines(posts: list[str], person: Person, expected: list[str], line: str, at: str) -> None:
    """Every expected text once, in order, each on a line that names its sender; in a post that merged several
    messages each line also has its time (`at`)."""
    found = [text for post in posts for row in post.splitlines() for text in expected if text in row]
    assert found == expected, f"{person.name}: {found} != {expected}\nposts: {posts}"
    for post in posts:
        rows = [row for row in post.splitlines() if "message " in row]
        for row in rows:
            text = next(t for t in expected if t in row)
            rule = ("" if len(rows) == 1 else at) + line.format(name=re.escape(person.name), text=re.escape(text))
            assert re.fullmatch(rule, row), f"{row!r} does not read as {person.name}'s message {text!r}: {post!r}"


async def threaded(rig: Rig) -> list[int]:
    """The sessions whose card (their thread's root) is in the Slack desk."""
    assert rig.desk is not None
    return [
        s.number
        for s in await rig.desk.store.list_sessions()
        if await rig.desk.store.link_of(LinkKind.SESSION_THREAD, str(s.number)) is not None
    ]


async def not_mirrored(
    rig: Rig, people: list[Person], per_client: int, posts: Callable[[Rig, int], Awaitable[list[str]]]
) -> list[str]:
    """The clients' messages that are not on the desk yet."""
    missing = []
    for person in people:
        number = await opened_for(rig, person)
        shown = await posts(rig, number) if number is not None else []
        missing += [
            text_of(person, seq) for seq in range(per_client) if not any(text_of(person, seq) in t for t in shown)
        ]
    return missing


def group_sends(rig: Rig) -> list[SandboxCall]:
    """The calls the Telegram sandbox accepted that posted into the desk group."""
    return [
        c
        for c in rig.telegram.calls
        if c.ok
        and str(c.params.get("chat_id")) == str(TELEGRAM_DESK)
        and (c.method.startswith("send") or c.method in ("createForumTopic", "copyMessage", "copyMessages"))
    ]


# --- 1. a burst into one desk merges ------------------------------------------------------------------------
async def test_a_burst_into_the_slack_desk_is_merged_each_message_once_in_order(slack_rig: Rig) -> None:
    rig = slack_rig
    people = clients(7)
    started = time.monotonic()
    await burst(rig, people)
    written = time.monotonic() - started
    expected = {person.name: [text_of(person, seq) for seq in range(PER_CLIENT)] for person in people}

    async def all_there() -> bool:
        assert rig.desk is not None
        if len(await rig.desk.store.list_sessions()) < len(people):
            return False
        for person in people:
            posts = await slack_posts(rig, await session_of(rig, person))
            if sum(text in post for post in posts for text in expected[person.name]) < PER_CLIENT:
                return False
        return True

    waited = await wait_for(all_there, 40, "every message in the Slack desk")
    await asyncio.sleep(1.5)  # anything posted twice would come now
    posts = 0
    for person in people:
        session_posts = await slack_posts(rig, await session_of(rig, person))
        check_lines(session_posts, person, expected[person.name], SLACK_LINE, SLACK_TIME)
        posts += len(session_posts)
    messages = len(people) * PER_CLIENT
    print(f"BUSY slack burst: {messages} messages in {posts} posts, written in {written:.2f}s, all in {waited:.2f}s")
    assert posts <= messages // 2, f"{messages} messages took {posts} desk posts"
    assert rig.slack.refusals.total == 0, rig.slack.refusals
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


async def test_a_burst_into_the_telegram_desk_is_merged_each_message_once_in_order(telegram_rig: Rig) -> None:
    rig = telegram_rig
    people = clients(6)
    started = time.monotonic()
    await burst(rig, people)
    written = time.monotonic() - started
    expected = {person.name: [text_of(person, seq) for seq in range(PER_CLIENT)] for person in people}

    async def all_there() -> bool:
        assert rig.desk is not None
        if len(await rig.desk.store.list_sessions()) < len(people):
            return False
        for person in people:
            posts = await telegram_posts(rig, await session_of(rig, person))
            if sum(text in post for post in posts for text in expected[person.name]) < PER_CLIENT:
                return False
        return True

    waited = await wait_for(all_there, 75, "every message in the Telegram desk")
    await asyncio.sleep(1.5)
    posts = 0
    for person in people:
        session_posts = await telegram_posts(rig, await session_of(rig, person))
        check_lines(session_posts, person, expected[person.name], TELEGRAM_LINE, TELEGRAM_TIME)
        posts += len(session_posts)
    messages = len(people) * PER_CLIENT
    sends = [c for c in rig.telegram.calls if c.ok and str(c.params.get("chat_id")) == str(TELEGRAM_DESK)]
    print(
        f"BUSY telegram burst: {messages} messages in {posts} posts ({len(sends)} calls into the group), "
        f"written in {written:.2f}s, all in {waited:.2f}s"
    )
    assert posts <= messages // 2, f"{messages} messages took {posts} desk posts"
    assert rig.slack.refusals.total == 0, rig.slack.refusals
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


# --- 2. a Take during a backlog reaches the card within 2 s ----------------------------------------------
CARD_WITHIN = 2.0


async def test_a_take_during_a_slack_backlog_reaches_the_card_within_2s(slack_rig: Rig) -> None:
    rig = slack_rig
    await rig.slash(ANNA, "/status", "online")
    people = clients(6)
    await burst(rig, people, per_client=3)

    async def mirroring() -> bool:  # the cards went first; now the mirrored messages take their turns
        for n in await threaded(rig):
            if await slack_posts(rig, n):
                return True
        return False

    await wait_for(mirroring, 15, "the first mirrored post")
    waiting = await not_mirrored(rig, people, 3, slack_posts)
    behind = [p for p in people if any(t.startswith(f"{p.name} ") for t in waiting)]
    assert behind, "nothing waits: no backlog"
    number = await session_of(rig, behind[-1])  # a session whose own messages wait behind the channel's limit
    root = await rig.thread_root(number)
    clicked = time.time()
    response = await rig.slack.click(
        rig.slack_url, ANNA.slack_user, TAKE, str(number), channel_id=root["channel"], message_ts=root["ts"]
    )
    assert response.status == 200, response

    def card_updates() -> list[float]:
        """When the card showed Anna: redrawn from the click (its response URL) or by the outbox (chat.update)."""
        redrawn = [c for c in rig.slack.calls_of("response_url") if "· Anna" in str(c.params.get("blocks"))]
        updated = [
            call
            for call in rig.slack.calls_of("chat.update")
            if call.params.get("ts") == root["ts"] and call.status == 200 and "· Anna" in str(call.params.get("blocks"))
        ]
        return sorted(c.time for c in redrawn + updated)

    async def updated() -> bool:
        return bool(card_updates())

    await wait_for(updated, 10, "the card showing Anna")
    took = card_updates()[0] - clicked
    waiting = await not_mirrored(rig, people, 3, slack_posts)  # still waiting once the card showed Anna
    print(f"BUSY slack take: card updated {took:.2f}s after the click, {len(waiting)} messages still waiting")
    assert took <= CARD_WITHIN, f"the card showed the assignee {took:.2f}s after the click"
    assert waiting, "no backlog waited while the card was updated: the test proves nothing"
    assert "· Anna" in str((rig.slack.workspace.message(root["channel"], root["ts"]) or {}).get("blocks"))
    assert rig.slack.refusals.total == 0, rig.slack.refusals


async def test_a_take_during_a_telegram_backlog_reaches_the_card_within_2s(telegram_rig: Rig) -> None:
    rig = telegram_rig
    await rig.topic_says(ANNA, None, "/status online")
    people = clients(4)
    # waves of messages until the group's minute is spent (20 messages per minute for the whole group)
    wave = 0
    deadline = time.monotonic() + 60.0
    while len(group_sends(rig)) < 19:
        assert time.monotonic() < deadline, f"the group's minute is not spent: {len(group_sends(rig))} sends"
        await burst(rig, people, per_client=1, first=wave)
        wave += 1
        await asyncio.sleep(wave_pause(len(group_sends(rig))))
    await burst(rig, people, per_client=3, first=wave)  # these wait for the next minute: the backlog
    await asyncio.sleep(0.5)
    number = await session_of(rig, people[0])
    shown = await card(rig, number)
    assert "Anna" not in shown["text"]
    user = rig.telegram.user(ANNA.telegram_user, ANNA.name)
    update = rig.telegram.callback_update(
        SUPPORT_TOKEN, user, button(shown, "Take"), shown["message_id"], chat_id=TELEGRAM_DESK
    )
    clicked = time.time()
    result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
    assert result.status == 200, result

    def card_edits() -> list[float]:
        return [
            c.time
            for c in rig.telegram.calls_of("editMessageText")
            if c.ok and c.params.get("message_id") == shown["message_id"] and "Anna" in str(c.params.get("text"))
        ]

    async def edited() -> bool:
        return bool(card_edits())

    await wait_for(edited, 10, "the card showing Anna")
    took = card_edits()[0] - clicked
    missing = await not_mirrored(rig, people, wave + 3, telegram_posts)  # still waiting once the card showed Anna
    print(f"BUSY telegram take: card edited {took:.2f}s after the press, {len(missing)} messages still waiting")
    assert took <= CARD_WITHIN, f"the card showed the assignee {took:.2f}s after the press"
    assert "Anna" in (await card(rig, number))["text"]
    assert missing, "no backlog waited while the card was edited: the test proves nothing"
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


# --- 3. a 429 pauses every conversation on its bucket ----------------------------------------------------
RETRY_AFTER = 4


def record_arrivals(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> dict[int, float]:
    """When each Bot API call reached the Telegram sandbox (its `SandboxCall.time` is when it was answered):
    id(call) → time.time() at its arrival."""
    arrivals: dict[int, float] = {}
    execute = rig.telegram._execute

    async def timed(token: str, method: str, load_params: Callable[[], Awaitable[Any]]) -> tuple[SandboxCall, Any]:
        arrived = time.time()
        call, body = await execute(token, method, load_params)
        arrivals[id(call)] = arrived
        return call, body

    monkeypatch.setattr(rig.telegram, "_execute", timed)
    return arrivals


async def test_a_429_in_the_telegram_desk_pauses_every_session_of_the_group(
    telegram_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = telegram_rig
    arrivals = record_arrivals(rig, monkeypatch)
    paused: list[tuple[float, Draw, float]] = []
    """When linedesk learned of a flood answer: (time.time(), the bucket it paused, for how long)."""
    pause = rig.pacer.pause

    async def recorded_pause(draw: Draw, seconds: float) -> None:
        paused.append((time.time(), draw, seconds))
        await pause(draw, seconds)

    monkeypatch.setattr(rig.pacer, "pause", recorded_pause)
    people = clients(3)
    await burst(rig, people, per_client=1)  # the sessions' topics and cards, and a first message each

    async def first_ones() -> bool:
        return not await not_mirrored(rig, people, 1, telegram_posts)

    await wait_for(first_ones, 10, "the first messages in the desk")
    rig.telegram.fail("sendMessage", status=429, retry_after=RETRY_AFTER, chat_id=TELEGRAM_DESK)
    await burst(rig, people, per_client=3, first=1)  # every session has messages waiting for the group

    def refused() -> list[SandboxCall]:
        return [c for c in rig.telegram.calls if c.status == 429]

    async def flood_answered() -> bool:
        return bool(refused())

    await wait_for(flood_answered, 10, "the flood answer")
    [flood] = refused()

    async def all_there() -> bool:
        return not await not_mirrored(rig, people, 4, telegram_posts)

    await wait_for(all_there, 30, "every message in the desk after the pause")
    await asyncio.sleep(1.0)
    [(learned, bucket, seconds)] = paused
    assert (bucket.kind, bucket.key, seconds) == (
        TELEGRAM_GROUP,
        f"{rig.telegram.bot_user(SUPPORT_TOKEN)['id']}:{TELEGRAM_DESK}",
        RETRY_AFTER,
    )
    # sends already on their way when linedesk learned of the flood answer cannot be held back; any that set
    # out after it must wait out retry_after, whichever session they are of
    in_flight = [
        c for c in group_sends(rig) if arrivals[id(c)] <= learned < c.time or flood.time < arrivals[id(c)] <= learned
    ]
    after = [c for c in group_sends(rig) if arrivals[id(c)] > learned]
    during = [c for c in after if arrivals[id(c)] < flood.time + RETRY_AFTER]
    print(
        f"BUSY telegram 429: linedesk paused the group {learned - flood.time:.3f}s after the flood answer; "
        f"{len(in_flight)} group sends were on their way, {len(after)} came after, the first "
        f"{(arrivals[id(after[0])] - flood.time) if after else -1:.2f}s after the flood answer; {len(during)} "
        "during the pause"
    )
    assert not during, [
        (round(arrivals[id(c)] - flood.time, 3), c.method, str(c.params.get("text"))[:60]) for c in during
    ]
    topics = {c.params.get("message_thread_id") for c in after}
    assert len(topics) >= 2, f"only the refused session's topic waited ({topics}): the test proves nothing"
    for person in people:
        posts = await telegram_posts(rig, await session_of(rig, person))
        check_lines(posts, person, [text_of(person, seq) for seq in range(4)], TELEGRAM_LINE, TELEGRAM_TIME)
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals  # the injected one is not the limits'
