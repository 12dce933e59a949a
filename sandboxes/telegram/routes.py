"""The Bot API methods the sandbox answers, implemented on :class:`SandboxState`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .albums import Albums
from .params import Params
from .payloads import _chat_member, _inline_markup, compose_message
from .records import (
    _CHAT_ACTIONS,
    _COMMAND_NAME,
    _CONTENT_KEYS,
    _MEDIA_KINDS,
    _MISSING_MESSAGES,
    _SECRET,
    _TOPIC_COLORS,
    DOWNLOAD_LIMIT,
    JSON,
    ApiError,
    _bad,
)
from .state import BotState, ChatState, ForumTopicState, SandboxState, StoredMessage, WebhookState, private_chat_object


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


class BotApi(Albums):
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
            m("copyMessages", ("chat_id", "from_chat_id", "message_ids"), self.copy_messages),
            m("sendMediaGroup", ("chat_id", "media"), self.send_media_group),
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
