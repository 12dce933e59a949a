"""What the Telegram sandbox stores: bots, chats, messages, forum topics, files, webhooks, update queues."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .records import _CONTENT_KEYS, _FILE_KINDS, _OPT_IN_UPDATES, JSON, ApiError, FileRecord, UserRef


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
        self._album_seq = itertools.count(1)

    def new_media_group_id(self) -> str:
        """A new album's ``media_group_id`` (a positive 64-bit number's decimal text, as Telegram's)."""
        return str(13_000_000_000_000_000 + next(self._album_seq))

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
        if kind not in _FILE_KINDS:
            raise ValueError(f"kind must be one of {_FILE_KINDS}")
        n = next(self._file_seq)
        folder, ext = {
            "photo": ("photos", ".jpg"),
            "document": ("documents", ""),
            "voice": ("voice", ".oga"),
            "video": ("videos", ".mp4"),
            "sticker": ("stickers", ".webp"),
            "audio": ("music", ".mp3"),
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


def private_chat_object(user: Mapping[str, Any]) -> JSON:
    """The Chat object of a user's private chat with a bot."""
    names = {k: user[k] for k in ("first_name", "last_name", "username") if user.get(k)}
    return {"id": user["id"], "type": "private", **names}
