"""What a Bot API call costs against Telegram's rate limits (:mod:`sandboxes.limits`).

Every message a call creates in a chat counts once against that chat (a private chat's burst bucket, or a
group's per-minute window: a forum group's topics share it) and once against the bot's per-second window:
``send*`` (not ``sendChatAction``), ``copyMessage``, ``forwardMessage`` and ``createForumTopic`` (its service
message) one each; ``copyMessages``, ``forwardMessages`` and ``sendMediaGroup`` one per message they create.
Any other call (edits, deletes, callback answers, getters) counts once against the bot only; ``getUpdates``
(receiving, not sending) counts nowhere.
"""

from __future__ import annotations

from ..limits import TELEGRAM_BOT, TELEGRAM_GROUP, TELEGRAM_PRIVATE, Charge, Limits
from .params import Params
from .state import SandboxState

_SINGLE_SENDS = frozenset({"copymessage", "forwardmessage", "createforumtopic"})
_NOT_SENDS = frozenset({"sendchataction"})
_MULTI_SENDS = {"copymessages": "message_ids", "forwardmessages": "message_ids", "sendmediagroup": "media"}
"""Methods creating one message per item of a list parameter."""
_UNCOUNTED = frozenset({"getupdates"})


def messages_created(method: str, p: Params) -> int:
    """How many chat messages a successful call of ``method`` creates (0: it is not a send)."""
    name = method.lower()
    if name in _MULTI_SENDS:
        items = p.values.get(_MULTI_SENDS[name])
        return max(1, len(items)) if isinstance(items, list) else 1
    if name in _SINGLE_SENDS or (name.startswith("send") and name not in _NOT_SENDS):
        return 1
    return 0


def _chat_id(state: SandboxState, p: Params) -> int | None:
    """The chat a send goes to, without side effects; None when it cannot be resolved (the call fails anyway)."""
    ref = p.values.get("chat_id")
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str) and ref.startswith("@"):
        return next((g.id for g in state.groups.values() if f"@{g.chat.get('username')}" == ref), None)
    return None


def send_charges(limits: Limits, token: str, chat_id: int | None, messages: int) -> list[Charge]:
    """The buckets ``messages`` new messages from the bot ``token`` into ``chat_id`` are charged to (``messages``
    0: a call that sends nothing, charged once to the bot; ``chat_id`` None: a chat not known)."""
    charges: list[Charge] = []
    if limits.telegram_bot is not None:
        charges.append(Charge(TELEGRAM_BOT, token, limits.telegram_bot, max(messages, 1)))
    if not messages or chat_id is None:
        return charges
    if chat_id > 0 and limits.telegram_private is not None:
        charges.append(Charge(TELEGRAM_PRIVATE, (token, chat_id), limits.telegram_private, messages))
    elif chat_id < 0 and limits.telegram_group is not None:
        charges.append(Charge(TELEGRAM_GROUP, (token, chat_id), limits.telegram_group, messages))
    return charges


def telegram_charges(limits: Limits, state: SandboxState, token: str, method: str, p: Params) -> list[Charge]:
    """The buckets a call of ``method`` by the bot ``token`` is charged to, with their costs."""
    if method.lower() in _UNCOUNTED:
        return []
    created = messages_created(method, p)
    return send_charges(limits, token, _chat_id(state, p) if created else None, created)
