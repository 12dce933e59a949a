"""Builders of inbound ``Update`` dicts (a user writes, edits, presses a button, blocks the bot)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .formatting import command_entities
from .payloads import _chat_instance, _chat_member, compose_message
from .records import JSON, ChatRef, FileRecord, MessageRef, UserRef
from .routes import BotApi
from .state import BotState, CallbackQueryState, ChatState, SandboxState, StoredMessage


class UpdateBuilders:
    """The inbound side: ``Update`` dicts built from users' actions, stored in :attr:`state` as
    Telegram would store them (mixed into :class:`TelegramSandbox`)."""

    state: SandboxState

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
