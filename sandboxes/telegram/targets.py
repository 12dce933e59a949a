"""How a Bot API call's chat, thread, reply target, input file and message are resolved, and how sent
content is checked and stored: the base of :class:`BotApi`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from .formatting import format_text
from .params import Params
from .payloads import _inline_markup, compose_message
from .records import (
    _NOT_MODIFIED,
    JSON,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    FileRecord,
    Upload,
    _bad,
    _forbidden,
    utf16_len,
)
from .state import BotState, ChatState, SandboxState, StoredMessage


@dataclass
class _Target:
    chat: ChatState
    thread_id: int | None
    reply_to: StoredMessage | None


class Targets:
    """Resolution helpers shared by the Bot API methods (:class:`BotApi` sets :attr:`state`)."""

    state: SandboxState

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
        return self.file_record(p.values.get(name), name, p)

    def file_record(self, value: object, name: str, p: Params) -> FileRecord:
        """The file a parameter (or an album item's "media", ``p`` then the item) names: an upload becomes a new
        file of kind ``name``, a string is a file_id (or an URL, not fetched)."""
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
