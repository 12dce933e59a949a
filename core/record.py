"""The base of every stored record, and the values records and outbox actions share (authors, attachments)."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class Stored:
    """The validation context of what linedesk reads back from its store (`STORED`): it was cleaned of lone
    surrogates when it was made, so the look for them (a pass of the JSON encoder over an outbox action, every
    relayed message) is not made again."""


STORED = Stored()


def cleaned(info: ValidationInfo) -> bool:
    return info.context is STORED


class AuthorKind(StrEnum):
    CLIENT = "client"
    OPERATOR = "operator"
    PROCESS = "process"
    SYSTEM = "system"


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_lone_surrogates(cls, value: Any, info: ValidationInfo) -> Any:
        """A platform's JSON may carry half of a UTF-16 pair ("\\ud800"), which cannot be stored as UTF-8:
        it becomes U+FFFD instead of failing the whole message."""
        return without_lone_surrogates(value) if isinstance(value, str) and not cleaned(info) else value


MAX_FILE_BYTES = 20 * 1024 * 1024
"""Telegram bots may download files up to 20 MB; linedesk moves files up to this size across platforms."""


class Attachment(Record):
    """What a message carries besides its text: a file, a sticker, a location or a contact."""

    kind: str
    """photo, document, voice, audio, video, video_note, animation, sticker, location or contact."""
    ref: str | None = None
    """Where the file can be fetched from, e.g. "telegram:support:<file_id>" or "slack:<file id>"."""
    name: str | None = None
    mime: str | None = None
    size: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific facts: a sticker's emoji, a location's latitude/longitude, a contact's phone."""

    @property
    def too_large(self) -> bool:
        return self.size is not None and self.size > MAX_FILE_BYTES

    def describe(self) -> str:
        """A line of text standing for the attachment where it cannot be shown as itself."""
        if self.kind == "sticker":
            return str(self.data.get("emoji") or "🖼 sticker")
        if self.kind == "location":
            return f"📍 {self.data.get('latitude')}, {self.data.get('longitude')}"
        if self.kind == "contact":
            name = " ".join(str(p) for p in (self.data.get("first_name"), self.data.get("last_name")) if p)
            return f"👤 {name} {self.data.get('phone_number', '')}".strip()
        size = f", {self.size / 1024 / 1024:.1f} MB" if self.size else ""
        return f"📎 {self.kind}{': ' + self.name if self.name else ''}{size}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    """A JSON tree with every half of a UTF-16 pair ("\\ud800", legal in JSON, not in UTF-8) replaced by U+FFFD,
    keys included: applied where platform requests enter, so nothing downstream (the store, the desks, a
    platform's API) meets text it cannot encode. The value itself is returned when it has none: a tree is first
    looked through in one pass of the C encoder, and walked only when that finds one (a webhook's update, every
    relayed message, would otherwise cost a Python walk of every key and value)."""
    if isinstance(value, dict | list):
        try:
            if _SURROGATE.search(json.dumps(value, ensure_ascii=False, default=_not_walked)) is None:
                return value
        except (TypeError, ValueError, RecursionError):
            pass  # a key JSON has no form for, a cycle, or too deep for the encoder: walked below
    return _walk(value)


def _not_walked(value: object) -> None:
    """What the walk leaves alone (a model, a date …) stands for nothing in the look-through."""
    return None


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        pairs = [(_walk(k), _walk(v)) for k, v in value.items()]
        old = value.items()
        changed = any(k is not ok or v is not ov for (k, v), (ok, ov) in zip(pairs, old, strict=True))
        return dict(pairs) if changed else value
    if isinstance(value, list):
        items = [_walk(v) for v in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return value
