"""A refused action, told to the operator who tried it: one error handler for the whole desk.

A handler declares how its refusals read with the flag `refused` (the words before the reason, e.g.
`flags={REFUSED: "Not closed"}`); an inner middleware carries that on the refusal (as a `DeskRefusal`)
and the `errors` handler replies to the message, or answers the button press with an alert."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, TelegramObject

from adapters.telegram.desk.replies import answer
from core.errors import Refusal

REFUSED = "refused"
"""Handler flag: the words before a refusal's reason in the reply ("Not closed" → "Not closed: …")."""


def tampered() -> Refusal:
    return Refusal("This button is not valid (stale or tampered with).", "tampered")


def not_operator() -> Refusal:
    return Refusal("You are not a linedesk operator.", "not_operator")


class DeskRefusal(Refusal):
    """A refusal raised by a desk handler, with the words its reply starts with."""

    def __init__(self, refusal: Refusal, prefix: str):
        super().__init__(refusal.reason, refusal.code)
        self.prefix = prefix

    @property
    def told(self) -> str:
        return f"{self.prefix}: {self.reason}" if self.prefix else self.reason


class MarkRefusals(BaseMiddleware):
    """Inner middleware: a `Refusal` out of a handler becomes a `DeskRefusal` worded by the handler's flag."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except DeskRefusal:
            raise
        except Refusal as refusal:
            raise DeskRefusal(refusal, str(get_flag(data, REFUSED, default=""))) from refusal


async def on_refusal(event: ErrorEvent) -> Any:
    refusal = event.exception
    assert isinstance(refusal, DeskRefusal)
    update = event.update
    if update.callback_query is not None:
        return await answer(update.callback_query, refusal.told, alert=True)
    if update.message is not None:
        return await update.message.reply(refusal.told)
    raise refusal  # no other update carries desk refusals


def build() -> Router:
    router = Router(name="telegram-desk-errors")
    router.errors.register(on_refusal, ExceptionTypeFilter(DeskRefusal))
    return router
