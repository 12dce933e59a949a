"""How the Telegram desk cuts several messages into sends (`adapters.telegram.desk_runs`): never reordered,
text lines together, the client's own media copied after the post naming them, other platforms' files as
albums of one kind, at most 10 each."""

from __future__ import annotations

from adapters.telegram.desk_runs import ALBUM_LIMIT, Piece, albums, copyable_together, plan
from core.model import Attachment, AuthorKind
from core.outbox_actions import Mirror, Notice


def mirror(n: int, *, files: tuple[str, ...] = (), own: bool = False) -> Mirror:
    source = f"telegram:support:501:{100 + n}" if own else f"slack:C1:{n}.0"
    attachments = [Attachment(kind=kind, ref=f"x:{n}:{i}") for i, kind in enumerate(files)]
    return Mirror(
        session=1,
        line_id="support",
        message_id=n,
        author_kind=AuthorKind.CLIENT,
        text=f"m{n}",
        source_ref=source,
        attachments=attachments,
    )


def own(item: Mirror) -> tuple[int, int] | None:
    parts = str(item.source_ref).split(":")
    return (int(parts[2]), int(parts[3])) if parts[0] == "telegram" else None


def shape(items: list[Mirror | Notice], can_upload: bool = True) -> list[tuple[str, list[str]]]:
    def name(item: Mirror | Notice) -> str:
        return item.text if isinstance(item, Notice) else f"m{item.message_id}"

    out = []
    for run in plan(items, own, can_upload):
        if run.uploads:
            out.append(("upload", [name(i) for i in run.uploads]))
        else:
            out.append(("post", [name(i) for i in run.lines]))
            if run.copies:
                out.append(("copy", [name(i) for i in run.copies]))
    return out


def test_runs_keep_the_order_and_group_what_one_call_can_carry() -> None:
    items: list[Mirror | Notice] = [
        mirror(1),
        mirror(2, files=("photo",), own=True),
        mirror(3, files=("photo",), own=True),
        mirror(4),
        Notice(session=1, line_id="support", text="✋ Anna took the session"),
        mirror(5, files=("photo",)),
        mirror(6, files=("document",)),
        mirror(7, files=("photo",), own=True),
    ]
    assert shape(items) == [
        ("post", ["m1", "m2", "m3"]),
        ("copy", ["m2", "m3"]),
        ("post", ["m4", "✋ Anna took the session"]),
        ("upload", ["m5", "m6"]),
        ("post", ["m7"]),
        ("copy", ["m7"]),
    ]
    # without a way to fetch other platforms' files, they are lines of text
    assert shape(items[5:7], can_upload=False) == [("post", ["m5", "m6"])]


def test_albums_hold_one_kind_at_most_ten_in_order() -> None:
    def piece(n: int, kind: str) -> Piece:
        return Piece(mirror(n), Attachment(kind=kind, ref=f"x:{n}"), b"", None)

    kinds = ["photo", "video", "document", "document", *["photo"] * 12]
    groups = albums([piece(n, kind) for n, kind in enumerate(kinds)])
    assert [[p.attachment.kind for p in g] for g in groups] == [
        ["photo", "video"],
        ["document", "document"],
        ["photo"] * ALBUM_LIMIT,
        ["photo"] * 2,
    ]
    assert [p.item.message_id for g in groups for p in g] == list(range(len(kinds)))


def test_one_copy_messages_needs_one_chat_and_rising_ids() -> None:
    assert copyable_together([(501, 1), (501, 2), (501, 9)])
    assert not copyable_together([(501, 2), (501, 1)])
    assert not copyable_together([(501, 1), (502, 2)])
