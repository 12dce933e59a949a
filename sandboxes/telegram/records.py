"""Errors, records and small value types of the Telegram sandbox, and the Bot API's limits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

JSON = dict[str, Any]
UserRef = Mapping[str, Any] | int
ChatRef = Mapping[str, Any] | int

DOWNLOAD_LIMIT: Final = 20 * 1024 * 1024
"""Largest file a bot may download (``getFile`` answers "file is too big" above)."""
UPLOAD_LIMIT: Final = 50 * 1024 * 1024
"""Largest multipart request body the sandbox accepts (413 above), as for real bots."""
MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024

_NOT_MODIFIED: Final = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_TOPIC_COLORS: Final = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Telegram's default when allowed_updates is not set: everything except these.
_OPT_IN_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MEMBER_STATUSES: Final = ("creator", "administrator", "member", "restricted", "left", "kicked")
_CONTENT_KEYS: Final = tuple(
    "text entities photo document voice video video_note audio animation sticker location contact venue dice"
    " caption caption_entities".split()
)
_MEDIA_KINDS: Final = ("photo", "document", "voice", "video", "sticker")
_FILE_KINDS: Final = (*_MEDIA_KINDS, "audio")
"""Kinds of files the sandbox keeps (an audio file arrives in an album only: there is no ``sendAudio`` here)."""
_BOT_COMMAND: Final = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_TOKEN: Final = re.compile(r"(\d+):[A-Za-z0-9_-]+")
_SECRET: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_NAME: Final = re.compile(r"[a-z0-9_]{1,32}")
_MISSING_MESSAGES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "text": "message text is empty",
        "message_id": "message identifier is not specified",
        "callback_query_id": "query is too old and response timeout expired or query ID is invalid",
    }
)
_DEFAULT_DESCRIPTIONS: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
)


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _forbidden(description: str) -> ApiError:
    return ApiError(403, f"Forbidden: {description}")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request (``attach://`` or uploaded under the parameter name)."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class SandboxCall:
    """One recorded Bot API request and the sandbox's answer."""

    token: str
    method: str
    params: JSON
    time: float
    status: int
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of :meth:`TelegramSandbox.deliver`."""

    update_id: int | None
    via: Literal["webhook", "queue", "filtered"]
    status: int | None = None
    body: str | None = None
    error: str | None = None
    reply: SandboxCall | None = None
    """The Bot API call the webhook returned in its response body ("webhook reply"), if any."""

    @property
    def ok(self) -> bool:
        if self.via == "webhook":
            return self.status is not None and 200 <= self.status < 300
        return self.via == "queue"


@dataclass
class FileRecord:
    """A file known to the sandbox: sent by a user (builders) or uploaded by a bot."""

    file_id: str
    file_unique_id: str
    kind: str
    file_path: str
    size: int
    data: bytes | None = field(default=None, repr=False)
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 512
    height: int = 512
    duration: int = 1
    emoji: str | None = None

    def read(self) -> bytes:
        """The file's bytes; records registered by size only read as zero bytes."""
        return self.data if self.data is not None else bytes(self.size)

    def as_file(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }

    def content(self, kind: str | None = None) -> JSON:
        """The message field(s) carrying this file when sent as ``kind`` (default: its own)."""
        kind = kind or self.kind
        base: JSON = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if kind == "photo":
            return {"photo": [{**base, "file_size": self.size, "width": self.width, "height": self.height}]}
        if kind == "document":
            doc = {**base, "file_name": self.file_name, "mime_type": self.mime_type, "file_size": self.size}
            return {"document": {k: v for k, v in doc.items() if v is not None}}
        if kind == "voice":
            voice = {**base, "duration": self.duration, "mime_type": self.mime_type or "audio/ogg"}
            return {"voice": {**voice, "file_size": self.size}}
        if kind == "video":
            video = {**base, "width": self.width, "height": self.height, "duration": self.duration}
            extra = {"file_name": self.file_name, "mime_type": self.mime_type or "video/mp4"}
            video.update({k: v for k, v in extra.items() if v is not None})
            return {"video": {**video, "file_size": self.size}}
        if kind == "audio":
            audio = {**base, "duration": self.duration, "file_name": self.file_name, "file_size": self.size}
            return {
                "audio": {
                    **{k: v for k, v in audio.items() if v is not None},
                    "mime_type": self.mime_type or "audio/mpeg",
                }
            }
        if kind == "sticker":
            sticker: JSON = {
                **base,
                "type": "regular",
                "width": self.width,
                "height": self.height,
                "is_animated": False,
                "is_video": False,
                "file_size": self.size,
            }
            if self.emoji:
                sticker["emoji"] = self.emoji
            return {"sticker": sticker}
        raise ValueError(f"unknown file kind {kind!r}")


class _ChatLike(Protocol):
    @property
    def id(self) -> int: ...


class MessageLike(Protocol):
    """Anything with ``message_id`` and ``chat.id`` (e.g. an aiogram ``Message``)."""

    @property
    def message_id(self) -> int: ...

    @property
    def chat(self) -> _ChatLike: ...


MessageRef = Mapping[str, Any] | MessageLike | int
