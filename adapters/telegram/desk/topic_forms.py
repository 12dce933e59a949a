"""A user task's form asked in a session's topic, one field per message.

Enums and booleans are answered with inline buttons, text, numbers and dates with the operator's
next message in the topic. The conversation lives in the store (ref space `RefSpace.TELEGRAM_FORM`,
key "chat:thread:user") so that it survives a restart and any linedesk instance on the same store
can take the next answer; a short claim in the store keeps two answers from being applied at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.bpmn.engine import FormField, UserTaskView
from core.errors import Refusal
from core.forms import coerce
from core.model import InstanceRecord
from core.processes import Processes
from core.refs import RefSpace
from core.store.base import Store

FORM_REF = RefSpace.TELEGRAM_FORM
"""the ref space of operators' form conversations in topics: "<chat id>:<thread id>:<user id>" → the state"""
LOCK_TTL = 30.0
LOCK_WAIT = 5.0

HINTS = {
    "string": "Reply with the text.",
    "long": "Reply with a whole number.",
    "date": "Reply with a date as YYYY-MM-DD.",
    "enum": "Choose below (or type the option's name).",
    "boolean": "Choose below.",
    "number": "Reply with a number.",
    "checklist": "Reply with the options you choose, separated by commas.",
    "time": "Reply with a time as HH:MM.",
    "datetime": "Reply with a date and time as YYYY-MM-DD HH:MM (UTC).",
}


def asked(task: UserTaskView) -> list[int]:
    """The fields the operator answers, in order (texts and readonly fields are only shown)."""
    return [index for index, field in enumerate(task.fields) if field.asked]


def shown_fields(task: UserTaskView) -> list[str]:
    """What the form shows without asking: its texts, and readonly fields with their value."""
    lines = []
    for field in task.fields:
        if field.type == "display" and field.label:
            lines.append(f"ℹ {field.label}")
        elif field.readonly:
            lines.append(f"🔒 {field.label}: {shown(field, field.default)}")
    return lines


def limits(field: FormField) -> str:
    """The field's constraints, for the prompt."""
    parts = []
    if field.min_length is not None:
        parts.append(f"at least {field.min_length} characters")
    if field.max_length is not None:
        parts.append(f"at most {field.max_length} characters")
    if field.min is not None:
        parts.append(f"min {field.min}")
    if field.max is not None:
        parts.append(f"max {field.max}")
    if field.pattern:
        parts.append(f"pattern {field.pattern}")
    return "Limits: " + ", ".join(parts) if parts else ""


class FormButton(CallbackData, prefix="fm"):
    """A button under a field's prompt: `action` "o" picks option `option` of field `field`,
    "s" skips the field (its default applies), "x" cancels; `task` is `short_hash` of the task id."""

    action: str
    field: int
    option: int
    task: str


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def conversation_key(chat_id: int, thread_id: int, user_id: int) -> str:
    return f"{chat_id}:{thread_id}:{user_id}"


def choices(field: FormField) -> list[tuple[str, str]]:
    """(value, label) of a field answered with buttons."""
    if field.type == "boolean":
        return [("true", "Yes"), ("false", "No")]
    if field.type == "enum":
        return list(field.options)
    return []


def shown(field: FormField, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field.type == "boolean":
        return "Yes" if value is True or str(value).lower() in ("true", "yes") else "No"
    if field.type == "enum":
        return dict(field.options).get(str(value), str(value))
    if field.type == "checklist" and isinstance(value, list):
        names = dict(field.options)
        return ", ".join(names.get(str(v), str(v)) for v in value) or "—"
    return str(value)


def skippable(field: FormField) -> bool:
    return not field.required or bool(field.default)


class TopicForms:
    def __init__(self, bot: Bot, store: Store, processes: Processes):
        self._bot = bot
        self._store = store
        self._processes = processes

    async def find(self, chat_id: int, thread_id: int, user_id: int) -> dict[str, Any] | None:
        return await self._store.get_ref(FORM_REF, conversation_key(chat_id, thread_id, user_id))

    # --- starting and ending ---------------------------------------------------------------
    async def begin(
        self, chat_id: int, thread_id: int, user_id: int, operator_id: str, record: InstanceRecord, task: UserTaskView
    ) -> None:
        """Ask `task`'s fields from the first one (replaces any conversation of the operator in the topic)."""
        key = conversation_key(chat_id, thread_id, user_id)
        async with self._hold(key):
            old = await self._store.get_ref(FORM_REF, key)
            if old is not None:
                await self._settle_prompt(chat_id, old, "Form left for another one.")
            state: dict[str, Any] = {
                "instance": record.id,
                "task": task.task_id,
                "operator": operator_id,
                "session": record.session,
                "process": record.process_name,
                "queue": asked(task),
                "values": {},
                "errors": {},
                "prompt": None,
                "chat": chat_id,
                "thread": thread_id,
            }
            await self._next(key, state, task)

    async def cancel(self, chat_id: int, thread_id: int, user_id: int) -> bool:
        key = conversation_key(chat_id, thread_id, user_id)
        async with self._hold(key):
            state = await self._store.get_ref(FORM_REF, key)
            if state is None:
                return False
            await self._store.delete_ref(FORM_REF, key)
            await self._settle_prompt(chat_id, state, "Form cancelled.")
        return True

    # --- answers ------------------------------------------------------------------------------
    async def reply(self, chat_id: int, thread_id: int, user_id: int, text: str) -> None:
        """The operator's message while their form is open in the topic: the current field's answer."""
        key = conversation_key(chat_id, thread_id, user_id)
        async with self._hold(key):
            state = await self._store.get_ref(FORM_REF, key)
            if state is None:
                return
            task = await self._task(key, state)
            if task is None:
                return
            if not state["queue"]:
                await self._finish(key, state, task)
                return
            field = task.fields[state["queue"][0]]
            try:
                value = await asyncio.to_thread(coerce, field, text)  # a form's pattern runs off the loop
            except ValueError as err:
                await self._ask(state, task, reason=str(err))
                await self._store.set_ref(FORM_REF, key, state)
                return
            await self._accept(key, state, task, field, value)

    async def press(self, chat_id: int, thread_id: int, user_id: int, button: FormButton) -> str:
        """A button under a prompt; returns the toast for the clicker, or raises Refusal (an alert)."""
        key = conversation_key(chat_id, thread_id, user_id)
        async with self._hold(key):
            state = await self._store.get_ref(FORM_REF, key)
            if state is None or button.task != short_hash(str(state["task"])):
                raise Refusal("This form is not open for you here (it is someone else's, or it was closed).", "no_form")
            if button.action == "x":
                await self._store.delete_ref(FORM_REF, key)
                await self._settle_prompt(chat_id, state, "Form cancelled.")
                return "Form cancelled: the task stays open."
            if not state["queue"] or button.field != state["queue"][0]:
                raise Refusal("This question was already answered.", "stale")
            task = await self._task(key, state)
            if task is None:
                raise Refusal("This form was already submitted or its task is closed.", "stale_task")
            if not 0 <= button.field < len(task.fields):
                raise Refusal("This button is not valid (stale or tampered with).", "tampered")
            field = task.fields[button.field]
            if button.action == "s":
                if not skippable(field):
                    raise Refusal("This field is required.", "required")
                raw: Any = None
            elif button.action == "o":
                options = choices(field)
                if not 0 <= button.option < len(options):
                    raise Refusal("This button is not valid (stale or tampered with).", "tampered")
                raw = options[button.option][0]
            else:
                raise Refusal("This button is not valid (stale or tampered with).", "tampered")
            try:
                value = coerce(field, raw)
            except ValueError as err:
                raise Refusal(str(err), "invalid") from None
            await self._accept(key, state, task, field, value)
            return f"{field.label}: {shown(field, value)}"

    # --- the steps --------------------------------------------------------------------------------
    async def _task(self, key: str, state: dict[str, Any]) -> UserTaskView | None:
        """The task the conversation is about, if it is still open; else the conversation ends."""
        task = await self._processes.open_task(str(state["instance"]))
        if task is not None and task.task_id == state["task"]:
            record = await self._processes.get(str(state["instance"]))
            if record is not None and record.assignee in (None, state["operator"]):
                return task  # not reassigned to someone else meanwhile
        await self._store.delete_ref(FORM_REF, key)
        await self._settle_prompt(int(state["chat"]), state, "Form closed.")
        await self._say(
            state, "This form was already submitted, or its task is closed or someone else's: nothing more to fill in."
        )
        return None

    async def _accept(self, key: str, state: dict[str, Any], task: UserTaskView, field: FormField, value: Any) -> None:
        state["values"][field.id] = value
        state["errors"].pop(field.id, None)
        state["queue"] = state["queue"][1:]
        await self._settle_prompt(int(state["chat"]), state, f"✔ {field.label}: {shown(field, value)}")
        state["prompt"] = None
        await self._next(key, state, task)

    async def _next(self, key: str, state: dict[str, Any], task: UserTaskView) -> None:
        if state["queue"]:
            await self._ask(state, task)
            await self._store.set_ref(FORM_REF, key, state)
        else:
            await self._finish(key, state, task)

    async def _finish(self, key: str, state: dict[str, Any], task: UserTaskView) -> None:
        try:
            result = await self._processes.submit(
                str(state["instance"]), task.task_id, str(state["operator"]), dict(state["values"])
            )
        except Refusal as refusal:
            await self._store.delete_ref(FORM_REF, key)
            await self._say(
                state,
                f"Not submitted: {refusal.reason} The task stays open: use Open form on its card to fill it in again.",
            )
            return
        if result.errors:
            state["errors"] = dict(result.errors)
            state["queue"] = [i for i, field in enumerate(task.fields) if field.id in result.errors]
            await self._ask(state, task)
            await self._store.set_ref(FORM_REF, key, state)
            return
        await self._say(state, f"✔ Submitted: {task.name} · {state['process']}")
        if result.next_task is not None:
            record = result.instance
            state.update(
                instance=record.id,
                task=result.next_task.task_id,
                process=record.process_name,
                queue=asked(result.next_task),
                values={},
                errors={},
                prompt=None,
            )
            await self._next(key, state, result.next_task)
        else:
            await self._store.delete_ref(FORM_REF, key)

    async def _ask(self, state: dict[str, Any], task: UserTaskView, *, reason: str | None = None) -> None:
        """Post the prompt of the first field in the queue (a fresh message, so it is the latest in the topic)."""
        index = int(state["queue"][0])
        field = task.fields[index]
        reason = reason or state["errors"].get(field.id)
        lines = [f"⚠ {reason}"] if reason else []
        order = asked(task)
        position = order.index(index) + 1 if index in order else index + 1
        lines.append(f"📝 {state['process']} · {task.name} · {position}/{len(order)}")
        if position == 1 and not reason:
            lines += shown_fields(task)
        lines.append(field.label + (" (required)" if field.required else ""))
        if field.default:
            lines.append(f"Default: {shown(field, field.default)}")
        if field.type == "checklist":
            lines.append("Options: " + ", ".join(name for _, name in field.options))
        if limits(field):
            lines.append(limits(field))
        lines.append(HINTS.get(field.type, HINTS["string"]) + " /cancel stops; the task stays open.")
        await self._settle_prompt(int(state["chat"]), state, None)
        sent = await self._bot.send_message(
            chat_id=int(state["chat"]),
            message_thread_id=int(state["thread"]),
            text="\n".join(lines),
            reply_markup=self._keyboard(task, index),
        )
        state["prompt"] = sent.message_id

    def _keyboard(self, task: UserTaskView, index: int) -> InlineKeyboardMarkup:
        field = task.fields[index]
        tag = short_hash(task.task_id)
        rows: list[list[InlineKeyboardButton]] = []
        options = choices(field)
        if field.type == "boolean":
            rows.append(
                [
                    InlineKeyboardButton(
                        text=label, callback_data=FormButton(action="o", field=index, option=i, task=tag).pack()
                    )
                    for i, (_, label) in enumerate(options)
                ]
            )
        else:
            rows.extend(
                [
                    InlineKeyboardButton(
                        text=label[:60], callback_data=FormButton(action="o", field=index, option=i, task=tag).pack()
                    )
                ]
                for i, (_, label) in enumerate(options)
            )
        last = []
        if skippable(field):
            label = f"Use default: {shown(field, field.default)}" if field.default else "Skip"
            last.append(
                InlineKeyboardButton(
                    text=label[:60], callback_data=FormButton(action="s", field=index, option=0, task=tag).pack()
                )
            )
        last.append(
            InlineKeyboardButton(
                text="✖ Cancel", callback_data=FormButton(action="x", field=index, option=0, task=tag).pack()
            )
        )
        rows.append(last)
        return InlineKeyboardMarkup(inline_keyboard=rows)

    async def _settle_prompt(self, chat_id: int, state: dict[str, Any], text: str | None) -> None:
        """Take the buttons off the last prompt (and, with `text`, say what became of it)."""
        prompt = state.get("prompt")
        if not prompt:
            return
        try:
            if text is None:
                await self._bot.edit_message_reply_markup(chat_id=chat_id, message_id=int(prompt), reply_markup=None)
            else:
                await self._bot.edit_message_text(chat_id=chat_id, message_id=int(prompt), text=text, reply_markup=None)
        except TelegramBadRequest:
            pass  # deleted by someone, or already as it should be: the conversation goes on

    async def _say(self, state: dict[str, Any], text: str) -> None:
        await self._bot.send_message(chat_id=int(state["chat"]), message_thread_id=int(state["thread"]), text=text)

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        """One answer at a time per conversation, across linedesk instances on the same store."""
        lock = f"lock:{FORM_REF}:{key}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT
        while not await self._store.claim(lock, LOCK_TTL, time.time()):
            if loop.time() >= deadline:
                raise Refusal("The form is busy; try again in a moment.", "busy")
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            await self._store.release(lock)
