"""The session card's buttons in a topic: Take, Close, Start process, Transfer, Spam / Not spam."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.types import CallbackQuery

from adapters.telegram.desk.control import show_instances
from adapters.telegram.desk.errors import tampered
from adapters.telegram.desk.middleware import Services, Topic, pressed_in, required
from adapters.telegram.desk.picker import show_picker
from adapters.telegram.desk.replies import answer
from adapters.telegram.desk.transfer import show_transfer_menu
from adapters.telegram.desk_cards import SessionAction
from core.config import OperatorConfig
from core.model import Session


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
        await sessions.take(number, operator.id)
        return await answer(query, f"You took session #{number}.")
    if action == "close":
        await sessions.close(number, operator.name, operator_id=operator.id)
        return await answer(query, f"Session #{number} closed.")
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
        await sessions.mark_spam(number, operator.id)
        return await answer(query, f"Session #{number} marked as spam.")
    if action == "unspam":
        await sessions.unmark_spam(number, operator.id)
        return await answer(query, f"Session #{number} is no longer marked as spam.")
    raise tampered()


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
