"""The process picker: /startprocess (and the card's Start process button) shows it in the topic; a
choice starts the process at once and asks its first task's form when it is the operator's."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, ReplyParameters

from adapters.telegram.desk.errors import REFUSED
from adapters.telegram.desk.middleware import Services, Topic, in_desk, not_another_lines, pressed_in, required
from adapters.telegram.desk.picker_keyboard import (
    PickerTitle,
    PickPage,
    PickProcess,
    group_title,
    resolve,
    session_picker,
)
from adapters.telegram.desk.replies import answer, drop_menu, edit_in_place
from adapters.telegram.desk.topic_forms import TopicForms
from core.bpmn.catalog import Catalog
from core.config import OperatorConfig
from core.errors import Refusal
from core.model import InstanceStatus, Session


async def show_picker(
    services: Services, topic: Topic, number: int, operator: OperatorConfig | None, reply_to: int | None = None
) -> None:
    session = await services.sessions.require(number)
    await services.operators.require_active(operator, session, "start processes")
    client = await services.store.get_client(session.client_id)
    text, keyboard = session_picker(number, client.name if client else "?", services.processes.catalog.grouped())
    await services.bot.send_message(
        chat_id=topic.chat_id,
        message_thread_id=topic.thread_id,
        text=text,
        reply_markup=keyboard,
        reply_parameters=ReplyParameters(message_id=reply_to) if reply_to else None,
    )


async def open_form(services: Services, topic: Topic, user_id: int, operator: OperatorConfig, instance_id: str) -> bool:
    """Ask the instance's open task in the topic when it is the operator's; True when a form was opened."""
    record = await services.processes.get(instance_id)
    if record is None or record.status != InstanceStatus.WAITING or record.assignee != operator.id:
        return False
    task = await services.processes.open_task(instance_id)
    if task is None:
        return False
    forms = TopicForms(services.bot, services.store, services.processes)
    await forms.begin(topic.chat_id, topic.thread_id, user_id, operator.id, record, task)
    return True


async def on_startprocess(
    message: Message,
    services: Services,
    session: Session | None,
    topic: Topic | None,
    operator: OperatorConfig | None,
) -> Any:
    if session is None or topic is None:
        return await message.reply("Type /startprocess inside a session's topic.")
    await show_picker(services, topic, session.number, operator, reply_to=message.message_id)
    return None


async def on_pick(
    query: CallbackQuery,
    callback_data: PickProcess,
    services: Services,
    session: Session | None,
    topic: Topic | None,
    operator: OperatorConfig | None,
) -> Any:
    number = pressed_in(session, callback_data.session).number
    operator = required(operator)
    entry = resolve(services.processes.catalog, callback_data.process)
    if entry is None:
        raise Refusal(
            "This process is not in the catalog (any more): the button is stale or tampered "
            "with. Type /startprocess again.",
            "no_process",
        )
    record = await services.processes.start_manual(number, entry.id, operator.id)
    await answer(query, f"▶ {record.process_name} started.")
    await drop_menu(services.bot, query, f"{record.process_name} chosen.")
    assert topic is not None  # a session was found in it
    await open_form(services, topic, query.from_user.id, operator, record.id)
    return None


async def on_picker_page(
    query: CallbackQuery,
    callback_data: PickPage,
    services: Services,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    number = pressed_in(session, callback_data.session).number
    current = await services.sessions.require(number)
    await services.operators.require_active(operator, current, "start processes")
    client = await services.store.get_client(current.client_id)
    text, keyboard = session_picker(
        number, client.name if client else "?", services.processes.catalog.grouped(), callback_data.page
    )
    await edit_in_place(services.bot, query, text, keyboard)
    return await answer(query)


async def on_picker_title(query: CallbackQuery, callback_data: PickerTitle, catalog: Catalog) -> Any:
    return await answer(query, group_title(catalog, callback_data.group) or "")


def build() -> Router:
    router = Router(name="telegram-desk-picker")
    router.message.register(
        on_startprocess, Command("startprocess"), in_desk, not_another_lines, flags={REFUSED: "Not possible"}
    )
    router.callback_query.register(on_pick, PickProcess.filter(), flags={REFUSED: "Not started"})
    router.callback_query.register(on_picker_page, PickPage.filter())
    router.callback_query.register(on_picker_title, PickerTitle.filter())
    return router
