"""Forms in a topic: the operator's next message answers the open form's field, its buttons pick an
option, skip or cancel, /cancel stops it; a task card's Take task / Open form asks the form."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from adapters.telegram.client import attachments_of
from adapters.telegram.desk.errors import tampered
from adapters.telegram.desk.middleware import Services, Topic, in_desk, not_another_lines, pressed_in, required
from adapters.telegram.desk.replies import answer
from adapters.telegram.desk.topic_forms import FormButton, TopicForms
from adapters.telegram.desk_cards import TaskAction
from adapters.telegram.filters import from_a_person, has_content, in_a_topic
from core.config import OperatorConfig
from core.model import Session

NOTE_PREFIX = "//"


def forms_of(services: Services) -> TopicForms:
    return TopicForms(services.bot, services.store, services.processes)


async def answers_a_form(message: Message, services: Services, session: Session | None, line_id: str) -> bool:
    """A text (no attachment, no `//` note) in a session's topic while its sender has a form open there."""
    text = message.text or message.caption or ""
    if session is None or message.from_user is None or message.message_thread_id is None:
        return False
    if attachments_of(message, line_id) or text.lstrip().startswith(NOTE_PREFIX):
        return False
    return await forms_of(services).find(message.chat.id, message.message_thread_id, message.from_user.id) is not None


async def on_form_answer(message: Message, services: Services, topic: Topic | None) -> Any:
    assert topic is not None and message.from_user is not None  # answers_a_form saw both
    text = message.text or message.caption or ""
    await forms_of(services).reply(topic.chat_id, topic.thread_id, message.from_user.id, text)
    return None


async def on_cancel(message: Message, services: Services, topic: Topic | None) -> Any:
    if message.from_user is None or topic is None:
        return None
    if not await forms_of(services).cancel(topic.chat_id, topic.thread_id, message.from_user.id):
        return await message.reply("You have no form open in this topic.")
    return await message.reply("Form cancelled. The task stays open: use Open form on its card to fill it in.")


async def on_form_button(
    query: CallbackQuery, callback_data: FormButton, services: Services, topic: Topic | None
) -> Any:
    if topic is None:
        raise tampered()
    toast = await forms_of(services).press(topic.chat_id, topic.thread_id, query.from_user.id, callback_data)
    return await answer(query, toast)


async def on_task_button(
    query: CallbackQuery,
    callback_data: TaskAction,
    services: Services,
    session: Session | None,
    topic: Topic | None,
    operator: OperatorConfig | None,
) -> Any:
    """**Take task** (unassigned) / **Open form** (the clicker's own): ask the form in the topic."""
    number = pressed_in(session).number
    record = await services.processes.get(callback_data.instance)
    if record is None or record.session != number:
        raise tampered()
    operator = required(operator)
    record, task = await services.processes.claim_task(record.id, operator.id)
    await answer(query, f"📝 {task.name}: answer below.")
    assert topic is not None  # a session was found in it
    await forms_of(services).begin(topic.chat_id, topic.thread_id, query.from_user.id, operator.id, record, task)
    return None


def build() -> Router:
    router = Router(name="telegram-desk-forms")
    router.message.register(on_cancel, Command("cancel"), in_desk)
    router.message.register(
        on_form_answer, in_desk, in_a_topic, from_a_person, has_content, not_another_lines, answers_a_form
    )
    router.callback_query.register(on_form_button, FormButton.filter())
    router.callback_query.register(on_task_button, TaskAction.filter())
    return router
