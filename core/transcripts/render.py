"""A transcript as text (a file people read) and as JSON (for tools)."""

from __future__ import annotations

import datetime
import json

from core.transcripts.model import Entry, EntryKind, Transcript, View

RULE = "─" * 60
INDENT = " " * 7


def _when(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def transcript_text(transcript: Transcript) -> str:
    head = "transcript" if transcript.view == View.FULL else "your copy of the conversation"
    lines = [
        f"Session #{transcript.session} · {transcript.line_name} — {head}",
        f"Client:     {transcript.client_name} ({transcript.channel.capitalize()})",
        f"Operators:  {', '.join(transcript.operators) or 'none'}",
        f"Opened:     {_when(transcript.opened_at)}",
    ]
    if transcript.closed_at is not None:
        lines.append(f"Closed:     {_when(transcript.closed_at)}")
    if transcript.view == View.FULL:
        lines.append(f"Status:     {transcript.status.value}")
    if transcript.rating is not None:
        lines.append(f"Rating:     {'★' * transcript.rating}{'☆' * (5 - transcript.rating)} {transcript.rating}/5")
    zone = transcript.time_zone + (" (the line sets no time zone)" if transcript.time_zone_assumed else "")
    lines.append(f"Times in:   {zone}")
    if transcript.view == View.FULL:
        lines.append("Notes (📝) are internal: the client never saw them.")
    lines.append(RULE)
    day = None
    for entry in transcript.entries:
        if entry.at.date() != day:
            day = entry.at.date()
            lines.append(f"— {day.isoformat()} —")
        lines.extend(_entry_lines(entry, transcript.view))
    if not transcript.entries:
        lines.append("(no messages)")
    return "\n".join(lines) + "\n"


def _entry_lines(entry: Entry, view: View) -> list[str]:
    text = entry.text
    match entry.kind:
        case EntryKind.NOTE:
            said = f"📝 {entry.author} (internal note): {text}"
        case EntryKind.INSTANCE:
            said = text
        case EntryKind.PROCESS if view == View.FULL:
            said = f"⚙ {entry.author} → client: {text}"
        case EntryKind.OPERATOR | EntryKind.SYSTEM if view == View.FULL:
            said = f"{entry.author} → client: {text}"
        case _:
            said = f"{entry.author}: {text}"
    marks = []
    if entry.edited_at is not None:
        marks.append(f"edited {entry.edited_at.strftime('%H:%M')}")
    if entry.deleted_at is not None:
        marks.append(f"deleted {entry.deleted_at.strftime('%H:%M')} by its author; the client's copy was deleted too")
    if marks:
        said += f" ({'; '.join(marks)})"
    first, *rest = said.split("\n")
    lines = [f"{entry.at.strftime('%H:%M')}  {first}", *(INDENT + line for line in rest)]
    lines.extend(INDENT + shown.text for shown in entry.attachments)
    return lines


def transcript_json(transcript: Transcript) -> str:
    return json.dumps(transcript.model_dump(mode="json"), ensure_ascii=False, indent=2)
