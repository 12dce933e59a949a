"""The parts of a message merged for a client (`core.client_parts`): what merges, how the parts read, how they
are cut to a platform's limit, and how an edit or a deletion of one part leaves the others."""

from __future__ import annotations

from collections.abc import Sequence

from core.client_parts import (
    ClientPart,
    client_merge,
    compose,
    edited,
    fitting,
    parts_data,
    parts_from,
    without,
)
from core.model import Attachment, AuthorKind, OutboxEntry
from core.outbox_actions import CopyFrom, EditText, SendText

ADDRESS = {"session": 1, "line_id": "support", "client_id": "c1", "chat_id": "501"}


def entry(text: str = "hi", **fields: object) -> OutboxEntry:
    action = SendText(**ADDRESS, text=text, **fields)  # type: ignore[arg-type]
    return OutboxEntry(conversation="telegram.client:support:501", route="telegram.client", action=action)


def read(parts: Sequence[ClientPart]) -> str:
    return "".join(separator + (f"<{s.text}>" if s.name else s.text) for separator, s in compose(parts))


def test_only_text_replies_merge() -> None:
    assert client_merge(entry("a"), entry("b", author_kind=AuthorKind.PROCESS))
    photo = [Attachment(kind="photo", ref="slack:F1")]
    assert not client_merge(entry("a"), entry("b", attachments=photo))
    assert not client_merge(entry("a", attachments=photo), entry("b"))
    assert not client_merge(entry("a"), entry("b", copy_from=CopyFrom(chat_id=7, message_id=8)))
    assert not client_merge(entry(""), entry("b"))  # a file too large left no text: not a reply to join
    edit = EditText(**ADDRESS, message_id=3, text="x")  # type: ignore[arg-type]
    assert not client_merge(entry("a"), OutboxEntry(conversation="c", route="telegram.client", action=edit))


def test_parts_read_as_the_client_would_read_them_signed_where_the_author_changes() -> None:
    parts = [
        ClientPart(message_id=1, name="Anna", text="one"),
        ClientPart(message_id=2, name="Anna", text="two"),
        ClientPart(message_id=None, name=None, text="⚙ your ticket is #12"),
        ClientPart(message_id=3, name="Boris", text="three"),
        ClientPart(message_id=4, name="Anna", text="four"),
    ]
    assert read(parts) == "<Anna>\none\ntwo\n\n⚙ your ticket is #12\n\n<Boris>\nthree\n\n<Anna>\nfour"
    assert read(parts[2:3]) == "⚙ your ticket is #12"


def test_parts_are_cut_where_the_limit_needs_and_a_long_part_goes_alone() -> None:
    parts = [
        ClientPart(message_id=n, name="Anna", text=text) for n, text in enumerate(["a" * 4, "b" * 4, "c" * 30, "d"])
    ]

    def size(group: Sequence[ClientPart]) -> int:
        return len(read(group))

    runs = fitting(parts, size, 20)
    assert [list(r) for r in runs] == [[0, 1], [2], [3]]
    assert [i for r in runs for i in r] == list(range(len(parts)))  # every part once, in order
    assert [list(r) for r in fitting(parts[:2], size, 1000)] == [[0, 1]]
    assert fitting([], size, 10) == []


def test_an_edit_rewrites_one_part_and_a_deletion_takes_it_out() -> None:
    parts = [ClientPart(message_id=n, name="Anna", text=f"reply {n}") for n in (1, 2, 3)]
    stored = parts_from(parts_data(parts))
    assert stored == parts and parts_from(None) == []
    assert [p.text for p in edited(stored, 2, "fixed")] == ["reply 1", "fixed", "reply 3"]
    assert [p.message_id for p in without(stored, 2)] == [1, 3]
    assert without(without(without(stored, 1), 2), 3) == []
