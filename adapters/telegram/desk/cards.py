"""The session card's buttons in a topic: Take, Close, Start process, Transfer, Spam / Not spam."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message

from adapters.telegram.desk.control import show_instances
from adapters.telegram.desk.errors import tampered
from adapters.telegram.desk.middleware import Services, Topic, pressed_in, required
from adapters.telegram.desk.picker import show_picker
from adapters.telegram.desk.replies import answer
from adapters.telegram.desk.transfer import show_transfer_menu
from adapters.telegram.desk_cards import TELEGRAM_CARD, SessionAction, card_view
from core.config import OperatorConfig
from core.model import Session

log = logging.getLogger(__name__)


async def on_session_button(
    query: CallbackQuery,
    callback_data: SessionAction,
    services: Services,
    session: Session | None,
    topic: Topic | None,
    operator: OperatorConfig | None,
) -> Any:
    number = pressed_in(session, callback_data.session).number
    operator = required(operator)
    assert topic is not None  # a session was found in it
    sessions = services.sessions
    action = callback_data.action
    if action == "take":
        changed = await sessions.take(number, operator.id)
        await answer(query, f"You took session #{number}.")
        return await redraw(query, services, changed)
    if action == "close":
        changed = await sessions.close(number, operator.name, operator_id=operator.id)
        await answer(query, f"Session #{number} closed.")
        return await redraw(query, services, changed)
    if action == "start":
        await show_picker(services, topic, number, operator)
        return await answer(query, "Choose a process below.")
    if action == "transfer":
        await show_transfer_menu(services, topic, number, operator)
        return await answer(query, "Choose below who takes it over.")
    if action == "processes":
        await show_instances(services, topic, number, operator)
        return await answer(query, "The session's processes are below.")
    if action == "spam":
        changed = await sessions.mark_spam(number, operator.id)
        await answer(query, f"Session #{number} marked as spam.")
        return await redraw(query, services, changed)
    if action == "unspam":
        changed = await sessions.unmark_spam(number, operator.id)
        await answer(query, f"Session #{number} is no longer marked as spam.")
        return await redraw(query, services, changed)
    raise tampered()


async def redraw(query: CallbackQuery, services: Services, session: Session) -> None:
    """The clicked card shows the click's outcome at once (SPEC §13), not after the desk's queue: an edit counts
    against the bot only, not the group's per-minute window. The outbox's refresh still follows (it redraws the
    other desk, and this card again should this edit fail)."""
    message = query.message
    if not isinstance(message, Message):
        return
    cards = services.cards
    async with cards.drawing(TELEGRAM_CARD, session.number):
        # the session as it is now: a refresh of a later change may have drawn the card meanwhile
        session = await services.store.get_session(session.number) or session
        text, keyboard = card_view(await cards.facts(session))
        if cards.shows(TELEGRAM_CARD, session.number, (text, keyboard)):
            return  # the outbox's refresh came first
        try:
            await message.edit_text(text, reply_markup=keyboard)
        except TelegramAPIError as err:
            if "not modified" not in str(err).lower():
                log.warning("card of session #%s not redrawn from the click: %s", session.number, err)
                return
        cards.drawn(TELEGRAM_CARD, session.number, (text, keyboard))


async def on_unknown_button(query: CallbackQuery) -> Any:
    return await answer(query, tampered().reason, alert=True)


def build() -> Router:
    router = Router(name="telegram-desk-cards")
    router.callback_query.register(on_session_button, SessionAction.filter())
    return router


def fallback() -> Router:
    """Last of the desk's routers: a button nobody above recognised."""
    router = Router(name="telegram-desk-unknown-buttons")
    router.callback_query.register(on_unknown_button)
    return router
