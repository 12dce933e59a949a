"""The Telegram desk, inbound: operators in a line's forum group (and `/status`, `/sessions` in a
private chat with a line's bot).

In a session's topic an operator's message goes to the client (`//` notes stay internal) unless a
form of theirs is open there, in which case it answers the form. Commands: /status, /startprocess,
/close, /transfer NAME|queue, /processes, /reply [ID], /transcript [client], /history, /spam, /unspam,
/sessions (also in a private chat with the bot), /cancel, /autostart (admins). Every button payload is
re-checked here and in core: the button's topic must be the session it names, the process must resolve
in the catalog, the clicker must be allowed to do it.

One router per concern, composed by `desk_router`; `middleware.DeskContext` resolves the operator and
the topic's session once per update; a refused action reaches the operator through the one error
handler in `errors`.
"""

from __future__ import annotations

from aiogram import Router

from adapters.telegram.desk import (
    admin,
    cards,
    commands,
    control,
    errors,
    forms,
    picker,
    saved_replies,
    topics,
    transcripts,
    transfer,
)
from adapters.telegram.desk.commands import register_commands
from adapters.telegram.desk.errors import MarkRefusals
from adapters.telegram.desk.middleware import Desk, DeskContext, for_the_desk
from core.config import Config

__all__ = ["desk_router", "register_commands"]


def desk_router(config: Config) -> Router:
    """The desk's routers, in the order they are tried: commands before the topic's plain messages,
    the unknown-button answer last. Built per dispatcher (an aiogram router has one parent)."""
    desk = Desk.of(config)
    router = Router(name="telegram-desk")
    router.message.outer_middleware(DeskContext(desk))
    router.message.filter(for_the_desk)
    router.edited_message.outer_middleware(DeskContext(desk, with_session=False))
    router.callback_query.outer_middleware(DeskContext(desk))
    router.message.middleware(MarkRefusals())
    router.callback_query.middleware(MarkRefusals())
    router.include_routers(
        commands.build(),
        transfer.build(),
        control.build(),
        transcripts.build(),
        picker.build(),
        admin.build(),
        saved_replies.build(),
        forms.build(),
        topics.build(),
        cards.build(),
        cards.fallback(),
        errors.build(),
    )
    return router
