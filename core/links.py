"""Platform links: one of our things tied to the platform thing that stands for it — a session and its Slack
thread or Telegram forum topic, a stored message and the platform message it came from, the copies it was
posted as on a desk or in the client's chat, a process instance and its status card — readable both ways: ours →
platform (`Store.link_of`: where do I post for session 7? which desk post is message 12's copy?) and platform →
ours (`Store.link_to`: which session is this thread? which message is this Telegram message?).

A link is written by one store call (`Store.link`) that stores both directions together, so a crash cannot
leave one of them. Linking our key again (a deleted topic opened anew) always drops its old platform key. What
a platform key linked to another of ours does depends on the kind (`LinkKind.one_to_one`): a one-to-one kind
moves it there (a platform thing stands for one of ours), a many-to-one kind keeps both (several of our
messages can share one copy: a Slack album is one desk post), and `link_to` answers the earliest linked of them.

What is not a link stays a ref (`Store.set_ref`, spaces in `core.refs.RefSpace`): state (a Telegram form
conversation, round-robin ties), memos of process blocks and caches (a thread's permalink) — records keyed by
something of ours that no platform thing stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class LinkKind(StrEnum):
    SESSION_THREAD = "session_thread"
    """A session ↔ its Slack desk thread. ours: the session number; platform: "<channel>:<root ts>";
    data: {"channel", "ts"} of the root message (the session's card)."""
    SESSION_TOPIC = "session_topic"
    """A session ↔ its Telegram desk forum topic. ours: the session number; platform: "<chat id>:<thread id>";
    data: {"chat_id", "thread_id", "card_id"} (card_id: the session card's message in the topic, or None)."""
    MESSAGE_SOURCE = "message_source"
    """A stored message ↔ the platform message it was made from (a client's, or an operator's in a thread or
    topic): edits, deletions, replies and a repeated event find it. ours: "<session>:<message id>"; platform:
    the message's platform_ref (`Message.source_ref`); data: {"session", "id"}."""
    SLACK_DESK_COPY = "slack_desk_copy"
    """A session message ↔ its post in the session's Slack thread (edited in place when the message is).
    ours: "<session>:<message id>"; platform: "<channel>:<ts>"; data: {"channel", "ts"}. Many-to-one: an
    album's messages share one post."""
    TELEGRAM_DESK_COPY = "telegram_desk_copy"
    """A session message ↔ its copy in the session's Telegram topic. ours: "<session>:<message id>"; platform:
    "<chat id>:<message id>"; data: {"chat_id", "message_id", "caption"} (caption: the message's line is that
    copy's caption, not its text). Many-to-one, as every copy kind."""
    SLACK_CLIENT_COPY = "slack_client_copy"
    """A message to a client ↔ its message in the client's Slack DM (edited or deleted with it). ours:
    "<line>:<message id>"; platform: "<channel>:<ts>"; data: {"channel", "ts"} (and "parts" of a merged message,
    as `TelegramSent`'s). Many-to-one."""
    TELEGRAM_CLIENT_COPY = "telegram_client_copy"
    """A message to a client ↔ what the client got on Telegram. ours: "<line>:<message id>"; platform:
    "<chat id>:<first message id>"; data: {"chat_id", "message_id", "caption", "text_id", "ids"}
    (`TelegramSent`). Many-to-one."""
    SLACK_DESK_STATUS = "slack_desk_status"
    """A process instance ↔ its status line in the session's Slack thread (edited as it moves on). ours: the
    instance id; platform: "<channel>:<ts>"; data: {"channel", "ts"}."""
    TELEGRAM_DESK_STATUS = "telegram_desk_status"
    """A process instance ↔ its status line in the session's Telegram topic. ours: the instance id; platform:
    "<chat id>:<message id>"; data: {"chat_id", "message_id"}."""
    SLACK_CLIENT_STATUS = "slack_client_status"
    """A process instance ↔ its status card in the client's Slack DM. ours: the instance id; platform:
    "<channel>:<ts>"; data: {"channel", "ts"}."""
    TELEGRAM_CLIENT_STATUS = "telegram_client_status"
    """A process instance ↔ its status card in the client's Telegram chat. ours: the instance id; platform:
    "<chat id>:<message id>"; data: {"chat_id", "message_id"}."""

    @property
    def one_to_one(self) -> bool:
        """A platform key stands for one of ours: linking it to another moves it (the earlier one loses its
        link). Otherwise (the copy kinds) several of ours may share it."""
        return self not in MANY_TO_ONE


MANY_TO_ONE = frozenset(
    {
        LinkKind.SLACK_DESK_COPY,
        LinkKind.TELEGRAM_DESK_COPY,
        LinkKind.SLACK_CLIENT_COPY,
        LinkKind.TELEGRAM_CLIENT_COPY,
    }
)


@dataclass(frozen=True)
class Link:
    kind: LinkKind
    ours: str
    platform: str
    data: dict[str, Any] = field(default_factory=dict)


class TelegramSent(TypedDict):
    """What an operator's message became in a client's Telegram chat: the first message ("message_id"),
    whether the text is its caption, the message holding the text ("text_id") and every id sent."""

    message_id: int
    caption: bool
    text_id: int | None
    ids: list[int]
    parts: NotRequired[list[dict[str, Any]]]
    """A merged message's replies, in order (`core.client_parts`): an edit or deletion of one rewrites it."""


def session_message(session: int, message_id: int) -> str:
    """ours of a session message's links (MESSAGE_SOURCE and the desk copies)."""
    return f"{session}:{message_id}"


def line_message(line_id: str, message_id: int) -> str:
    """ours of a message's copy in a client's chat (the client copies)."""
    return f"{line_id}:{message_id}"


def session_thread(session: int, channel: str, ts: str) -> Link:
    return Link(LinkKind.SESSION_THREAD, str(session), f"{channel}:{ts}", {"channel": channel, "ts": ts})


def session_topic(session: int, chat_id: int, thread_id: int, card_id: int | None = None) -> Link:
    return Link(
        LinkKind.SESSION_TOPIC,
        str(session),
        f"{chat_id}:{thread_id}",
        {"chat_id": chat_id, "thread_id": thread_id, "card_id": card_id},
    )


def message_source(session: int, message_id: int, platform_ref: str) -> Link:
    return Link(
        LinkKind.MESSAGE_SOURCE,
        session_message(session, message_id),
        platform_ref,
        {"session": session, "id": message_id},
    )


def slack_desk_copy(session: int, message_id: int, channel: str, ts: str, *, merged: bool = False) -> Link:
    """`merged`: the post shows several messages that waited behind the desk's limit (an edit of one of them
    is told in the thread instead of rewriting the post)."""
    return Link(
        LinkKind.SLACK_DESK_COPY,
        session_message(session, message_id),
        f"{channel}:{ts}",
        {"channel": channel, "ts": ts, **({"merged": True} if merged else {})},
    )


def telegram_desk_copy(
    session: int, message_id: int, chat_id: int, copy_id: int, caption: bool, *, merged: bool = False
) -> Link:
    """`merged`: as `slack_desk_copy`'s."""
    return Link(
        LinkKind.TELEGRAM_DESK_COPY,
        session_message(session, message_id),
        f"{chat_id}:{copy_id}",
        {"chat_id": chat_id, "message_id": copy_id, "caption": caption, **({"merged": True} if merged else {})},
    )


def slack_client_copy(
    line_id: str, message_id: int, channel: str, ts: str, parts: list[dict[str, Any]] | None = None
) -> Link:
    """`parts`: a merged message's replies, as `TelegramSent`'s."""
    data: dict[str, Any] = {"channel": channel, "ts": ts, **({"parts": parts} if parts else {})}
    return Link(LinkKind.SLACK_CLIENT_COPY, line_message(line_id, message_id), f"{channel}:{ts}", data)


def telegram_client_copy(line_id: str, message_id: int, chat_id: int, sent: TelegramSent) -> Link:
    return Link(
        LinkKind.TELEGRAM_CLIENT_COPY,
        line_message(line_id, message_id),
        f"{chat_id}:{sent['message_id']}",
        {"chat_id": chat_id, **sent},
    )


def slack_desk_status(instance_id: str, channel: str, ts: str) -> Link:
    return Link(LinkKind.SLACK_DESK_STATUS, instance_id, f"{channel}:{ts}", {"channel": channel, "ts": ts})


def telegram_desk_status(instance_id: str, chat_id: int, message_id: int) -> Link:
    return _telegram_status(LinkKind.TELEGRAM_DESK_STATUS, instance_id, chat_id, message_id)


def slack_client_status(instance_id: str, channel: str, ts: str) -> Link:
    return Link(LinkKind.SLACK_CLIENT_STATUS, instance_id, f"{channel}:{ts}", {"channel": channel, "ts": ts})


def telegram_client_status(instance_id: str, chat_id: int, message_id: int) -> Link:
    return _telegram_status(LinkKind.TELEGRAM_CLIENT_STATUS, instance_id, chat_id, message_id)


def _telegram_status(kind: LinkKind, instance_id: str, chat_id: int, message_id: int) -> Link:
    return Link(kind, instance_id, f"{chat_id}:{message_id}", {"chat_id": chat_id, "message_id": message_id})


# --- the refs these links were, before SQLite migration 7 / Redis layout 3 -----------------------------------
LEGACY_FORWARD = {LinkKind.SESSION_THREAD: "slack.session", LinkKind.SESSION_TOPIC: "telegram.topic"}
"""ref namespace of the ours → platform direction: session number → the data above."""
LEGACY_REVERSE = {LinkKind.SESSION_THREAD: "slack.thread", LinkKind.SESSION_TOPIC: "telegram.topic_session"}
"""ref namespace of the platform → ours direction: platform key → {"session": n}. It was always written after
the forward one, so the forward ref alone holds the whole link; the reverse refs are dropped (those of a topic
that was deleted and opened anew pointed at a topic that is gone)."""


def from_legacy(kind: LinkKind, key: str, value: dict[str, Any]) -> Link:
    """The link a forward ref (namespace LEGACY_FORWARD[kind]) stood for."""
    number = int(key)
    if kind is LinkKind.SESSION_THREAD:
        return session_thread(number, str(value["channel"]), str(value["ts"]))
    card = value.get("card_id")
    return session_topic(
        number, int(value["chat_id"]), int(value["thread_id"]), int(card) if card is not None else None
    )


# --- the refs these links were, before SQLite migration 8 / Redis layout 4 -----------------------------------
LEGACY_REFS = {
    LinkKind.MESSAGE_SOURCE: "message",
    LinkKind.SLACK_DESK_COPY: "slack.mirrored",
    LinkKind.TELEGRAM_DESK_COPY: "telegram.mirrored",
    LinkKind.SLACK_CLIENT_COPY: "slack.sent",
    LinkKind.TELEGRAM_CLIENT_COPY: "telegram.sent",
    LinkKind.SLACK_DESK_STATUS: "slack.status_card",
    LinkKind.TELEGRAM_DESK_STATUS: "telegram.desk_status",
    LinkKind.SLACK_CLIENT_STATUS: "slack.client_status",
    LinkKind.TELEGRAM_CLIENT_STATUS: "telegram.status_card",
}
"""The one ref namespace each of these kinds was: keyed by ours, its value the link's data — but for
"message", keyed by the platform_ref, its value {"session", "id"}. Each held the whole link."""


def from_legacy_ref(kind: LinkKind, key: str, value: dict[str, Any]) -> Link:
    """The link a ref of namespace LEGACY_REFS[kind] stood for; its data kept as it was stored."""
    if kind is LinkKind.MESSAGE_SOURCE:
        return Link(kind, session_message(int(value["session"]), int(value["id"])), key, value)
    if "channel" in value:  # the Slack kinds
        return Link(kind, key, f"{value['channel']}:{value['ts']}", value)
    return Link(kind, key, f"{value['chat_id']}:{value['message_id']}", value)


def legacy_order(link: Link) -> tuple[str, int]:
    """Converted refs are linked in this order — "<session or line>:<message id>" by message id — so that a
    many-to-one kind's `link_to` answers the album's first message, as if they had been linked as they came."""
    head, _, tail = link.ours.rpartition(":")
    return (head, int(tail)) if tail.isdigit() else (link.ours, 0)
