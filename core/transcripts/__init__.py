"""Transcripts of sessions and the client's history (SPEC §14)."""

from core.transcripts.history import ClientHistory, PastSession, card_line, client_history, history_text
from core.transcripts.model import Entry, EntryKind, Transcript, View, build_transcript
from core.transcripts.render import transcript_json, transcript_text
from core.transcripts.service import PREFIX, TranscriptFiles, TranscriptReader, Transcripts
from core.transcripts.zone import LineZone, line_zone

__all__ = [
    "PREFIX",
    "ClientHistory",
    "Entry",
    "EntryKind",
    "LineZone",
    "PastSession",
    "Transcript",
    "TranscriptFiles",
    "TranscriptReader",
    "Transcripts",
    "View",
    "build_transcript",
    "card_line",
    "client_history",
    "history_text",
    "line_zone",
    "transcript_json",
    "transcript_text",
]
