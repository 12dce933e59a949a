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

Modules: ``records`` (errors, value types, the Bot API's limits), ``state`` (what is stored), ``params``
(request parameters), ``formatting`` (``parse_mode``), ``payloads`` (Message, Chat, ChatMember JSON),
``targets`` (a call's chat, thread, reply and file resolved), ``routes`` (the Bot API methods), ``updates``
(inbound Update builders), ``server`` (:class:`TelegramSandbox`: HTTP, recording, failure injection, delivery).
"""

from .formatting import command_entities, format_text
from .params import ParamKind, Params, coerce_params, read_params, read_parts
from .payloads import compose_message
from .records import (
    DOWNLOAD_LIMIT,
    JSON,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    UPLOAD_LIMIT,
    ApiError,
    ChatRef,
    DeliveryResult,
    FileRecord,
    MessageLike,
    MessageRef,
    SandboxCall,
    Upload,
    UserRef,
    utf16_len,
)
from .routes import ApiMethod, BotApi, Described, Handler
from .server import FailureRule, TelegramSandbox
from .state import (
    BotState,
    CallbackQueryState,
    ChatState,
    ForumTopicState,
    SandboxState,
    StoredMessage,
    WebhookState,
    private_chat_object,
)
from .targets import Targets
from .updates import UpdateBuilders

__all__ = [
    "DOWNLOAD_LIMIT",
    "JSON",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "UPLOAD_LIMIT",
    "ApiError",
    "ApiMethod",
    "BotApi",
    "BotState",
    "CallbackQueryState",
    "ChatRef",
    "ChatState",
    "DeliveryResult",
    "Described",
    "FailureRule",
    "FileRecord",
    "ForumTopicState",
    "Handler",
    "MessageLike",
    "MessageRef",
    "ParamKind",
    "Params",
    "SandboxCall",
    "SandboxState",
    "StoredMessage",
    "Targets",
    "TelegramSandbox",
    "UpdateBuilders",
    "Upload",
    "UserRef",
    "WebhookState",
    "coerce_params",
    "command_entities",
    "compose_message",
    "format_text",
    "private_chat_object",
    "read_params",
    "read_parts",
    "utf16_len",
]
