"""Builders of the Bot API's Message, Chat and ChatMember JSON."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from .records import _MEMBER_STATUSES, JSON, _bad
from .state import ChatState, StoredMessage


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
