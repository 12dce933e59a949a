"""Control of a session's process instances in its topic (SPEC §11): `/processes` and the card's
**Processes** button list them with their state and step; **Cancel**, **Reassign** (a menu of the line's
operators) and **Retry** act on one. The button's instance must belong to the topic's session; core
re-checks the clicker, the instance's state and the target, and announces the action in the topic."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters

from adapters.telegram.desk.errors import REFUSED, tampered
from adapters.telegram.desk.middleware import Services, Topic, in_desk, not_another_lines, pressed_in, required
from adapters.telegram.desk.replies import answer, drop_menu
from adapters.telegram.desk_cards import operator_key
from core.config import OperatorConfig
from core.model import InstanceRecord, Session
from core.processes import InstanceSummary

MAX_LISTED = 15


class InstanceAction(CallbackData, prefix="ins"):
    """`action`: "c" cancel, "t" retry, "r" show the reassign menu, "a" reassign to `to` (an operator key)."""

    action: str
    session: int
    instance: str
    to: str = ""


def instances_text(number: int, found: list[InstanceSummary]) -> str:
    if not found:
        return f"⚙ Processes of session #{number}: none yet."
    lines = [f"⚙ Processes of session #{number}"]
    for index, item in enumerate(found[:MAX_LISTED], 1):
        step = f" · step “{item.step}”" if item.step else ""
        lines.append(f"{index}. {item.process} · {item.state[:300]}{step}")
    return "\n".join(lines)


def instances_keyboard(number: int, found: list[InstanceSummary]) -> InlineKeyboardMarkup | None:
    rows = []
    for index, item in enumerate(found[:MAX_LISTED], 1):

        def button(text: str, action: str, item: InstanceSummary = item) -> InlineKeyboardButton:
            data = InstanceAction(action=action, session=number, instance=item.id).pack()
            return InlineKeyboardButton(text=text, callback_data=data)

        row = []
        if item.status in ("running", "waiting"):
            row.append(button(f"Cancel {index}", "c"))
        if item.status == "waiting" and item.state.startswith("waiting for a task"):
            row.append(button(f"Reassign {index}", "r"))
        if item.status == "failed":
            row.append(button(f"Retry {index}", "t"))
        if row:
            rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def show_instances(
    services: Services, topic: Topic, number: int, operator: OperatorConfig | None, reply_to: int | None = None
) -> None:
    session = await services.sessions.require(number)
    await services.operators.require_active(operator, session, "control processes")
    found = await services.processes.session_instances(number)
    await services.bot.send_message(
        chat_id=topic.chat_id,
        message_thread_id=topic.thread_id,
        text=instances_text(number, found),
        reply_markup=instances_keyboard(number, found),
        reply_parameters=ReplyParameters(message_id=reply_to) if reply_to else None,
    )


async def on_processes(
    message: Message, services: Services, session: Session | None, topic: Topic | None, operator: OperatorConfig | None
) -> Any:
    if session is None or topic is None:
        return await message.reply("Type /processes inside a session's topic.")
    await show_instances(services, topic, session.number, required(operator), reply_to=message.message_id)
    return None


async def on_instance_button(
    query: CallbackQuery,
    callback_data: InstanceAction,
    services: Services,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    number = pressed_in(session, callback_data.session).number
    operator = required(operator)
    record = await services.processes.get(callback_data.instance)
    if record is None or record.session != number:
        raise tampered()
    processes, action = services.processes, callback_data.action
    if action == "c":
        await processes.cancel(record.id, operator.id)
        await drop_menu(services.bot, query, f"■ {record.process_name} cancelled.")
        return await answer(query, f"{record.process_name} cancelled.")
    if action == "t":
        done = await processes.retry(record.id, operator.id)
        await drop_menu(services.bot, query, f"↻ {record.process_name} retried.")
        return await answer(query, f"{record.process_name} retried: {done.status.value}.")
    if action == "r":
        return await _reassign_menu(query, services, record, operator)
    if action == "a":
        target = next(
            (o for o in services.operators.of_line(record.line_id or "") if operator_key(o.id) == callback_data.to),
            None,
        )
        if target is None:
            raise tampered()
        await processes.reassign(record.id, operator.id, target.id)
        await drop_menu(services.bot, query, f"↪ The task is now {target.name}'s.")
        return await answer(query, f"The task is now {target.name}'s.")
    raise tampered()


async def _reassign_menu(
    query: CallbackQuery, services: Services, record: InstanceRecord, operator: OperatorConfig
) -> Any:
    session = await services.sessions.require(record.session or 0)
    await services.operators.require_active(operator, session, "reassign tasks")
    choices = [o for o in services.operators.of_line(session.line_id) if o.id != record.assignee]
    rows = [
        [
            InlineKeyboardButton(
                text=o.name,
                callback_data=InstanceAction(
                    action="a", session=session.number, instance=record.id, to=operator_key(o.id)
                ).pack(),
            )
        ]
        for o in choices[:20]
    ]
    if not rows:
        return await answer(query, "Nobody else works this line.", alert=True)
    assert isinstance(query.message, Message)
    await services.bot.send_message(
        chat_id=query.message.chat.id,
        message_thread_id=query.message.message_thread_id,
        text=f"↪ Give the task of {record.process_name} to:",
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )
    return await answer(query, "Choose below who takes the task.")


def build() -> Router:
    router = Router(name="telegram-desk-control")
    router.message.register(on_processes, Command("processes"), in_desk, not_another_lines, flags={REFUSED: "Not done"})
    router.callback_query.register(on_instance_button, InstanceAction.filter(), flags={REFUSED: "Not done"})
    return router
