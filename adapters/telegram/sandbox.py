"""Telegram Bot API sandbox: a local, in-process HTTP emulator of ``api.telegram.org``.

The sandbox plays both sides of the Telegram servers:

* **Outbound** (bot → Telegram): an aiohttp app answering ``/bot{token}/{method}`` and
  ``/file/bot{token}/{file_path}`` the way the Bot API does, so an unmodified aiogram ``Bot`` works
  against it with ``AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url))``.
  Every call is recorded (:attr:`TelegramSandbox.calls`), state is kept (chats, messages, forum
  topics, files, webhook, commands…) and failures can be injected (:meth:`TelegramSandbox.fail`).
* **Inbound** (Telegram → bot): builders produce spec-conformant ``Update`` dicts from users'
  actions (:meth:`TelegramSandbox.text_update`, …) and :meth:`TelegramSandbox.deliver` pushes them to
  the bot's webhook or queues them for ``getUpdates``.

Simplifications (documented, deliberate): every registered bot is an administrator of every group;
URLs given as files are not fetched; photos get one nominal size; links/mentions in text are not
auto-detected (only a leading ``/command`` of a user message gets a ``bot_command`` entity).

Stored message payloads are treated as immutable: an edit replaces the dict instead of mutating it,
so dicts handed out earlier (results, updates) never change behind the caller's back.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from aiohttp import (
    BodyPartReader,
    ClientError,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    hdrs,
    web,
)
from aiohttp.multipart import MultipartResponseWrapper

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
_BOT_COMMAND: Final = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_TOKEN: Final = re.compile(r"(\d+):[A-Za-z0-9_-]+")
_SECRET: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_NAME: Final = re.compile(r"[a-z0-9_]{1,32}")

ParamKind = Literal["int", "float", "bool", "str", "chat", "json", "file"]

# How each Bot API parameter is typed on the wire. Form bodies carry strings only, and aiogram sends
# strings raw but every other scalar JSON-encoded, so coercion must go by parameter name, never by
# the look of the value (text="123" stays a string). Unknown parameters are kept as given.
_PARAM_KINDS: Final[Mapping[str, ParamKind]] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "cache_time direct_messages_topic_id duration heading height icon_color limit "
                "live_period max_connections message_id message_thread_id offset "
                "proximity_alert_radius start_timestamp timeout user_id video_start_timestamp "
                "width reply_to_message_id"
            ).split(),
            "int",
        ),
        **dict.fromkeys(("horizontal_accuracy", "latitude", "longitude"), "float"),
        **dict.fromkeys(
            (
                "allow_paid_broadcast disable_content_type_detection disable_notification "
                "drop_pending_updates has_spoiler protect_content show_alert "
                "show_caption_above_media supports_streaming allow_sending_without_reply "
                "disable_web_page_preview"
            ).split(),
            "bool",
        ),
        **dict.fromkeys(("chat_id", "from_chat_id"), "chat"),
        **dict.fromkeys(
            (
                "allowed_updates caption_entities commands entities link_preview_options "
                "reply_markup reply_parameters scope suggested_post_parameters rich_message"
            ).split(),
            "json",
        ),
        **dict.fromkeys(
            ("certificate", "cover", "document", "photo", "sticker", "thumbnail", "video", "voice"),
            "file",
        ),
        **dict.fromkeys(
            (
                "action business_connection_id callback_query_id caption emoji file_id first_name "
                "icon_custom_emoji_id inline_message_id ip_address language_code last_name "
                "message_effect_id name parse_mode phone_number secret_token text url vcard"
            ).split(),
            "str",
        ),
    }
)
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


# --------------------------------------------------------------------------------------------------
# Errors, records, small value types
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


@dataclass
class StoredMessage:
    payload: JSON
    sender_id: int
    thread_id: int | None = None
    edit_count: int = 0

    @property
    def is_service(self) -> bool:
        return not any(key in self.payload for key in _CONTENT_KEYS)

    def view(self) -> JSON:
        return {**self.payload, "edit_count": self.edit_count}


@dataclass
class ForumTopicState:
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False

    def as_forum_topic(self) -> JSON:
        topic: JSON = {"message_thread_id": self.thread_id, "name": self.name, "icon_color": self.icon_color}
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic


class ChatState:
    """One chat: its Chat object, its messages (ids increase per chat) and, in forums, its topics."""

    def __init__(self, chat: JSON, members: Iterable[int] = (), owner_id: int | None = None) -> None:
        self.chat = chat
        self.messages: dict[int, StoredMessage] = {}
        self.topics: dict[int, ForumTopicState] = {}
        self.members: set[int] = set(members)
        self.owner_id = owner_id
        self._last_message_id = 0

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    @property
    def is_private(self) -> bool:
        return bool(self.chat["type"] == "private")

    @property
    def is_forum(self) -> bool:
        return bool(self.chat.get("is_forum"))

    def next_message_id(self) -> int:
        self._last_message_id += 1
        return self._last_message_id

    def find(self, message_id: int) -> StoredMessage | None:
        return self.messages.get(message_id)

    def visible(self, thread_id: int | None = None) -> list[StoredMessage]:
        return [m for m in self.messages.values() if thread_id is None or m.thread_id == thread_id]


@dataclass
class WebhookState:
    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class CallbackQueryState:
    query_id: str
    user_id: int
    answer: JSON | None = None


class BotState:
    """Everything Telegram keeps for one bot."""

    def __init__(self, token: str, user: JSON) -> None:
        self.token = token
        self.user = user
        self.private_chats: dict[int, ChatState] = {}
        self.pending: list[JSON] = []
        self.webhook = WebhookState()
        self.allowed_updates: list[str] | None = None
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.blocked: set[int] = set()
        self.closing = False
        self._update_ids = itertools.count(10_000_001)
        self._poll_generation = 0
        self._wakeup: asyncio.Event | None = None

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def allows(self, update_type: str) -> bool:
        if self.allowed_updates:
            return update_type in self.allowed_updates
        return update_type not in _OPT_IN_UPDATES

    def enqueue(self, update: JSON) -> None:
        self.pending.append(update)
        self.wake()

    def confirm(self, offset: int | None) -> None:
        """Forget updates before ``offset``; a negative offset keeps only the last ``-offset``."""
        if offset is None:
            return
        if offset < 0:
            del self.pending[: max(0, len(self.pending) + offset)]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    async def wait_for_updates(self, timeout: float) -> None:
        """Long poll: return when an update is queued or ``timeout`` passes.

        A newer ``getUpdates`` terminates an older waiting one with 409, as Telegram does.
        """
        self._poll_generation += 1
        generation = self._poll_generation
        self.wake()  # terminates an older poller
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.pending and not self.closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            if self._wakeup is None:
                self._wakeup = asyncio.Event()
            timed_out = False
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                timed_out = True
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if timed_out:
                return


class SandboxState:
    """The Telegram world: users, groups, files and the per-bot state."""

    def __init__(self) -> None:
        self.users: dict[int, JSON] = {}
        self.groups: dict[int, ChatState] = {}
        self.bots: dict[str, BotState] = {}
        self.files: dict[str, FileRecord] = {}
        self.files_by_path: dict[str, FileRecord] = {}
        self._file_seq = itertools.count(1)
        self._callback_seq = itertools.count(1)

    def bot(self, token: str) -> BotState:
        try:
            return self.bots[token]
        except KeyError:
            raise KeyError(f"unknown bot token {token[:12]}…; call add_bot() first") from None

    def resolve_user(self, user: UserRef) -> JSON:
        if isinstance(user, int):
            try:
                return self.users[user]
            except KeyError:
                raise KeyError(f"unknown user {user}; call user() first") from None
        found = self.users.setdefault(int(user["id"]), dict(user))
        return found

    def chat(self, bot: BotState, chat_id: int) -> ChatState | None:
        return self.groups.get(chat_id) if chat_id < 0 else bot.private_chats.get(chat_id)

    def private_chat(self, bot: BotState, user: JSON) -> ChatState:
        """The bot's private chat with ``user``, opened on first use (the user wrote to the bot)."""
        chat = bot.private_chats.get(user["id"])
        if chat is None:
            chat = ChatState(private_chat_object(user), members=(user["id"],))
            bot.private_chats[user["id"]] = chat
        return chat

    def add_file(
        self,
        kind: str,
        *,
        data: bytes | None = None,
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        **attributes: Any,
    ) -> FileRecord:
        if kind not in _MEDIA_KINDS:
            raise ValueError(f"kind must be one of {_MEDIA_KINDS}")
        n = next(self._file_seq)
        folder, ext = {
            "photo": ("photos", ".jpg"),
            "document": ("documents", ""),
            "voice": ("voice", ".oga"),
            "video": ("videos", ".mp4"),
            "sticker": ("stickers", ".webp"),
        }[kind]
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        digest = hashlib.sha1(f"{kind}:{n}".encode()).hexdigest()
        record = FileRecord(
            file_id=f"{kind[:2].upper()}ACAgIAAxkBAAI{n:06d}{digest[:24]}",
            file_unique_id=f"AQAD{n:06d}{digest[24:32]}",
            kind=kind,
            file_path=f"{folder}/file_{n}{ext}",
            size=len(data) if data is not None else (size or 0),
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            **attributes,
        )
        self.files[record.file_id] = record
        self.files_by_path[record.file_path] = record
        return record

    def next_callback_id(self, bot: BotState) -> str:
        return f"{bot.id}{next(self._callback_seq):010d}"


# --------------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------------


def _coerce(name: str, value: Any, uploads: Mapping[str, Upload]) -> Any:
    kind = _PARAM_KINDS.get(name)
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return value if isinstance(value, int) else int(str(value).strip())
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            raise ValueError
        if kind == "chat":
            text = str(value).strip()
            return int(text) if re.fullmatch(r"-?\d+", text) else text
        if kind == "json":
            return json.loads(value) if isinstance(value, str | bytes) else value
        if kind == "file":
            if isinstance(value, str) and value.startswith("attach://"):
                upload = uploads.get(value.removeprefix("attach://"))
                if upload is None:
                    raise _bad(f"file for {name} not found in the request")
                return upload
            return value
        if kind == "str" and not isinstance(value, str):
            return json.dumps(value) if isinstance(value, dict | list) else str(value)
        return value
    except (ValueError, TypeError):
        if kind == "json":
            raise _bad(f"can't parse {name} JSON object") from None
        raise _bad(f"invalid {name} specified") from None


def coerce_params(raw: Mapping[str, Any], uploads: Mapping[str, Upload] | None = None) -> JSON:
    """Type raw request values by parameter name; empty values count as absent."""
    uploads = uploads or {}
    params: JSON = {}
    for name, value in raw.items():
        if value is None or value == "":
            continue
        params[name] = _coerce(name, value, uploads)
    for name, upload in uploads.items():  # files uploaded directly under the parameter's own name
        if _PARAM_KINDS.get(name) == "file" and name not in params:
            params[name] = upload
    return params


async def read_params(request: web.BaseRequest) -> JSON:
    """Merge the query string and the body (JSON, urlencoded or multipart) into typed params."""
    raw: JSON = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.body_exists:
        if request.content_length is not None and request.content_length > UPLOAD_LIMIT + 65536:
            raise ApiError(413, "Request Entity Too Large")
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise _bad("JSON request body must be an object")
            raw.update(body)
        elif ctype == "multipart/form-data":
            await read_parts(await request.multipart(), raw, uploads)
        elif ctype == "application/x-www-form-urlencoded":
            raw.update(await request.post())
    return coerce_params(raw, uploads)


async def read_parts(reader: MultipartReader | MultipartResponseWrapper, raw: JSON, uploads: dict[str, Upload]) -> None:
    """Multipart fields into ``raw`` (text) and ``uploads`` (parts with a filename)."""
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        total += len(data)
        if total > UPLOAD_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        if part.filename is None:
            raw[part.name] = data.decode(part.get_charset("utf-8"))
        else:
            uploads[part.name] = Upload(part.filename, part.headers.get(hdrs.CONTENT_TYPE), data)


class Params:
    """Typed access to one request's (already coerced) parameters."""

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def require(self, names: Iterable[str]) -> None:
        for name in names:
            if self.values.get(name) is None:
                raise _bad(_MISSING_MESSAGES.get(name, f"{name} is empty"))

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def req_int(self, name: str) -> int:
        value = self.opt_int(name)
        if value is None:
            raise _bad(_MISSING_MESSAGES.get(name, f"{name} is empty"))
        return value

    def opt_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(f"invalid {name} specified")
        return value

    def req_str(self, name: str) -> str:
        value = self.opt_str(name)
        if value is None:
            raise _bad(_MISSING_MESSAGES.get(name, f"{name} is empty"))
        return value

    def opt_str(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def req_float(self, name: str) -> float:
        value = self.values.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad(f"{name} is empty" if value is None else f"invalid {name} specified")
        return float(value)

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name) or False)

    def opt_obj(self, name: str) -> JSON | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, dict):
            raise _bad(f"can't parse {name} JSON object")
        return value

    def opt_list(self, name: str) -> list[Any] | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, list):
            raise _bad(f"can't parse {name} JSON object")
        return value

    def chat_ref(self, name: str = "chat_id") -> int | str:
        value = self.values.get(name)
        if value is None:
            raise _bad(f"{name} is empty")
        if not isinstance(value, int | str) or isinstance(value, bool):
            raise _bad("chat not found")
        return value


# --------------------------------------------------------------------------------------------------
# Formatting (parse_mode → plain text + entities)
# --------------------------------------------------------------------------------------------------


class _HtmlEntityParser(HTMLParser):
    """Telegram's HTML subset: tags become entities, everything else is an error."""

    _SIMPLE: Final[Mapping[str, str]] = MappingProxyType(
        {
            "b": "bold",
            "strong": "bold",
            "i": "italic",
            "em": "italic",
            "u": "underline",
            "ins": "underline",
            "s": "strikethrough",
            "strike": "strikethrough",
            "del": "strikethrough",
            "tg-spoiler": "spoiler",
            "code": "code",
            "pre": "pre",
            "blockquote": "blockquote",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._at16 = 0
        self.entities: list[JSON] = []
        self._stack: list[tuple[str, int, JSON | None]] = []

    def _fail(self, reason: str) -> ApiError:
        return _bad(f"can't parse entities: {reason}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        entity: JSON | None
        if tag == "a":
            entity = {"type": "text_link", "url": attributes.get("href") or ""}
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id") or ""}
        elif tag == "blockquote" and "expandable" in attributes:
            entity = {"type": "expandable_blockquote"}
        elif tag in self._SIMPLE:
            entity = {"type": self._SIMPLE[tag]}
            language = (attributes.get("class") or "").removeprefix("language-")
            if tag == "code" and language and self._stack and self._stack[-1][0] == "pre":
                pre = self._stack[-1][2]
                if pre is not None:
                    pre["language"] = language
                entity = None  # <pre><code class="language-x"> is one pre entity
        else:
            raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._at16}')
        self._stack.append((tag, self._at16, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self._stack or self._stack[-1][0] != tag:
            expected = self._stack[-1][0] if self._stack else None
            if expected is None:
                raise self._fail(f'Unexpected end tag "{tag}" at byte offset {self._at16}')
            raise self._fail(f'Can\'t find end tag corresponding to start tag "{expected}"')
        _, start, entity = self._stack.pop()
        if entity is not None and self._at16 > start:
            self.entities.append({**entity, "offset": start, "length": self._at16 - start})

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._at16}')

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self._at16 += utf16_len(data)

    def parse(self, source: str) -> tuple[str, list[JSON]]:
        self.feed(source)
        self.close()
        if self._stack:
            raise self._fail(f'Can\'t find end tag corresponding to start tag "{self._stack[-1][0]}"')
        return "".join(self.parts), self.entities


_MD2_RESERVED: Final = frozenset("_*[]()~`>#+-=|{}.!")
_LEGACY_LINK: Final = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_MD2_TOGGLES: Final[Mapping[str, str]] = MappingProxyType(
    {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
)


class _MarkdownParser:
    """MarkdownV2 (``v2=True``) and legacy Markdown, enough to know what a reader sees."""

    def __init__(self, source: str, *, v2: bool) -> None:
        self.src = source
        self.v2 = v2
        self.out: list[str] = []
        self.offset = 0
        self.entities: list[JSON] = []

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.offset += utf16_len(text)

    def _add(self, entity_type: str, start: int, **extra: Any) -> None:
        if self.offset > start:
            self.entities.append({"type": entity_type, "offset": start, "length": self.offset - start, **extra})

    @staticmethod
    def _fail(reason: str) -> ApiError:
        return _bad(f"can't parse entities: {reason}")

    def _find_close(self, marker: str, start: int) -> int:
        i = start
        while i < len(self.src):
            if self.src[i] == "\\" and self.v2:
                i += 2
                continue
            if self.src.startswith(marker, i):
                return i
            i += 1
        return -1

    def _unescape(self, text: str) -> str:
        return re.sub(r"\\(.)", r"\1", text) if self.v2 else text

    def parse(self) -> tuple[str, list[JSON]]:
        src, i = self.src, 0
        open_: dict[str, int] = {}
        links: list[int] = []
        quote_start: int | None = None
        while i < len(src):
            c = src[i]
            if c == "\\" and i + 1 < len(src) and (self.v2 or src[i + 1] in "_*`["):
                self._emit(src[i + 1])
                i += 2
            elif c == "`":
                i = self._code(i)
            elif self.v2 and c == ">" and (i == 0 or src[i - 1] == "\n"):
                quote_start = self.offset if quote_start is None else quote_start
                i += 1
            elif c == "\n" and quote_start is not None and not src.startswith(">", i + 1):
                self._add("blockquote", quote_start)
                quote_start = None
                self._emit(c)
                i += 1
            elif self.v2 and (marker := self._toggle_marker(i)) is not None:
                kind = _MD2_TOGGLES[marker]
                if kind in open_:
                    self._add(kind, open_.pop(kind))
                else:
                    open_[kind] = self.offset
                i += len(marker)
            elif not self.v2 and c in "*_":
                end = src.find(c, i + 1)
                if end < 0:
                    raise self._fail(f"Can't find end of the entity starting at byte offset {i}")
                start = self.offset
                self._emit(src[i + 1 : end])
                self._add("bold" if c == "*" else "italic", start)
                i = end + 1
            elif c == "[" and not self.v2:
                i = self._legacy_link(i)
            elif c == "[":
                links.append(self.offset)
                i += 1
            elif c == "]" and links:
                i = self._link_target(i, links.pop())
            elif self.v2 and c in _MD2_RESERVED:
                raise self._fail(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            else:
                self._emit(c)
                i += 1
        if quote_start is not None:
            self._add("blockquote", quote_start)
        if open_ or links:
            kind = next(iter(open_)) if open_ else "TextUrl"
            raise self._fail(f"Can't find end of {kind.title()} entity at byte offset {len(src)}")
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _toggle_marker(self, i: int) -> str | None:
        return next((m for m in ("||", "__", "*", "_", "~") if self.src.startswith(m, i)), None)

    def _code(self, i: int) -> int:
        if self.src.startswith("```", i):
            end = self._find_close("```", i + 3)
            if end < 0:
                raise self._fail(f"Can't find end of PreCode entity at byte offset {i}")
            body = self.src[i + 3 : end]
            language = ""
            first, newline, rest = body.partition("\n")
            if newline and first and " " not in first:
                language, body = first, rest
            start = self.offset
            self._emit(self._unescape(body))
            self._add("pre", start, **({"language": language} if language else {}))
            return end + 3
        end = self._find_close("`", i + 1)
        if end < 0:
            raise self._fail(f"Can't find end of Code entity at byte offset {i}")
        start = self.offset
        self._emit(self._unescape(self.src[i + 1 : end]))
        self._add("code", start)
        return end + 1

    def _legacy_link(self, i: int) -> int:
        match = _LEGACY_LINK.match(self.src, i)
        if match is None:
            self._emit("[")
            return i + 1
        start = self.offset
        self._emit(match.group(1))
        self._add("text_link", start, url=match.group(2))
        return match.end()

    def _link_target(self, i: int, start: int) -> int:
        if not self.src.startswith("(", i + 1):
            if self.v2:
                raise self._fail("Character ']' is reserved and must be escaped with the preceding '\\'")
            self._emit("]")
            return i + 1
        end = self._find_close(")", i + 2)
        if end < 0:
            raise self._fail(f"Can't find end of a URL at byte offset {i}")
        self._add("text_link", start, url=self._unescape(self.src[i + 2 : end]))
        return end + 1


def format_text(text: str, parse_mode: str | None, entities: list[Any] | None) -> tuple[str, list[JSON]]:
    """What a reader sees: the plain text and its entities (``entities`` wins over ``parse_mode``)."""
    if entities is not None:
        if not all(isinstance(e, dict) and {"type", "offset", "length"} <= e.keys() for e in entities):
            raise _bad("can't parse entities JSON object")
        return text, entities
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        plain, found = _HtmlEntityParser().parse(text)
        found.sort(key=lambda e: (e["offset"], -e["length"]))
        return plain, found
    if mode in ("markdown", "markdownv2"):
        return _MarkdownParser(text, v2=mode == "markdownv2").parse()
    raise _bad("unsupported parse_mode")


def command_entities(text: str) -> list[JSON]:
    """A leading ``/command`` (or ``/command@bot``) is a ``bot_command`` entity."""
    match = _BOT_COMMAND.match(text)
    if match is None:
        return []
    return [{"offset": 0, "length": utf16_len(match.group()), "type": "bot_command"}]


def _inline_markup(markup: JSON | None) -> JSON | None:
    """Validate a reply_markup and return what a Message carries (inline keyboards only)."""
    if markup is None:
        return None
    keyboard = markup.get("inline_keyboard")
    if keyboard is None:
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise _bad("can't parse reply keyboard markup JSON object")
        return None
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise _bad("can't parse inline keyboard markup JSON object")
    for row in keyboard:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad("can't parse inline keyboard button: Text must be non-empty")
            if len(button) < 2:
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
    return {"inline_keyboard": keyboard} if any(keyboard) else None


def _chat_member(user: JSON, status: str) -> JSON:
    """A ChatMember object of the given status with every field the Bot API requires."""
    member: JSON = {"user": user, "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        rights = (
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_pin_messages",
            "can_manage_topics",
            "can_send_welcome_messages",  # Bot API 10.3 (aiogram 3.31 requires it)
        )
        member.update({"can_be_edited": False, "is_anonymous": False, "can_promote_members": False})
        member.update(dict.fromkeys(rights, True))
    elif status == "restricted":
        permissions = (
            "can_send_messages can_send_audios can_send_documents can_send_photos can_send_videos "
            "can_send_video_notes can_send_voice_notes can_send_polls can_send_other_messages "
            "can_add_web_page_previews can_react_to_messages can_edit_tag can_change_info "
            "can_invite_users can_pin_messages can_manage_topics"
        ).split()
        member.update({"is_member": True, **dict.fromkeys(permissions, False), "until_date": 0})
    elif status == "kicked":
        member["until_date"] = 0
    elif status not in ("member", "left"):
        raise ValueError(f"status must be one of {_MEMBER_STATUSES}")
    return member


def private_chat_object(user: Mapping[str, Any]) -> JSON:
    """The Chat object of a user's private chat with a bot."""
    names = {k: user[k] for k in ("first_name", "last_name", "username") if user.get(k)}
    return {"id": user["id"], "type": "private", **names}


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _chat_instance(bot_id: int, chat_id: int) -> str:
    digest = hashlib.sha1(f"{bot_id}:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


def compose_message(
    chat: ChatState,
    sender: JSON,
    content: JSON,
    *,
    thread_id: int | None = None,
    reply_to: StoredMessage | None = None,
    markup: JSON | None = None,
    message_id: int | None = None,
) -> StoredMessage:
    """Build and store a message in ``chat`` (ids increase per chat)."""
    payload: JSON = {"message_id": message_id if message_id is not None else chat.next_message_id()}
    if thread_id is not None:
        payload["message_thread_id"] = thread_id
    payload.update({"from": sender, "chat": chat.chat, "date": int(time.time())})
    if thread_id is not None and chat.is_forum:
        payload["is_topic_message"] = True
        # Telegram shows a topic message as a reply to the topic's creation message.
        reply_to = reply_to or chat.find(thread_id)
    if reply_to is not None:
        payload["reply_to_message"] = {k: v for k, v in reply_to.payload.items() if k != "reply_to_message"}
    payload.update(content)
    if markup is not None:
        payload["reply_markup"] = markup
    message = StoredMessage(payload, sender_id=int(sender["id"]), thread_id=thread_id)
    chat.messages[payload["message_id"]] = message
    return message


# --------------------------------------------------------------------------------------------------
# Bot API methods
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    """A success result that also carries Telegram's ``description`` (setWebhook & co.)."""

    result: Any
    description: str


Handler = Callable[[BotState, Params], Awaitable[Any]]


@dataclass(frozen=True)
class ApiMethod:
    name: str
    required: tuple[str, ...]
    handler: Handler


@dataclass
class _Target:
    chat: ChatState
    thread_id: int | None
    reply_to: StoredMessage | None


class BotApi:
    """The Bot API methods, implemented on :class:`SandboxState`."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.methods: dict[str, ApiMethod] = {m.name.lower(): m for m in self._registry()}

    def _registry(self) -> list[ApiMethod]:
        m = ApiMethod
        send = ("chat_id",)
        topic = ("chat_id", "message_thread_id")
        return [
            m("getMe", (), self.get_me),
            m("logOut", (), self.trivial),
            m("close", (), self.trivial),
            # url is required by the spec, but an empty/absent url removes the webhook (aiogram
            # drops empty strings from requests, so "" arrives as absent).
            m("setWebhook", (), self.set_webhook),
            m("deleteWebhook", (), self.delete_webhook),
            m("getWebhookInfo", (), self.get_webhook_info),
            m("getUpdates", (), self.get_updates),
            m("sendMessage", (*send, "text"), self.send_message),
            m("editMessageText", (), self.edit_message_text),
            m("editMessageCaption", (), self.edit_message_caption),
            m("editMessageReplyMarkup", (), self.edit_message_reply_markup),
            m("deleteMessage", ("chat_id", "message_id"), self.delete_message),
            m("copyMessage", ("chat_id", "from_chat_id", "message_id"), self.copy_message),
            m("forwardMessage", ("chat_id", "from_chat_id", "message_id"), self.forward_message),
            *(m(f"send{kind.title()}", (*send, kind), self._media_sender(kind)) for kind in _MEDIA_KINDS),
            m("sendLocation", (*send, "latitude", "longitude"), self.send_location),
            m("sendContact", (*send, "phone_number", "first_name"), self.send_contact),
            m("sendChatAction", (*send, "action"), self.send_chat_action),
            m("getFile", ("file_id",), self.get_file),
            m("createForumTopic", ("chat_id", "name"), self.create_forum_topic),
            m("editForumTopic", topic, self.edit_forum_topic),
            m("closeForumTopic", topic, self.close_forum_topic),
            m("reopenForumTopic", topic, self.reopen_forum_topic),
            m("deleteForumTopic", topic, self.delete_forum_topic),
            m("setMyCommands", ("commands",), self.set_my_commands),
            m("getMyCommands", (), self.get_my_commands),
            m("deleteMyCommands", (), self.delete_my_commands),
            m("answerCallbackQuery", ("callback_query_id",), self.answer_callback_query),
            m("getChat", ("chat_id",), self.get_chat),
            m("getChatMember", ("chat_id", "user_id"), self.get_chat_member),
        ]

    # -- resolution helpers ------------------------------------------------------------------------

    def chat_for(self, bot: BotState, ref: int | str, *, writing: bool) -> ChatState:
        """Resolve chat_id; ``writing`` applies the blocked / can't-initiate rules of Telegram."""
        if isinstance(ref, str):
            chat = next((g for g in self.state.groups.values() if f"@{g.chat.get('username')}" == ref), None)
        else:
            chat = self.state.chat(bot, ref)
        if chat is None:
            if writing and isinstance(ref, int) and ref in self.state.users:
                raise _forbidden("bot can't initiate conversation with a user")
            raise _bad("chat not found")
        if writing and chat.is_private and chat.id in bot.blocked:
            raise _forbidden("bot was blocked by the user")
        return chat

    def _thread(self, chat: ChatState, thread_id: int | None) -> int | None:
        if thread_id is None:
            return None
        if chat.is_forum and thread_id in chat.topics:
            return thread_id
        if not chat.is_forum and not chat.is_private and thread_id in chat.messages:
            return thread_id  # a reply thread in a plain supergroup
        raise _bad("message thread not found")

    def target(self, bot: BotState, p: Params) -> _Target:
        chat = self.chat_for(bot, p.chat_ref(), writing=True)
        thread_id = self._thread(chat, p.opt_int("message_thread_id"))
        reply_params = p.opt_obj("reply_parameters") or {}
        reply_id = reply_params.get("message_id", p.opt_int("reply_to_message_id"))
        allow_missing = reply_params.get("allow_sending_without_reply", p.flag("allow_sending_without_reply"))
        reply_to = None
        if reply_id is not None:
            reply_to = chat.find(int(reply_id))
            if reply_to is None and not allow_missing:
                raise _bad("message to be replied not found")
        if reply_to is not None and thread_id is None:
            thread_id = reply_to.thread_id  # a reply lands in the replied message's topic
        return _Target(chat, thread_id, reply_to)

    def store(self, bot: BotState, target: _Target, content: JSON, p: Params) -> JSON:
        if p.flag("protect_content"):
            content = {**content, "has_protected_content": True}
        message = compose_message(
            target.chat,
            bot.user,
            content,
            thread_id=target.thread_id,
            reply_to=target.reply_to,
            markup=_inline_markup(p.opt_obj("reply_markup")),
        )
        return message.payload

    @staticmethod
    def text_content(p: Params) -> JSON:
        text, entities = format_text(p.req_str("text"), p.opt_str("parse_mode"), p.opt_list("entities"))
        if not text.strip():
            raise _bad("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return {"text": text, "entities": entities} if entities else {"text": text}

    @staticmethod
    def caption_content(p: Params) -> JSON:
        caption = p.opt_str("caption")
        if caption is None:
            return {}
        text, entities = format_text(caption, p.opt_str("parse_mode"), p.opt_list("caption_entities"))
        if utf16_len(text) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        if not text:
            return {}
        return {"caption": text, "caption_entities": entities} if entities else {"caption": text}

    def input_file(self, p: Params, name: str) -> FileRecord:
        value = p.values.get(name)
        if isinstance(value, Upload):
            return self.state.add_file(
                name,
                data=value.data,
                file_name=value.filename,
                mime_type=value.content_type,
                duration=p.opt_int("duration") or 1,
                emoji=p.opt_str("emoji"),
                width=p.opt_int("width") or 512,
                height=p.opt_int("height") or 512,
            )
        if isinstance(value, str):
            if value.startswith(("http://", "https://")):  # not fetched: an empty placeholder file
                return self.state.add_file(name, data=b"", file_name=value.rsplit("/", 1)[-1] or None)
            record = self.state.files.get(value)
            if record is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            return record
        raise _bad(f"there is no {name} in the request")

    def stored_message(self, chat: ChatState, p: Params, missing: str) -> StoredMessage:
        message = chat.find(p.req_int("message_id"))
        if message is None:
            raise _bad(missing)
        return message

    def editable(self, bot: BotState, p: Params) -> StoredMessage:
        if p.has("inline_message_id"):
            raise _bad("inline messages are not supported by the sandbox")
        chat = self.chat_for(bot, p.chat_ref(), writing=True)
        message = self.stored_message(chat, p, "message to edit not found")
        if message.sender_id != bot.id:
            raise _bad("message can't be edited")
        return message

    @staticmethod
    def apply_edit(message: StoredMessage, replaced: Iterable[str], content: JSON, markup: JSON | None) -> JSON:
        keys = (*replaced, "reply_markup")
        current = {k: message.payload[k] for k in keys if k in message.payload}
        new = {**content, **({"reply_markup": markup} if markup is not None else {})}
        if current == new:
            raise _bad(_NOT_MODIFIED)
        payload = {k: v for k, v in message.payload.items() if k not in keys}
        payload.update(new)
        payload["edit_date"] = int(time.time())
        message.payload = payload
        message.edit_count += 1
        return payload

    # -- bot & updates -----------------------------------------------------------------------------

    async def get_me(self, bot: BotState, p: Params) -> JSON:
        return {
            **bot.user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def trivial(self, bot: BotState, p: Params) -> bool:
        return True

    async def set_webhook(self, bot: BotState, p: Params) -> Described:
        url = p.opt_str("url") or ""
        if p.flag("drop_pending_updates"):
            bot.pending.clear()
        if not url:
            had = bool(bot.webhook.url)
            bot.webhook = WebhookState()
            return Described(True, "Webhook was deleted" if had else "Webhook is already deleted")
        secret = p.opt_str("secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise _bad("secret token contains unallowed characters")
        if not url.startswith(("http://", "https://")):
            raise _bad("bad webhook: Failed to resolve host: Name or service not known")
        allowed = p.opt_list("allowed_updates")
        if allowed is not None:
            bot.allowed_updates = [str(a) for a in allowed]
        new = WebhookState(url, secret, p.opt_int("max_connections") or 40)
        same = (bot.webhook.url, bot.webhook.secret_token) == (url, secret)
        bot.webhook = new
        return Described(True, "Webhook is already set" if same else "Webhook was set")

    async def delete_webhook(self, bot: BotState, p: Params) -> Described:
        if p.flag("drop_pending_updates"):
            bot.pending.clear()
        had = bool(bot.webhook.url)
        bot.webhook = WebhookState()
        return Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def get_webhook_info(self, bot: BotState, p: Params) -> JSON:
        hook = bot.webhook
        info: JSON = {"url": hook.url, "has_custom_certificate": False, "pending_update_count": len(bot.pending)}
        if hook.url:
            info["max_connections"] = hook.max_connections
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message or ""
        if bot.allowed_updates:
            info["allowed_updates"] = list(bot.allowed_updates)
        return info

    async def get_updates(self, bot: BotState, p: Params) -> list[JSON]:
        if bot.webhook.url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        allowed = p.opt_list("allowed_updates")
        if allowed is not None:
            bot.allowed_updates = [str(a) for a in allowed]
        bot.confirm(p.opt_int("offset"))
        limit = min(max(p.opt_int("limit") or 100, 1), 100)
        await bot.wait_for_updates(max(p.opt_int("timeout") or 0, 0))
        return bot.pending[:limit]

    # -- messages ----------------------------------------------------------------------------------

    async def send_message(self, bot: BotState, p: Params) -> JSON:
        target = self.target(bot, p)
        return self.store(bot, target, self.text_content(p), p)

    def _media_sender(self, kind: str) -> Handler:
        async def send(bot: BotState, p: Params) -> JSON:
            target = self.target(bot, p)
            caption = self.caption_content(p) if kind != "sticker" else {}
            record = self.input_file(p, kind)
            return self.store(bot, target, {**record.content(kind), **caption}, p)

        return send

    async def send_location(self, bot: BotState, p: Params) -> JSON:
        target = self.target(bot, p)
        latitude, longitude = p.req_float("latitude"), p.req_float("longitude")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise _bad("wrong latitude or longitude specified")
        location: JSON = {"latitude": latitude, "longitude": longitude}
        if p.has("live_period"):
            location["live_period"] = p.req_int("live_period")
        return self.store(bot, target, {"location": location}, p)

    async def send_contact(self, bot: BotState, p: Params) -> JSON:
        target = self.target(bot, p)
        contact: JSON = {"phone_number": p.req_str("phone_number"), "first_name": p.req_str("first_name")}
        for name in ("last_name", "vcard"):
            if p.has(name):
                contact[name] = p.req_str(name)
        return self.store(bot, target, {"contact": contact}, p)

    async def send_chat_action(self, bot: BotState, p: Params) -> bool:
        self.target(bot, p)
        if p.req_str("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def edit_message_text(self, bot: BotState, p: Params) -> JSON:
        message = self.editable(bot, p)
        if "text" not in message.payload:
            raise _bad("there is no text in the message to edit")
        content = self.text_content(p)
        return self.apply_edit(message, ("text", "entities"), content, _inline_markup(p.opt_obj("reply_markup")))

    async def edit_message_caption(self, bot: BotState, p: Params) -> JSON:
        message = self.editable(bot, p)
        if "text" in message.payload or message.is_service:
            raise _bad("there is no caption in the message to edit")
        content = self.caption_content(p)
        markup = _inline_markup(p.opt_obj("reply_markup"))
        return self.apply_edit(message, ("caption", "caption_entities"), content, markup)

    async def edit_message_reply_markup(self, bot: BotState, p: Params) -> JSON:
        message = self.editable(bot, p)
        return self.apply_edit(message, (), {}, _inline_markup(p.opt_obj("reply_markup")))

    async def delete_message(self, bot: BotState, p: Params) -> bool:
        chat = self.chat_for(bot, p.chat_ref(), writing=True)
        message = self.stored_message(chat, p, "message to delete not found")
        del chat.messages[message.payload["message_id"]]
        return True

    def _source(self, bot: BotState, p: Params, missing: str) -> StoredMessage:
        chat = self.chat_for(bot, p.chat_ref("from_chat_id"), writing=False)
        message = self.stored_message(chat, p, missing)
        if message.is_service:
            raise _bad("message can't be copied")
        return message

    async def copy_message(self, bot: BotState, p: Params) -> JSON:
        source = self._source(bot, p, "message to copy not found")
        target = self.target(bot, p)
        content = {k: v for k, v in source.payload.items() if k in _CONTENT_KEYS}
        if "text" not in content and p.has("caption"):
            content = {k: v for k, v in content.items() if k not in ("caption", "caption_entities")}
            content.update(self.caption_content(p))
        return {"message_id": self.store(bot, target, content, p)["message_id"]}

    async def forward_message(self, bot: BotState, p: Params) -> JSON:
        source = self._source(bot, p, "message to forward not found")
        target = self.target(bot, p)
        origin = source.payload.get("forward_origin") or {
            "type": "user",
            "date": source.payload["date"],
            "sender_user": source.payload["from"],
        }
        content = {k: v for k, v in source.payload.items() if k in _CONTENT_KEYS}
        return self.store(bot, target, {"forward_origin": origin, **content}, p)

    # -- files -------------------------------------------------------------------------------------

    async def get_file(self, bot: BotState, p: Params) -> JSON:
        record = self.state.files.get(p.req_str("file_id"))
        if record is None:
            raise _bad("invalid file_id")
        if record.size > DOWNLOAD_LIMIT:
            raise _bad("file is too big")
        return record.as_file()

    # -- forum topics ------------------------------------------------------------------------------

    def _topic(self, bot: BotState, p: Params) -> tuple[ChatState, ForumTopicState]:
        chat = self.chat_for(bot, p.chat_ref(), writing=True)
        if not chat.is_forum:
            raise _bad("the chat is not a forum")
        topic = chat.topics.get(p.req_int("message_thread_id"))
        if topic is None:
            raise _bad("message thread not found")
        return chat, topic

    @staticmethod
    def _service(
        bot: BotState, chat: ChatState, topic: ForumTopicState, content: JSON, message_id: int | None = None
    ) -> None:
        compose_message(chat, bot.user, content, thread_id=topic.thread_id, message_id=message_id)

    async def create_forum_topic(self, bot: BotState, p: Params) -> JSON:
        chat = self.chat_for(bot, p.chat_ref(), writing=True)
        if not chat.is_forum:
            raise _bad("the chat is not a forum")
        name = p.req_str("name")
        if not 1 <= len(name) <= 128:
            raise _bad("TOPIC_TITLE_INVALID")
        color = p.opt_int("icon_color") or _TOPIC_COLORS[0]
        if color not in _TOPIC_COLORS:
            raise _bad("TOPIC_ICON_COLOR_INVALID")
        # A topic's id is the id of its creation service message, which opens the topic.
        topic = ForumTopicState(chat.next_message_id(), name, color, p.opt_str("icon_custom_emoji_id"))
        chat.topics[topic.thread_id] = topic
        created = {k: v for k, v in topic.as_forum_topic().items() if k != "message_thread_id"}
        self._service(bot, chat, topic, {"forum_topic_created": created}, message_id=topic.thread_id)
        return topic.as_forum_topic()

    async def edit_forum_topic(self, bot: BotState, p: Params) -> bool:
        chat, topic = self._topic(bot, p)
        changes: JSON = {}
        name, emoji = p.opt_str("name"), p.opt_str("icon_custom_emoji_id")
        if name is not None and name != topic.name:
            if len(name) > 128:
                raise _bad("TOPIC_TITLE_INVALID")
            topic.name = changes["name"] = name
        if emoji is not None and emoji != (topic.icon_custom_emoji_id or ""):
            topic.icon_custom_emoji_id = changes["icon_custom_emoji_id"] = emoji
        if not changes:
            raise _bad("TOPIC_NOT_MODIFIED")
        self._service(bot, chat, topic, {"forum_topic_edited": changes})
        return True

    async def close_forum_topic(self, bot: BotState, p: Params) -> bool:
        return self._set_closed(bot, p, closed=True)

    async def reopen_forum_topic(self, bot: BotState, p: Params) -> bool:
        return self._set_closed(bot, p, closed=False)

    def _set_closed(self, bot: BotState, p: Params, *, closed: bool) -> bool:
        chat, topic = self._topic(bot, p)
        if topic.closed == closed:
            raise _bad("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        self._service(bot, chat, topic, {"forum_topic_closed" if closed else "forum_topic_reopened": {}})
        return True

    async def delete_forum_topic(self, bot: BotState, p: Params) -> bool:
        chat, topic = self._topic(bot, p)
        del chat.topics[topic.thread_id]
        chat.messages = {i: m for i, m in chat.messages.items() if m.thread_id != topic.thread_id}
        return True

    # -- commands ----------------------------------------------------------------------------------

    def command_key(self, bot: BotState, p: Params) -> tuple[str, str]:
        scope = p.opt_obj("scope") or {"type": "default"}
        kind = scope.get("type")
        key: JSON = {"type": kind}
        if kind in ("chat", "chat_administrators", "chat_member"):
            ref = scope.get("chat_id")
            if not isinstance(ref, int | str):
                raise _bad("chat_id is empty")
            key["chat_id"] = self.chat_for(bot, ref, writing=False).id
            if kind == "chat_member":
                key["user_id"] = int(scope.get("user_id") or 0)
        elif kind not in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            raise _bad("wrong bot command scope type specified")
        return json.dumps(key, sort_keys=True), p.opt_str("language_code") or ""

    async def set_my_commands(self, bot: BotState, p: Params) -> bool:
        commands = p.opt_list("commands") or []
        if len(commands) > 100:
            raise _bad("too many commands")
        clean: list[JSON] = []
        for item in commands:
            if not isinstance(item, dict) or not _COMMAND_NAME.fullmatch(str(item.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            description = str(item.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": item["command"], "description": description})
        key = self.command_key(bot, p)
        if clean:
            bot.commands[key] = clean
        else:
            bot.commands.pop(key, None)
        return True

    async def get_my_commands(self, bot: BotState, p: Params) -> list[JSON]:
        return list(bot.commands.get(self.command_key(bot, p), []))

    async def delete_my_commands(self, bot: BotState, p: Params) -> bool:
        bot.commands.pop(self.command_key(bot, p), None)
        return True

    # -- callbacks, chats --------------------------------------------------------------------------

    async def answer_callback_query(self, bot: BotState, p: Params) -> bool:
        query = bot.callback_queries.get(p.req_str("callback_query_id"))
        if query is None or query.answer is not None:
            raise _bad(_MISSING_MESSAGES["callback_query_id"])
        text = p.opt_str("text") or ""
        if len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query.answer = {
            "text": text,
            "show_alert": p.flag("show_alert"),
            "url": p.opt_str("url"),
            "cache_time": p.opt_int("cache_time") or 0,
        }
        return True

    async def get_chat(self, bot: BotState, p: Params) -> JSON:
        ref = p.chat_ref()
        if isinstance(ref, int) and ref > 0 and ref not in bot.private_chats and ref in self.state.users:
            chat = private_chat_object(self.state.users[ref])  # a user the bot has seen, no chat yet
        else:
            chat = self.chat_for(bot, ref, writing=False).chat
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(
                ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"),
                False,
            ),
        }

    async def get_chat_member(self, bot: BotState, p: Params) -> JSON:
        chat = self.chat_for(bot, p.chat_ref(), writing=False)
        user_id = p.req_int("user_id")
        bot_users = {b.id: b.user for b in self.state.bots.values()}
        if chat.is_private:
            if user_id == chat.id:
                return _chat_member(self.state.users[user_id], "member")
            if user_id == bot.id:
                return _chat_member(bot.user, "kicked" if chat.id in bot.blocked else "member")
            raise _bad("user not found")
        if user_id in bot_users:
            return _chat_member(bot_users[user_id], "administrator")
        user = self.state.users.get(user_id)
        if user is None:
            raise _bad("user not found")
        if user_id == chat.owner_id:
            return _chat_member(user, "creator")
        return _chat_member(user, "member" if user_id in chat.members else "left")


# --------------------------------------------------------------------------------------------------
# Failure injection
# --------------------------------------------------------------------------------------------------


@dataclass
class FailureRule:
    method: str
    status: int | None
    remaining: int
    retry_after: int | None = None
    description: str | None = None
    chat_id: str | None = None
    delay: float | None = None
    token: str | None = None

    def matches(self, token: str, method: str, params: Mapping[str, Any]) -> bool:
        if self.remaining <= 0 or self.method != method.lower():
            return False
        if self.token is not None and self.token != token:
            return False
        return self.chat_id is None or str(params.get("chat_id")) == self.chat_id

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        description = self.description
        if description is None and self.status == 429:
            description = f"Too Many Requests: retry after {self.retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(self.status, "Error")
        return ApiError(self.status, description, retry_after=self.retry_after)


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------


class TelegramSandbox:
    """In-process Telegram Bot API emulator (HTTP server, state, recording, failures, updates).

    Usage::

        async with TelegramSandbox() as tg:
            tg.add_bot("123456:ABC", "support_bot")
            bot = Bot("123456:ABC", session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    """

    def __init__(self, *, record_calls: bool = True, webhook_timeout: float = 10.0) -> None:
        self.state = SandboxState()
        self.api = BotApi(self.state)
        self.record_calls = record_calls
        self.webhook_timeout = webhook_timeout
        self.calls: list[SandboxCall] = []
        self._failures: list[FailureRule] = []
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._client: ClientSession | None = None
        self.app = self._build_app()

    # -- server ------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", r"/bot{token:[^/]+}/{method:[^/]*}", self._handle_api)
        app.router.add_get(r"/file/bot{token:[^/]+}/{path:.+}", self._handle_file)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0 picks a free port; see :attr:`base_url`)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        for bot in self.state.bots.values():
            bot.closing = False

    async def stop(self) -> None:
        """Stop serving; long polls return at once, in-flight delayed calls are cancelled."""
        for bot in self.state.bots.values():
            bot.closing = True
            bot.wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> TelegramSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("sandbox is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base(base_url)`` / ``TELEGRAM_API_URL``."""
        return f"http://{self._host}:{self.port}"

    async def _handle_api(self, request: web.Request) -> web.Response:
        token, raw_method = request.match_info["token"], request.match_info["method"]
        call, body = await self._execute(token, raw_method, lambda: read_params(request))
        return web.json_response(body, status=call.status, dumps=_dumps)

    async def _execute(
        self, token: str, raw_method: str, load_params: Callable[[], Awaitable[JSON]]
    ) -> tuple[SandboxCall, JSON]:
        """Run one Bot API call (HTTP request or webhook reply): failures, validation, recording."""
        bot = self.state.bots.get(token)
        method = self.api.methods.get(raw_method.lower())
        name = method.name if method is not None else raw_method
        params: JSON = {}
        status, result, description = 200, None, None
        try:
            if bot is None:
                raise ApiError(401, "Unauthorized")
            if method is None:
                raise ApiError(404, "Not Found: method not found")
            params = await load_params()
            await self._inject_failure(token, name, params)
            p = Params(params)
            p.require(method.required)
            outcome = await method.handler(bot, p)
            if isinstance(outcome, Described):
                result, description = outcome.result, outcome.description
                body: JSON = {"ok": True, "result": result, "description": description}
            else:
                result, body = outcome, {"ok": True, "result": outcome}
        except ApiError as error:
            status, description, body = error.status, error.description, error.payload()
        call = SandboxCall(token, name, params, time.time(), status, result, description)
        if self.record_calls:
            self.calls.append(call)
        return call, body

    async def _handle_file(self, request: web.Request) -> web.Response:
        token, path = request.match_info["token"], request.match_info["path"]
        record = self.state.files_by_path.get(path)
        if token not in self.state.bots:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        if record is None or record.size > DOWNLOAD_LIMIT:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=record.read(), content_type=record.mime_type or "application/octet-stream")

    # -- world -------------------------------------------------------------------------------------

    def add_bot(self, token: str, username: str, first_name: str = "Sandbox Bot") -> JSON:
        """Register a bot; its id is the number before the token's colon. Returns its User."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError("token must look like '123456:ABC-DEF…'")
        user = {"id": int(match.group(1)), "is_bot": True, "first_name": first_name, "username": username}
        self.state.bots[token] = BotState(token, user)
        return user

    def bot_user(self, token: str) -> JSON:
        return self.state.bot(token).user

    def user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """Create (or replace) a Telegram user; returns its User object."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        optional = {"last_name": last_name, "username": username, "language_code": language_code}
        user.update({k: v for k, v in optional.items() if v is not None})
        self.state.users[user_id] = user
        return user

    def group(
        self,
        chat_id: int,
        title: str,
        *,
        members: Iterable[UserRef] = (),
        forum: bool = False,
        username: str | None = None,
        owner: UserRef | None = None,
        chat_type: Literal["group", "supergroup"] = "supergroup",
    ) -> JSON:
        """Create a group chat (every registered bot is its administrator). Returns its Chat."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative (supergroups: -100…)")
        if forum and chat_type != "supergroup":
            raise ValueError("only supergroups can be forums")
        chat: JSON = {"id": chat_id, "title": title, "type": chat_type}
        if username:
            chat["username"] = username
        if forum:
            chat["is_forum"] = True
        member_ids = [self.state.resolve_user(m)["id"] for m in members]
        owner_id = self.state.resolve_user(owner)["id"] if owner is not None else None
        if owner_id is not None:
            member_ids.append(owner_id)
        self.state.groups[chat_id] = ChatState(chat, member_ids, owner_id)
        return chat

    def forum_group(self, chat_id: int, title: str, members: Iterable[UserRef] = (), **kwargs: Any) -> JSON:
        """Create a forum supergroup (topics enabled) — a Telegram desk."""
        return self.group(chat_id, title, members=members, forum=True, **kwargs)

    def register_file(
        self,
        data: bytes | None = None,
        *,
        kind: str = "document",
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        **attributes: Any,
    ) -> FileRecord:
        """A file a user can send (:meth:`media_update`). Give ``size`` alone for a big fake file."""
        return self.state.add_file(kind, data=data, size=size, file_name=file_name, mime_type=mime_type, **attributes)

    def open_private_chat(self, token: str, user: UserRef) -> JSON:
        """As if ``user`` pressed Start: the bot may now write to them. Returns the Chat."""
        return self.state.private_chat(self.state.bot(token), self.state.resolve_user(user)).chat

    # -- failures & blocking -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int | None = None,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | str | None = None,
        delay: float | None = None,
        token: str | None = None,
    ) -> FailureRule:
        """Make the next ``count`` calls of ``method`` (optionally only to ``chat_id`` / for one bot)
        answer ``status`` — or, with ``delay``, hang that long first (then answer ``status`` if given,
        else normally)."""
        if status is None and delay is None:
            raise ValueError("give a status, a delay or both")
        if status == 429 and retry_after is None:
            retry_after = 1
        rule = FailureRule(
            method.lower(),
            status,
            count,
            retry_after,
            description,
            None if chat_id is None else str(chat_id),
            delay,
            token,
        )
        self._failures.append(rule)
        return rule

    def clear_failures(self) -> None:
        self._failures.clear()

    async def _inject_failure(self, token: str, method: str, params: Mapping[str, Any]) -> None:
        rule = next((r for r in self._failures if r.matches(token, method, params)), None)
        if rule is None:
            return
        rule.remaining -= 1
        if rule.remaining <= 0:
            self._failures.remove(rule)
        if rule.delay:
            await asyncio.sleep(rule.delay)
        error = rule.error()
        if error is not None:
            raise error

    def block_user(self, bot_token: str, user_id: int) -> None:
        """From now on writing to this user's private chat answers 403 "bot was blocked by the user"."""
        self.state.bot(bot_token).blocked.add(user_id)

    def unblock_user(self, bot_token: str, user_id: int) -> None:
        self.state.bot(bot_token).blocked.discard(user_id)

    # -- recording & what each party sees ----------------------------------------------------------

    def calls_of(self, method: str, token: str | None = None) -> list[SandboxCall]:
        method = method.lower()
        return [c for c in self.calls if c.method.lower() == method and (token is None or c.token == token)]

    def clear_calls(self) -> None:
        self.calls.clear()

    def chat_messages(self, token: str, chat_id: int, thread_id: int | None = None) -> list[JSON]:
        """Current messages of a chat (or one forum topic), edits applied, deleted ones gone."""
        chat = self.state.chat(self.state.bot(token), chat_id)
        if chat is None:
            return []
        return [m.view() for m in chat.visible(thread_id)]

    def topics(self, chat_id: int) -> list[JSON]:
        """Forum topics of a group with their state (``closed``)."""
        chat = self.state.groups[chat_id]
        return [{**t.as_forum_topic(), "closed": t.closed} for t in chat.topics.values()]

    def callback_answer(self, token: str, query_id: str) -> JSON | None:
        query = self.state.bot(token).callback_queries.get(query_id)
        return None if query is None else query.answer

    def commands(self, token: str, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list[JSON]:
        bot = self.state.bot(token)
        values: JSON = {"scope": dict(scope)} if scope else {}
        if language_code:
            values["language_code"] = language_code
        return list(bot.commands.get(self.api.command_key(bot, Params(values)), []))

    def webhook(self, token: str) -> WebhookState:
        return self.state.bot(token).webhook

    def pending_updates(self, token: str) -> list[JSON]:
        return list(self.state.bot(token).pending)

    # -- inbound: update builders ------------------------------------------------------------------

    def _chat_of(self, bot: BotState, user: JSON, chat: ChatRef | None) -> ChatState:
        if chat is None:
            bot.blocked.discard(user["id"])  # writing to the bot means the user unblocked it
            return self.state.private_chat(bot, user)
        chat_id = chat if isinstance(chat, int) else int(chat["id"])
        found = self.state.chat(bot, chat_id)
        if found is None:
            raise KeyError(f"unknown chat {chat_id}; create it with group()/forum_group()")
        found.members.add(user["id"])
        return found

    def _find_message(self, bot: BotState, message: MessageRef, chat_id: int | None) -> tuple[ChatState, StoredMessage]:
        if isinstance(message, int):
            message_id = message
        elif isinstance(message, Mapping):
            message_id, chat_id = int(message["message_id"]), int(message["chat"]["id"])
        else:
            message_id, chat_id = message.message_id, message.chat.id
        if chat_id is None:
            raise ValueError("give chat_id with a bare message id")
        chat = self.state.chat(bot, chat_id)
        stored = chat.find(message_id) if chat is not None else None
        if chat is None or stored is None:
            raise KeyError(f"message {message_id} not found in chat {chat_id}")
        return chat, stored

    def message_update(
        self,
        token: str,
        user: UserRef,
        content: Mapping[str, Any],
        *,
        chat: ChatRef | None = None,
        thread_id: int | None = None,
        reply_to: MessageRef | None = None,
    ) -> JSON:
        """A ``message`` update with any content (stored in the chat, so it gets a message id)."""
        bot = self.state.bot(token)
        sender = self.state.resolve_user(user)
        chat_state = self._chat_of(bot, sender, chat)
        if thread_id is not None and thread_id not in chat_state.topics:
            raise KeyError(f"no topic {thread_id} in chat {chat_state.id}")
        replied = None
        if reply_to is not None:
            replied = self._find_message(bot, reply_to, chat_state.id)[1]
            thread_id = thread_id if thread_id is not None else replied.thread_id
        stored = compose_message(chat_state, sender, dict(content), thread_id=thread_id, reply_to=replied)
        return {"update_id": bot.next_update_id(), "message": stored.payload}

    def text_update(
        self,
        token: str,
        user: UserRef,
        text: str,
        *,
        chat: ChatRef | None = None,
        thread_id: int | None = None,
        reply_to: MessageRef | None = None,
    ) -> JSON:
        """The user writes ``text`` (private chat by default, or a group / forum topic)."""
        content: JSON = {"text": text}
        if entities := command_entities(text):
            content["entities"] = entities
        return self.message_update(token, user, content, chat=chat, thread_id=thread_id, reply_to=reply_to)

    def media_update(
        self,
        token: str,
        user: UserRef,
        file: FileRecord | str,
        *,
        kind: str | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
        thread_id: int | None = None,
        reply_to: MessageRef | None = None,
    ) -> JSON:
        """The user sends a photo/document/voice/video/sticker (see :meth:`register_file`)."""
        record = file if isinstance(file, FileRecord) else self.state.files[file]
        content = record.content(kind)
        if caption:
            content["caption"] = caption
        return self.message_update(token, user, content, chat=chat, thread_id=thread_id, reply_to=reply_to)

    def edited_text_update(
        self, token: str, user: UserRef, message: MessageRef, text: str, *, chat_id: int | None = None
    ) -> JSON:
        """The user edits one of their text messages."""
        bot = self.state.bot(token)
        sender = self.state.resolve_user(user)
        _, stored = self._find_message(bot, message, chat_id if chat_id is not None else sender["id"])
        if stored.sender_id != sender["id"] or "text" not in stored.payload:
            raise ValueError("users can only edit their own text messages")
        content: JSON = {"text": text}
        if entities := command_entities(text):
            content["entities"] = entities
        payload = BotApi.apply_edit(stored, ("text", "entities"), content, stored.payload.get("reply_markup"))
        return {"update_id": bot.next_update_id(), "edited_message": payload}

    def callback_update(
        self, token: str, user: UserRef, data: str, message: MessageRef, *, chat_id: int | None = None
    ) -> JSON:
        """The user presses an inline button with ``data`` under ``message`` (current state)."""
        bot = self.state.bot(token)
        sender = self.state.resolve_user(user)
        chat, stored = self._find_message(bot, message, chat_id if chat_id is not None else sender["id"])
        query_id = self.state.next_callback_id(bot)
        bot.callback_queries[query_id] = CallbackQueryState(query_id, sender["id"])
        query = {
            "id": query_id,
            "from": sender,
            "message": stored.payload,
            "chat_instance": _chat_instance(bot.id, chat.id),
            "data": data,
        }
        return {"update_id": bot.next_update_id(), "callback_query": query}

    def my_chat_member_update(
        self, token: str, user: UserRef, old_status: str, new_status: str, *, chat: ChatRef | None = None
    ) -> JSON:
        """The bot's membership changes; in a private chat "kicked" means the user blocked the bot
        (and the sandbox then answers 403 to sends), "member" that they unblocked it."""
        bot = self.state.bot(token)
        sender = self.state.resolve_user(user)
        chat_state = self._chat_of(bot, sender, chat)
        if chat_state.is_private:
            if new_status == "kicked":
                bot.blocked.add(sender["id"])
            elif new_status == "member":
                bot.blocked.discard(sender["id"])
        member = {
            "chat": chat_state.chat,
            "from": sender,
            "date": int(time.time()),
            "old_chat_member": _chat_member(bot.user, old_status),
            "new_chat_member": _chat_member(bot.user, new_status),
        }
        return {"update_id": bot.next_update_id(), "my_chat_member": member}

    # -- inbound: delivery -------------------------------------------------------------------------

    def _http(self) -> ClientSession:
        if self._client is None or self._client.closed:
            self._client = ClientSession(timeout=ClientTimeout(total=self.webhook_timeout))
        return self._client

    async def post_update(self, url: str, update: Mapping[str, Any], secret: str | None = None) -> tuple[int, str]:
        """POST any update JSON (a fixture, a forged request…) to a webhook url, as Telegram would."""
        status, text, _ = await self._post(url, update, secret)
        return status, text

    async def _post(self, url: str, update: Mapping[str, Any], secret: str | None) -> tuple[int, str, JSON | None]:
        """POST an update; also returns a Bot API call carried in the reply body, if any."""
        headers: dict[str, str] = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        async with self._http().post(url, data=_dumps(update), headers=headers) as response:
            if response.status == 200 and response.content_type == "multipart/form-data":
                raw: JSON = {}
                uploads: dict[str, Upload] = {}
                await read_parts(MultipartReader.from_response(response), raw, uploads)
                return response.status, "", coerce_params(raw, uploads)
            text = await response.text()
            if response.status == 200 and response.content_type == "application/json":
                try:
                    reply = json.loads(text)
                except ValueError:
                    reply = None
                if isinstance(reply, dict) and reply.get("method"):
                    return response.status, text, coerce_params(reply)
            return response.status, text, None

    async def deliver(self, token: str, update: JSON) -> DeliveryResult:
        """Deliver an update the way Telegram would: to the webhook if one is set, else into the
        getUpdates queue (waking long pollers). Types outside allowed_updates are dropped."""
        bot = self.state.bot(token)
        update_id = update.get("update_id")
        if not bot.allows(_update_type(update)):
            return DeliveryResult(update_id, "filtered")
        hook = bot.webhook
        if not hook.url:
            bot.enqueue(update)
            return DeliveryResult(update_id, "queue")
        try:
            status, body, reply = await self._post(hook.url, update, hook.secret_token)
        except (ClientError, TimeoutError) as error:
            hook.last_error_date = int(time.time())
            hook.last_error_message = str(error) or type(error).__name__
            return DeliveryResult(update_id, "webhook", error=hook.last_error_message)
        if not 200 <= status < 300:
            hook.last_error_date = int(time.time())
            hook.last_error_message = f"Wrong response from the webhook: {status}"
        reply_call = None
        if reply is not None:  # "webhook reply": Telegram executes a method given in the response
            method = str(reply.pop("method"))
            reply_call, _ = await self._execute(token, method, lambda: _ready(reply))
        return DeliveryResult(update_id, "webhook", status, body, reply=reply_call)


async def _ready(params: JSON) -> JSON:
    return params


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
