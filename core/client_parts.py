"""Replies merged for a client (SPEC §13): text-only messages to one client's chat that waited behind the chat's
limit go out as one message when their turn comes, in order, each part as the client would have read it alone
(an operator's signed with their name — once for a run of parts by the same operator).

Each part's message keeps its own link to the merged message, with the parts it holds (`ClientPart`): an edit
of one reply rewrites its part of the merged message, a deletion takes its part out (the last one deletes the
message), so the client never loses the other replies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.model import AuthorKind, OutboxEntry
from core.outbox_actions import EditText, SendText


class ClientPart(BaseModel):
    """One reply of a merged message: its session message (None: a text of the system's), who signs it, its text."""

    model_config = ConfigDict(frozen=True)

    message_id: int | None = None
    name: str | None = None
    text: str


def client_merge(head: OutboxEntry, later: OutboxEntry) -> bool:
    """What a client deliverer sends together with the head of a client's conversation when it had to wait:
    text-only messages (files, copies, edits and status cards go as themselves, and end the run)."""
    return _plain(head.action) and _plain(later.action)


def _plain(action: object) -> bool:
    return isinstance(action, SendText) and bool(action.text) and not action.attachments and action.copy_from is None


def signature(action: SendText | EditText) -> str | None:
    """The operator's display name their message is signed with; process and system messages are not."""
    name = action.author_name
    return name if action.author_kind == AuthorKind.OPERATOR and name else None


def part_of(send: SendText) -> ClientPart:
    return ClientPart(message_id=send.message_id, name=signature(send), text=send.text)


def sends_of(head: OutboxEntry, merged: Sequence[OutboxEntry]) -> list[SendText]:
    """The messages of a merged delivery, in order (the head first)."""
    return [e.action for e in (head, *merged) if isinstance(e.action, SendText)]


@dataclass(frozen=True)
class Segment:
    """A piece of a merged message: a signature (`name`) or a text, each on lines of its own."""

    text: str
    name: bool = False


def compose(parts: Sequence[ClientPart]) -> list[tuple[str, Segment]]:
    """The merged message as (separator before it, segment): a signature where the author changes, the parts'
    texts one after another; a blank line between authors."""
    out: list[tuple[str, Segment]] = []
    previous: str | None = None
    for n, part in enumerate(parts):
        changed = n > 0 and part.name != previous
        if part.name and (n == 0 or changed):
            out.append(("\n\n" if n else "", Segment(part.name, name=True)))
            out.append(("\n", Segment(part.text)))
        else:
            out.append(("\n\n" if changed else "\n" if n else "", Segment(part.text)))
        previous = part.name
    return out


def fitting(parts: Sequence[ClientPart], size: Callable[[Sequence[ClientPart]], int], limit: int) -> list[range]:
    """`parts` cut into runs (index ranges, in order) whose merged message is at most `limit` long; a part too
    long even alone is a run of its own (its deliverer splits it as it splits any long text)."""
    runs: list[range] = []
    start = 0
    for end in range(1, len(parts) + 1):
        if end - start > 1 and size(parts[start:end]) > limit:
            runs.append(range(start, end - 1))
            start = end - 1
    if start < len(parts):
        runs.append(range(start, len(parts)))
    return runs


def parts_data(parts: Sequence[ClientPart]) -> list[dict[str, Any]]:
    return [p.model_dump() for p in parts]


def parts_from(data: Any) -> list[ClientPart]:
    """The parts a client copy's link keeps ([] for a message sent alone)."""
    return [ClientPart.model_validate(p) for p in data] if isinstance(data, list) else []


def edited(parts: Sequence[ClientPart], message_id: int, text: str) -> list[ClientPart]:
    return [p.model_copy(update={"text": text}) if p.message_id == message_id else p for p in parts]


def without(parts: Sequence[ClientPart], message_id: int) -> list[ClientPart]:
    return [p for p in parts if p.message_id != message_id]
