"""The transcript model and its renderings, and the client's history lines (core.transcripts): pure functions
over records as the store keeps them — the line's time zone, edits and deletions, files, processes, ratings,
and what the client's view leaves out."""

from __future__ import annotations

import json

from core.config import LineConfig
from core.config.hours import HoursConfig
from core.model import (
    AuthorKind,
    Channel,
    Client,
    InstanceRecord,
    InstanceStatus,
    Message,
    Session,
    SessionStatus,
)
from core.record import Attachment
from core.transcripts import (
    ClientHistory,
    PastSession,
    View,
    build_transcript,
    card_line,
    history_text,
    line_zone,
    transcript_json,
    transcript_text,
)
from core.transcripts.model import SessionRecords

T0 = 1_764_795_000.0  # 2025-12-03 20:50:00 UTC = 23:50 in Moscow


def LineWithHours(hours: HoursConfig | dict[str, str] | None = None) -> LineConfig:
    """A line with business hours (`hours = {tz = …}`, SPEC §14), or none."""
    return LineConfig.model_validate({"id": "support", "name": "Support", "hours": hours})


def Hours(tz: str) -> HoursConfig:
    """Hours naming `tz` — unchecked, as a zone the config accepted but this machine's time-zone data lacks."""
    return HoursConfig.model_construct(tz=tz, _fields_set={"tz"})


def records(
    *messages: Message, instances: tuple[InstanceRecord, ...] = (), rating: int | None = None
) -> SessionRecords:
    session = Session(
        number=7,
        line_id="support",
        client_id="telegram:501",
        status=SessionStatus.CLOSED,
        assignee="anna",
        created_at=T0,
        closed_at=T0 + 1200,
        rating=rating,
    )
    client = Client(id="telegram:501", channel=Channel.TELEGRAM, external_id="501", name="Ivan", chat_id="501")
    return SessionRecords(session, client, "Support", messages, instances, {"anna": "Anna", "carl": "Carl"})


def said(kind: AuthorKind, text: str, at: float, name: str = "", **more: object) -> Message:
    return Message.model_validate(
        {"session": 7, "author_kind": kind, "author_name": name or None, "text": text, "created_at": at, **more}
    )


CONVERSATION = (
    said(AuthorKind.CLIENT, "My order is late", T0, "Ivan", id=1),
    said(AuthorKind.OPERATOR, "Let me check", T0 + 60, "Anna", id=2, edited_at=T0 + 90),
    said(AuthorKind.OPERATOR, "// courier lost it", T0 + 120, "Anna", id=3, internal=True),
    said(AuthorKind.OPERATOR, "Wrong order, sorry", T0 + 180, "Anna", id=4, deleted_at=T0 + 200),
    said(AuthorKind.PROCESS, "Your refund is on its way", T0 + 900, "Refund", id=5),
    said(
        AuthorKind.CLIENT,
        "Here is the receipt\nand the box",
        T0 + 960,
        "Ivan",
        id=6,
        attachments=[Attachment(kind="document", ref="telegram:support:f1", name="receipt.pdf", size=2048)],
    ),
)
REFUND = InstanceRecord(
    id="a" * 32,
    process_id="refund",
    process_name="Refund",
    session=7,
    started_by="anna",
    status=InstanceStatus.FAILED,
    error="the payment service answered 503",
    created_at=T0 + 600,
    updated_at=T0 + 1000,
)


def test_the_full_transcript_in_the_lines_time_zone_marks_notes_edits_deletions_files_and_processes() -> None:
    zone = line_zone(LineWithHours(Hours("Europe/Moscow")))
    text = transcript_text(build_transcript(records(*CONVERSATION, instances=(REFUND,), rating=4), zone, View.FULL))
    assert text.splitlines() == [
        "Session #7 · Support — transcript",
        "Client:     Ivan (Telegram)",
        "Operators:  Anna",
        "Opened:     2025-12-03 23:50",
        "Closed:     2025-12-04 00:10",
        "Status:     closed",
        "Rating:     ★★★★☆ 4/5",
        "Times in:   Europe/Moscow",
        "Notes (📝) are internal: the client never saw them.",
        "─" * 60,
        "— 2025-12-03 —",
        "23:50  Ivan: My order is late",
        "23:51  Anna → client: Let me check (edited 23:51)",
        "23:52  📝 Anna (internal note): courier lost it",
        "23:53  Anna → client: Wrong order, sorry (deleted 23:53 by its author; the client's copy was deleted too)",
        "— 2025-12-04 —",
        "00:00  ▶ Refund started by Anna",
        "00:05  ⚙ Refund → client: Your refund is on its way",
        "00:06  Ivan: Here is the receipt",
        "       and the box",
        "       📎 document: receipt.pdf (2.0 KB)",
        "00:06  ✖ Refund failed: the payment service answered 503",
    ]


def test_the_clients_view_has_no_notes_no_deleted_messages_and_no_process_details() -> None:
    zone = line_zone(LineWithHours({"tz": "Europe/Moscow"}))
    transcript = build_transcript(records(*CONVERSATION, instances=(REFUND,)), zone, View.CLIENT)
    text = transcript_text(transcript)
    assert text.splitlines()[0] == "Session #7 · Support — your copy of the conversation"
    assert text.splitlines()[-8:] == [
        "— 2025-12-03 —",
        "23:50  Ivan: My order is late",
        "23:51  Anna: Let me check (edited 23:51)",
        "— 2025-12-04 —",
        "00:05  Support: Your refund is on its way",
        "00:06  Ivan: Here is the receipt",
        "       and the box",
        "       📎 document: receipt.pdf (2.0 KB)",
    ]
    for hidden in ("courier", "Wrong order", "Refund", "Status:", "internal", "started"):
        assert hidden not in text


def test_json_carries_the_same_entries_with_zoned_times() -> None:
    zone = line_zone(LineWithHours(Hours("Europe/Moscow")))
    body = json.loads(transcript_json(build_transcript(records(*CONVERSATION), zone, View.FULL)))
    assert (body["time_zone"], body["time_zone_assumed"], body["view"]) == ("Europe/Moscow", False, "full")
    assert body["opened_at"] == "2025-12-03T23:50:00+03:00"
    assert [(e["kind"], e["message_id"]) for e in body["entries"]] == [
        ("client", 1),
        ("operator", 2),
        ("note", 3),
        ("operator", 4),
        ("process", 5),
        ("client", 6),
    ]
    assert body["entries"][3]["deleted_at"] == "2025-12-03T23:53:20+03:00"
    assert body["entries"][5]["attachments"] == [
        {
            "kind": "document",
            "name": "receipt.pdf",
            "mime": None,
            "size": 2048,
            "text": "📎 document: receipt.pdf (2.0 KB)",
        }
    ]


def test_a_line_without_a_known_time_zone_shows_utc_and_says_so() -> None:
    for line in (None, LineWithHours(), LineWithHours(Hours("Mars/Olympus")), LineWithHours({"mon": "09:00-18:00"})):
        zone = line_zone(line)
        assert (zone.name, zone.assumed) == ("UTC", True)
    text = transcript_text(build_transcript(records(*CONVERSATION[:1]), line_zone(None), View.FULL))
    assert "Times in:   UTC (the line sets no time zone)" in text.splitlines()
    assert "20:50  Ivan: My order is late" in text.splitlines()


def past(number: int, day: int, rating: int | None = None, status: SessionStatus = SessionStatus.CLOSED) -> PastSession:
    return PastSession(number, T0 - day * 86400, status, rating, f"question {number}")


def test_the_cards_history_line_names_three_sessions_and_counts_the_rest() -> None:
    zone = line_zone(None)
    history = ClientHistory([past(6, 1, 5), past(5, 2), past(3, 30, 2), past(2, 40), past(1, 41)], total=5)
    assert card_line(history, zone) == (
        "Earlier sessions: #6 · 2025-12-02 · ★5, #5 · 2025-12-01, #3 · 2025-11-03 · ★2, +2 more"
    )
    assert card_line(ClientHistory([past(4, 1, status=SessionStatus.ACTIVE)], total=1), zone) == (
        "Earlier sessions: #4 · 2025-12-02 · active"
    )
    assert card_line(ClientHistory([], total=0), zone) is None


def test_history_lists_ten_sessions_with_their_first_message_and_points_to_the_rest() -> None:
    zone = line_zone(None)
    session = Session(number=20, line_id="support", client_id="telegram:501", created_at=T0)
    history = ClientHistory([past(n, 20 - n) for n in range(19, 7, -1)], total=12)
    lines = history_text(session, "Ivan", history, zone).splitlines()
    assert lines[0] == "Ivan's earlier sessions on this line (times in UTC (the line sets no time zone)):"
    assert lines[1] == "#19 · 2025-12-02 — “question 19”"
    assert len(lines) == 12
    assert lines[-1] == "+2 more: linedesk sessions --client telegram:501 --line support"
