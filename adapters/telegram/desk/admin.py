"""/autostart (admins): the line's automatic start rules, with buttons to turn a rule on or off and a
process picker to choose the process an event starts."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from adapters.telegram.desk.errors import REFUSED, tampered
from adapters.telegram.desk.middleware import Desk, Services, in_desk, required
from adapters.telegram.desk.picker_keyboard import process_key, process_keyboard, resolve
from adapters.telegram.desk.replies import answer, edit_in_place
from adapters.telegram.desk_cards import AutostartAction, autostart_back_row, autostart_keyboard, autostart_text
from core.autostart import EVENTS, Autostart, RuleAuthor
from core.bpmn.catalog import Catalog
from core.config import LineConfig, OperatorConfig
from core.errors import Refusal
from core.model import parse_number
from core.operators import Operators


def require_admin(operator: OperatorConfig | None) -> OperatorConfig:
    operator = required(operator)
    if not operator.admin:
        raise Refusal("Only admins can change automatic start.", "not_admin")
    return operator


async def on_autostart(
    message: Message, services: Services, desk: Desk, line_id: str, operator: OperatorConfig | None
) -> Any:
    line = desk.line(message.chat.id, line_id)
    if line is None:
        return None  # another line's bot in this group answers for its line
    require_admin(operator)
    text, keyboard = await rules_view(line, services.operators, services.autostart, services.catalog)
    return await message.reply(text, reply_markup=keyboard)


async def on_autostart_button(
    query: CallbackQuery,
    callback_data: AutostartAction,
    services: Services,
    desk: Desk,
    line_id: str,
    operator: OperatorConfig | None,
) -> Any:
    message = query.message
    line = desk.line(message.chat.id, line_id) if isinstance(message, Message) else None
    if line is None:
        raise tampered()
    admin = require_admin(operator)
    if not 0 <= callback_data.event < len(EVENTS):
        raise tampered()
    event = EVENTS[callback_data.event]
    action = callback_data.action
    toast = ""
    if action == "t":
        toast = await turn(services.autostart, line, event, callback_data.value, admin, query.from_user.id)
    elif action == "c":
        toast = await choose(services, line, event, callback_data.value, admin, query.from_user.id)
    elif action in ("m", "g"):
        return await show_processes(services, query, line, callback_data)
    elif action != "l":
        raise tampered()
    text, keyboard = await rules_view(line, services.operators, services.autostart, services.catalog)
    await edit_in_place(services.bot, query, text, keyboard)
    return await answer(query, toast)


async def turn(autostart: Autostart, line: LineConfig, event: str, value: str, admin: OperatorConfig, user: int) -> str:
    """Turn the event's rule on ("1") or off ("0"); the toast."""
    if value not in ("0", "1"):
        raise tampered()
    current = await autostart.rule(line.id, event)
    if current is None:
        raise Refusal(f"{event} has no process on line {line.id!r}: choose one first.", "no_process")
    await autostart.set_rule(
        line.id, event, current.process_id, value == "1", by=RuleAuthor(f"telegram:{user}", admin=admin)
    )
    return f"{event}: turned {'on' if value == '1' else 'off'}."


async def choose(services: Services, line: LineConfig, event: str, key: str, admin: OperatorConfig, user: int) -> str:
    """The process (by `process_key`) the event starts, keeping the rule on or off; the toast."""
    entry = resolve(services.catalog, key)
    if entry is None:
        raise Refusal("This process is not in the catalog (any more).", "no_process")
    current = await services.autostart.rule(line.id, event)
    enabled = current.enabled if current is not None else False
    await services.autostart.set_rule(line.id, event, entry.id, enabled, by=RuleAuthor(f"telegram:{user}", admin=admin))
    return f"{event} → {entry.name} ({'on' if enabled else 'off'})."


async def show_processes(services: Services, query: CallbackQuery, line: LineConfig, data: AutostartAction) -> None:
    """The process picker for one event ("m"), or one of its pages ("g")."""
    if data.action == "g" and parse_number(data.value) is None:
        raise tampered()
    page = int(data.value) if data.action == "g" else 0
    keyboard, page, pages = process_keyboard(
        services.catalog.grouped(),
        page,
        choose=lambda e: AutostartAction(action="c", event=data.event, value=process_key(e.id)).pack(),
        turn=lambda p: AutostartAction(action="g", event=data.event, value=str(p)).pack(),
        tail=[autostart_back_row()],
    )
    paging = f" Page {page + 1} of {pages}." if pages > 1 else ""
    event = EVENTS[data.event]
    await edit_in_place(services.bot, query, f"⚙ {line.name}: which process starts on {event}?{paging}", keyboard)
    return await answer(query)


async def rules_view(
    line: LineConfig, operators: Operators, autostart: Autostart, catalog: Catalog
) -> tuple[str, InlineKeyboardMarkup]:
    rules = {rule.event: rule for rule in await autostart.rules(line.id)}
    described = {}
    for event, rule in rules.items():
        entry = catalog.get(rule.process_id)
        name = entry.name if entry else f"{rule.process_id} (not in the catalog)"
        described[event] = (name, rule.enabled, rule_source(operators, rule.source))
    text = autostart_text(line.name, EVENTS, described)
    return text, autostart_keyboard(EVENTS, {event: rule.enabled for event, rule in rules.items()})


def rule_source(operators: Operators, source: str) -> str:
    if source == "file":
        return "from the config file"
    platform, _, user = source.partition(":")
    operator = None
    if platform == "telegram" and user.isdigit():
        operator = operators.by_telegram(int(user))
    elif platform == "slack":
        operator = operators.by_slack(user)
    return f"set by {operator.name if operator else source}"


def build() -> Router:
    router = Router(name="telegram-desk-admin")
    router.message.register(on_autostart, Command("autostart"), in_desk)
    router.callback_query.register(on_autostart_button, AutostartAction.filter(), flags={REFUSED: "Not changed"})
    return router
