"""Platform links: one of our things (a session) tied to the platform thing that stands for it on a desk (a
Slack thread, a Telegram forum topic), readable both ways — ours → platform (`Store.link_of`: where do I post
for session 7?) and platform → ours (`Store.link_to`: which session is this thread?).

A link is written by one store call (`Store.link`) that stores both directions together, so a crash cannot
leave one of them. Per kind, a link is one-to-one: linking our key again (a deleted topic opened anew) drops
its old platform key, and a platform key linked to another of ours moves there.

What is not a link stays a ref (`Store.set_ref`): one-way records of where a copy was posted (mirrored
messages, sent messages, status cards — never looked up from the platform side, and a Slack album's
messages share one post), caches (a thread's permalink) and state (a Telegram form, round-robin ties,
process blocks' memos).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LinkKind(StrEnum):
    SESSION_THREAD = "session_thread"
    """A session ↔ its Slack desk thread. ours: the session number; platform: "<channel>:<root ts>";
    data: {"channel", "ts"} of the root message (the session's card)."""
    SESSION_TOPIC = "session_topic"
    """A session ↔ its Telegram desk forum topic. ours: the session number; platform: "<chat id>:<thread id>";
    data: {"chat_id", "thread_id", "card_id"} (card_id: the session card's message in the topic, or None)."""


@dataclass(frozen=True)
class Link:
    kind: LinkKind
    ours: str
    platform: str
    data: dict[str, Any] = field(default_factory=dict)


def session_thread(session: int, channel: str, ts: str) -> Link:
    return Link(LinkKind.SESSION_THREAD, str(session), f"{channel}:{ts}", {"channel": channel, "ts": ts})


def session_topic(session: int, chat_id: int, thread_id: int, card_id: int | None = None) -> Link:
    return Link(
        LinkKind.SESSION_TOPIC,
        str(session),
        f"{chat_id}:{thread_id}",
        {"chat_id": chat_id, "thread_id": thread_id, "card_id": card_id},
    )


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
