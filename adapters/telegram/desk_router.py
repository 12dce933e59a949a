"""The Telegram desk, inbound: operators in a line's forum group (and `/status` in a private chat
with a line's bot).

In a session's topic an operator's message goes to the client (`//` notes stay internal) unless a
form of theirs is open there, in which case it answers the form. Commands: /status, /startprocess,
/close, /transfer NAME|queue, /spam, /unspam, /sessions (also in a private chat with the bot), /cancel,
/autostart (admins). Every button payload is re-checked here and in core: the
button's topic must be the session it names, the process must resolve in the catalog, the clicker
must be allowed to do it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)

from adapters.telegram.client import attachments_of
from adapters.telegram.desk_cards import (
    CANCEL_KEY,
    QUEUE_KEY,
    AutostartAction,
    SessionAction,
    TaskAction,
    TransferTo,
    autostart_back_row,
    autostart_keyboard,
    autostart_text,
    operator_key,
    sessions_html,
    topic_link,
    transfer_keyboard,
    transfer_text,
)
from adapters.telegram.desk_delivery import TOPIC_REF, TOPIC_SESSION_REF
from adapters.telegram.filters import (
    either,
    from_a_person,
    has_content,
    has_text,
    in_a_topic,
    in_chats,
    in_private_chat,
)
from adapters.telegram.picker import (
    PickerTitle,
    PickPage,
    PickProcess,
    group_title,
    process_key,
    process_keyboard,
    resolve,
    session_picker,
)
from adapters.telegram.topic_forms import FormButton, TopicForms
from core.autostart import EVENTS, Autostart
from core.bpmn.catalog import Catalog
from core.config import Config, LineConfig, OperatorConfig
from core.courier import TELEGRAM_DESK
from core.errors import Refusal
from core.inbound import OperatorEdit, OperatorText
from core.model import InstanceStatus, OperatorStatus, Session, SessionStatus, parse_number
from core.operators import Operators
from core.processes import Processes
from core.sessions import Sessions
from core.store.base import Store

log = logging.getLogger(__name__)

NOTE_PREFIX = "//"
ANSWER_LIMIT = 200
CLIENT_COMMANDS = [BotCommand(command="start", description="Start a conversation with us")]
DESK_COMMANDS = [
    BotCommand(command="startprocess", description="Start a process for this topic's session"),
    BotCommand(command="close", description="Close this topic's session"),
    BotCommand(command="status", description="Your status: /status online, busy or offline"),
    BotCommand(command="autostart", description="Automatic start rules of the line (admins)"),
    BotCommand(command="cancel", description="Stop filling in a form (the task stays open)"),
    BotCommand(command="sessions", description="Your active sessions and the queue, with links to their topics"),
    BotCommand(command="transfer", description="Hand this topic's session over: /transfer NAME or /transfer queue"),
    BotCommand(command="spam", description="Mark this topic's session as spam"),
    BotCommand(command="unspam", description="Unmark spam: the session gets its previous state back"),
]
QUEUE_WORDS = ("queue", "-")
MAX_LISTED = 30


def tampered() -> Refusal:
    return Refusal("This button is not valid (stale or tampered with).", "tampered")


def not_operator() -> Refusal:
    return Refusal("You are not a linedesk operator.", "not_operator")


async def register_commands(bot: Bot, desk_chat: int | None) -> None:
    """The command menus: customers' in private chats, operators' in the line's desk group.
    A failure is logged, not raised: the menus are a convenience, the commands work without them."""
    try:
        await bot.set_my_commands(CLIENT_COMMANDS, scope=BotCommandScopeAllPrivateChats())
        if desk_chat is not None:
            await bot.set_my_commands(DESK_COMMANDS, scope=BotCommandScopeChat(chat_id=desk_chat))
    except TelegramAPIError as err:
        log.warning("setMyCommands failed for a line bot (desk %s): %s", desk_chat, err)


async def topic_session(store: Store, chat_id: int, thread_id: int | None) -> int | None:
    if thread_id is None:
        return None
    ref = await store.get_ref(TOPIC_SESSION_REF, f"{chat_id}:{thread_id}")
    return int(ref["session"]) if ref is not None else None


def button_topic(query: CallbackQuery) -> tuple[int, int] | None:
    """(chat id, thread id) of the topic a button was pressed in; None for anything else."""
    message = query.message
    if not isinstance(message, Message) or message.message_thread_id is None:
        return None
    return message.chat.id, message.message_thread_id


async def button_session(query: CallbackQuery, store: Store, named: int | None = None) -> tuple[int, int, int]:
    """(chat, thread, session) of the topic a button is in; a payload naming another session is refused."""
    topic = button_topic(query)
    number = await topic_session(store, *topic) if topic is not None else None
    if topic is None or number is None or (named is not None and named != number):
        raise tampered()
    return topic[0], topic[1], number


def desk_router(config: Config) -> Router:
    """Operators in the lines' forum groups (and `/status` in a private chat with a line's bot)."""
    desk_chats = {line.telegram_desk_chat for line in config.lines if line.telegram_desk_chat is not None}
    router = Router(name="telegram-desk")
    in_desk = in_chats(desk_chats)

    def desk_line(chat_id: int, line_id: str) -> LineConfig | None:
        """The line this bot serves in this desk group (a group may host several lines' bots)."""
        line = config.line(line_id)
        return line if line is not None and line.telegram_desk_chat == chat_id else None

    async def session_here(message: Message, store: Store, line_id: str) -> int | None:
        """The session of the topic a message is in. A session of another line is that line's bot's
        to handle (lines may share a desk group): this bot skips the message."""
        number = await topic_session(store, message.chat.id, message.message_thread_id)
        session = await store.get_session(number) if number is not None else None
        if session is None:
            return None
        if session.line_id != line_id:
            raise SkipHandler
        return number

    async def show_picker(
        bot: Bot,
        chat_id: int,
        thread_id: int,
        number: int,
        operator: OperatorConfig | None,
        sessions: Sessions,
        operators: Operators,
        processes: Processes,
        store: Store,
        reply_to: int | None = None,
    ) -> None:
        session = await sessions.require(number)
        await operators.require_active(operator, session, "start processes")
        client = await store.get_client(session.client_id)
        text, keyboard = session_picker(number, client.name if client else "?", processes.catalog.grouped())
        await bot.send_message(
            chat_id=chat_id,
            message_thread_id=thread_id,
            text=text,
            reply_markup=keyboard,
            reply_parameters=ReplyParameters(message_id=reply_to) if reply_to else None,
        )

    async def open_form(
        bot: Bot,
        store: Store,
        processes: Processes,
        chat_id: int,
        thread_id: int,
        user_id: int,
        operator: OperatorConfig,
        instance_id: str,
    ) -> bool:
        """Ask the instance's open task in the topic when it is the operator's; True when a form was opened."""
        record = await processes.get(instance_id)
        if record is None or record.status != InstanceStatus.WAITING or record.assignee != operator.id:
            return False
        task = await processes.open_task(instance_id)
        if task is None:
            return False
        await TopicForms(bot, store, processes).begin(chat_id, thread_id, user_id, operator.id, record, task)
        return True

    def answers_in(chat_id: int, line_id: str) -> bool:
        """Several lines' bots may share a desk group: the first of them (in config order) answers commands
        that belong to no session (/sessions), so that the operator gets one answer."""
        first = next((line for line in config.lines if line.telegram_desk_chat == chat_id), None)
        return first is not None and first.id == line_id

    async def show_transfer_menu(
        bot: Bot,
        chat_id: int,
        thread_id: int,
        number: int,
        operator: OperatorConfig | None,
        sessions: Sessions,
        operators: Operators,
        store: Store,
        reply_to: int | None = None,
    ) -> None:
        """The line's other operators (with their status) and "Back to the queue", as a menu in the topic."""
        session = await sessions.require(number)
        await operators.require_active(operator, session, "transfer sessions")
        assert operator is not None
        client = await store.get_client(session.client_id)
        choices = [
            (other.id, other.name, (await operators.state(other.id)).status.value)
            for other in operators.of_line(session.line_id)
            if other.id not in (operator.id, session.assignee)
        ]
        await bot.send_message(
            chat_id=chat_id,
            message_thread_id=thread_id,
            text=transfer_text(number, client.name if client else "?"),
            reply_markup=transfer_keyboard(number, choices, session.assignee is not None),
            reply_parameters=ReplyParameters(message_id=reply_to) if reply_to else None,
        )

    async def listed(store: Store, sessions: list[Session]) -> list[tuple[str, str | None]]:
        """(title, link to its topic) per session."""
        entries = []
        for session in sessions:
            client = await store.get_client(session.client_id)
            line = config.line(session.line_id)
            topic = await store.get_ref(TOPIC_REF, str(session.number))
            title = f"#{session.number} · {client.name if client else '?'} · {line.name if line else session.line_id}"
            entries.append((title, topic_link(int(topic["chat_id"]), int(topic["thread_id"])) if topic else None))
        return entries

    # --- commands ----------------------------------------------------------------------------
    @router.message(Command("status"), either(in_desk, in_private_chat))
    async def on_status(message: Message, command: CommandObject, operators: Operators) -> Any:
        user = message.from_user
        operator = operators.by_telegram(user.id) if user else None
        if operator is None:
            if message.chat.type == "private":
                raise SkipHandler  # a customer typing /status: the client router takes it as text
            return await message.reply("You are not a linedesk operator.")
        word = (command.args or "").strip().lower()
        if not word:
            state = await operators.state(operator.id)
            return await message.reply(f"Your status: {state.status.value}. Use /status online|busy|offline.")
        try:
            status = OperatorStatus(word)
        except ValueError:
            return await message.reply(f"Unknown status {word!r}: use /status online, busy or offline.")
        await operators.set_status(operator.id, status)
        return await message.reply(f"Your status is now {status.value}.")

    @router.message(Command("startprocess"), in_desk)
    async def on_startprocess(
        message: Message,
        bot: Bot,
        sessions: Sessions,
        operators: Operators,
        processes: Processes,
        store: Store,
        line_id: str,
    ) -> Any:
        number = await session_here(message, store, line_id)
        if number is None or message.message_thread_id is None:
            return await message.reply("Type /startprocess inside a session's topic.")
        operator = operators.by_telegram(message.from_user.id) if message.from_user else None
        try:
            await show_picker(
                bot,
                message.chat.id,
                message.message_thread_id,
                number,
                operator,
                sessions,
                operators,
                processes,
                store,
                reply_to=message.message_id,
            )
        except Refusal as refusal:
            return await message.reply(f"Not possible: {refusal.reason}")
        return None

    @router.message(Command("close"), in_desk)
    async def on_close(message: Message, sessions: Sessions, operators: Operators, store: Store, line_id: str) -> Any:
        number = await session_here(message, store, line_id)
        if number is None:
            return await message.reply("Type /close inside a session's topic.")
        operator = operators.by_telegram(message.from_user.id) if message.from_user else None
        try:
            if operator is None:
                raise not_operator()
            session = await sessions.require(number)
            if not session.is_open:
                return await message.reply(f"Session #{number} is already closed.")
            await sessions.close(number, operator.name, operator_id=operator.id)
        except Refusal as refusal:
            return await message.reply(f"Not closed: {refusal.reason}")
        return None  # the topic gets "■ Session closed by …" from core

    @router.message(Command("transfer"), in_desk)
    async def on_transfer(
        message: Message,
        command: CommandObject,
        bot: Bot,
        sessions: Sessions,
        operators: Operators,
        store: Store,
        line_id: str,
    ) -> Any:
        """`/transfer NAME` (an operator of the line, by name or id), `/transfer queue`, or `/transfer` alone:
        the menu of the line's operators."""
        number = await session_here(message, store, line_id)
        if number is None or message.message_thread_id is None:
            return await message.reply("Type /transfer NAME or /transfer queue inside a session's topic.")
        operator = operators.by_telegram(message.from_user.id) if message.from_user else None
        word = (command.args or "").strip().lstrip("@")
        try:
            if operator is None:
                raise not_operator()
            if not word:
                await show_transfer_menu(
                    bot,
                    message.chat.id,
                    message.message_thread_id,
                    number,
                    operator,
                    sessions,
                    operators,
                    store,
                    reply_to=message.message_id,
                )
                return None
            before = await sessions.require(number)
            target = None if word.lower() in QUEUE_WORDS else named_operator(operators, before.line_id, word)
            after = await sessions.transfer(number, operator.id, target.id if target else None)
        except Refusal as refusal:
            return await message.reply(f"Not transferred: {refusal.reason}")
        if after.assignee == before.assignee:
            holder = f"already {target.name}'s" if target else "already in the queue"
            return await message.reply(f"Session #{number} is {holder}.")
        return None  # the topic gets "➡ Anna transferred the session to Carl." from core

    @router.message(Command("spam", "unspam"), in_desk)
    async def on_spam(
        message: Message, command: CommandObject, sessions: Sessions, operators: Operators, store: Store, line_id: str
    ) -> Any:
        number = await session_here(message, store, line_id)
        if number is None:
            return await message.reply(f"Type /{command.command} inside a session's topic.")
        operator = operators.by_telegram(message.from_user.id) if message.from_user else None
        try:
            if operator is None:
                raise not_operator()
            session = await sessions.require(number)
            if command.command == "unspam":
                if session.status != SessionStatus.SPAM:
                    return await message.reply(f"Session #{number} is not marked as spam.")
                await sessions.unmark_spam(number, operator.id)
            else:
                await sessions.mark_spam(number, operator.id)
        except Refusal as refusal:
            return await message.reply(f"Not changed: {refusal.reason}")
        return None  # core tells the topic and refreshes the card

    @router.message(Command("sessions"), either(in_desk, in_private_chat))
    async def on_sessions(message: Message, operators: Operators, store: Store, line_id: str) -> Any:
        """The operator's active sessions and the queue of their lines, with links to the topics; spam and
        closed sessions are not listed."""
        private = message.chat.type == "private"
        if not private and not answers_in(message.chat.id, line_id):
            return None
        operator = operators.by_telegram(message.from_user.id) if message.from_user else None
        if operator is None:
            if private:
                raise SkipHandler  # a customer typing /sessions: the client router takes it as text
            return await message.reply("You are not a linedesk operator: /sessions lists an operator's sessions.")
        mine = await store.list_sessions(status=[SessionStatus.ACTIVE], assignee=operator.id, limit=MAX_LISTED)
        queued: list[Session] = []
        for line in config.lines:
            if operator.serves(line.id):
                queued += await store.list_sessions(status=[SessionStatus.QUEUED], line_id=line.id, limit=1000)
        queued.sort(key=lambda session: session.number)
        text = sessions_html(
            await listed(store, sorted(mine, key=lambda s: s.number)), await listed(store, queued[:MAX_LISTED])
        )
        return await message.reply(text, parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True))

    @router.message(Command("cancel"), in_desk)
    async def on_cancel(message: Message, bot: Bot, processes: Processes, store: Store) -> Any:
        if message.from_user is None or message.message_thread_id is None:
            return None
        try:
            cancelled = await TopicForms(bot, store, processes).cancel(
                message.chat.id, message.message_thread_id, message.from_user.id
            )
        except Refusal as refusal:
            return await message.reply(refusal.reason)
        if not cancelled:
            return await message.reply("You have no form open in this topic.")
        return await message.reply("Form cancelled. The task stays open: use Open form on its card to fill it in.")

    @router.message(Command("autostart"), in_desk)
    async def on_autostart(
        message: Message, operators: Operators, autostart: Autostart, catalog: Catalog, line_id: str
    ) -> Any:
        line = desk_line(message.chat.id, line_id)
        if line is None:
            return None  # another line's bot in this group answers for its line
        try:
            require_admin(operators, message.from_user.id if message.from_user else 0)
        except Refusal as refusal:
            return await message.reply(refusal.reason)
        text, keyboard = await rules_view(line, operators, autostart, catalog)
        return await message.reply(text, reply_markup=keyboard)

    # --- messages in a topic -------------------------------------------------------------------
    @router.message(in_desk, in_a_topic, from_a_person, has_content)
    async def on_topic_text(
        message: Message,
        bot: Bot,
        sessions: Sessions,
        operators: Operators,
        processes: Processes,
        store: Store,
        line_id: str,
    ) -> Any:
        number = await session_here(message, store, line_id)
        if number is None or message.from_user is None or message.message_thread_id is None:
            return None
        text = message.text or message.caption or ""
        attachments = attachments_of(message, line_id)
        if not attachments and not text.lstrip().startswith(NOTE_PREFIX):
            forms = TopicForms(bot, store, processes)
            if await forms.find(message.chat.id, message.message_thread_id, message.from_user.id) is not None:
                try:
                    await forms.reply(message.chat.id, message.message_thread_id, message.from_user.id, text)
                except Refusal as refusal:
                    return await message.reply(refusal.reason)
                return None
        operator = operators.by_telegram(message.from_user.id)
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator: the client does not get this message.")
            await sessions.operator_text(
                OperatorText(
                    session=number,
                    operator_id=operator.id,
                    text=text,
                    platform_ref=f"telegram:{message.chat.id}:{message.message_id}",
                    desk=TELEGRAM_DESK,
                    attachments=attachments,
                    copy_from={"chat_id": message.chat.id, "message_id": message.message_id} if attachments else None,
                )
            )
        except Refusal as refusal:
            return await message.reply(f"Not sent to the client: {refusal.reason}")
        return None

    @router.edited_message(in_desk, in_a_topic, from_a_person, has_text)
    async def on_topic_edit(message: Message, sessions: Sessions, operators: Operators) -> None:
        """An operator edited their message in a topic: the client's copy (and the Slack thread's) follow."""
        operator = operators.by_telegram(message.from_user.id) if message.from_user else None
        if operator is None:
            return
        await sessions.operator_edit(
            OperatorEdit(
                operator_id=operator.id,
                platform_ref=f"telegram:{message.chat.id}:{message.message_id}",
                text=message.text or message.caption or "",
                desk=TELEGRAM_DESK,
            )
        )

    # --- the session card's buttons ----------------------------------------------------------------
    @router.callback_query(SessionAction.filter())
    async def on_session_button(
        query: CallbackQuery,
        callback_data: SessionAction,
        bot: Bot,
        sessions: Sessions,
        operators: Operators,
        processes: Processes,
        store: Store,
    ) -> Any:
        operator = operators.by_telegram(query.from_user.id)
        try:
            chat_id, thread_id, number = await button_session(query, store, callback_data.session)
            if operator is None:
                raise not_operator()
            if callback_data.action == "take":
                await sessions.take(number, operator.id)
                return await answer(query, f"You took session #{number}.")
            if callback_data.action == "close":
                await sessions.close(number, operator.name, operator_id=operator.id)
                return await answer(query, f"Session #{number} closed.")
            if callback_data.action == "start":
                await show_picker(bot, chat_id, thread_id, number, operator, sessions, operators, processes, store)
                return await answer(query, "Choose a process below.")
            if callback_data.action == "transfer":
                await show_transfer_menu(bot, chat_id, thread_id, number, operator, sessions, operators, store)
                return await answer(query, "Choose below who takes it over.")
            if callback_data.action == "spam":
                await sessions.mark_spam(number, operator.id)
                return await answer(query, f"Session #{number} marked as spam.")
            if callback_data.action == "unspam":
                await sessions.unmark_spam(number, operator.id)
                return await answer(query, f"Session #{number} is no longer marked as spam.")
            raise tampered()
        except Refusal as refusal:
            return await answer(query, refusal.reason, alert=True)

    @router.callback_query(TransferTo.filter())
    async def on_transfer_button(
        query: CallbackQuery,
        callback_data: TransferTo,
        bot: Bot,
        sessions: Sessions,
        operators: Operators,
        store: Store,
    ) -> Any:
        """A choice in the transfer menu; the target is resolved against the line's operators and core
        re-checks everything (the clicker, the session, the target's line and status)."""
        operator = operators.by_telegram(query.from_user.id)
        try:
            chat_id, _, number = await button_session(query, store, callback_data.session)
            if operator is None:
                raise not_operator()
            if callback_data.to == CANCEL_KEY:
                if isinstance(query.message, Message):
                    await drop_picker(bot, chat_id, query.message.message_id, "Transfer cancelled.")
                return await answer(query, "Transfer cancelled.")
            session = await sessions.require(number)
            target = None
            if callback_data.to != QUEUE_KEY:
                target = next(
                    (
                        other
                        for other in operators.of_line(session.line_id)
                        if operator_key(other.id) == callback_data.to
                    ),
                    None,
                )
                if target is None:
                    raise tampered()
            session = await sessions.transfer(number, operator.id, target.id if target else None)
        except Refusal as refusal:
            return await answer(query, f"Not transferred: {refusal.reason}", alert=True)
        if isinstance(query.message, Message):
            await drop_picker(bot, chat_id, query.message.message_id, "Transferred.")
        return await answer(
            query,
            f"Session #{number} is now {target.name}'s." if target else f"Session #{number} is back in the queue.",
        )

    # --- the process picker ------------------------------------------------------------------------
    @router.callback_query(PickProcess.filter())
    async def on_pick(
        query: CallbackQuery,
        callback_data: PickProcess,
        bot: Bot,
        operators: Operators,
        processes: Processes,
        store: Store,
    ) -> Any:
        operator = operators.by_telegram(query.from_user.id)
        try:
            chat_id, thread_id, number = await button_session(query, store, callback_data.session)
            if operator is None:
                raise not_operator()
            entry = resolve(processes.catalog, callback_data.process)
            if entry is None:
                raise Refusal(
                    "This process is not in the catalog (any more): the button is stale or tampered "
                    "with. Type /startprocess again.",
                    "no_process",
                )
            record = await processes.start_manual(number, entry.id, operator.id)
        except Refusal as refusal:
            return await answer(query, f"Not started: {refusal.reason}", alert=True)
        await answer(query, f"▶ {record.process_name} started.")
        if isinstance(query.message, Message):
            await drop_picker(bot, chat_id, query.message.message_id, f"{record.process_name} chosen.")
        await open_form(bot, store, processes, chat_id, thread_id, query.from_user.id, operator, record.id)
        return None

    @router.callback_query(PickPage.filter())
    async def on_picker_page(
        query: CallbackQuery,
        callback_data: PickPage,
        bot: Bot,
        sessions: Sessions,
        operators: Operators,
        processes: Processes,
        store: Store,
    ) -> Any:
        try:
            _, _, number = await button_session(query, store, callback_data.session)
            session = await sessions.require(number)
            await operators.require_active(operators.by_telegram(query.from_user.id), session, "start processes")
        except Refusal as refusal:
            return await answer(query, refusal.reason, alert=True)
        client = await store.get_client(session.client_id)
        text, keyboard = session_picker(
            number, client.name if client else "?", processes.catalog.grouped(), callback_data.page
        )
        await edit_in_place(bot, query, text, keyboard)
        return await answer(query)

    @router.callback_query(PickerTitle.filter())
    async def on_picker_title(query: CallbackQuery, callback_data: PickerTitle, catalog: Catalog) -> Any:
        return await answer(query, group_title(catalog, callback_data.group) or "")

    # --- forms and task cards ----------------------------------------------------------------------
    @router.callback_query(FormButton.filter())
    async def on_form_button(
        query: CallbackQuery, callback_data: FormButton, bot: Bot, processes: Processes, store: Store
    ) -> Any:
        topic = button_topic(query)
        try:
            if topic is None:
                raise tampered()
            toast = await TopicForms(bot, store, processes).press(topic[0], topic[1], query.from_user.id, callback_data)
        except Refusal as refusal:
            return await answer(query, refusal.reason, alert=True)
        return await answer(query, toast)

    @router.callback_query(TaskAction.filter())
    async def on_task_button(
        query: CallbackQuery,
        callback_data: TaskAction,
        bot: Bot,
        operators: Operators,
        processes: Processes,
        store: Store,
    ) -> Any:
        """**Take task** (unassigned) / **Open form** (the clicker's own): ask the form in the topic."""
        operator = operators.by_telegram(query.from_user.id)
        try:
            chat_id, thread_id, number = await button_session(query, store)
            record = await processes.get(callback_data.instance)
            if record is None or record.session != number:
                raise tampered()
            if operator is None:
                raise not_operator()
            record, task = await processes.claim_task(record.id, operator.id)
        except Refusal as refusal:
            return await answer(query, refusal.reason, alert=True)
        await answer(query, f"📝 {task.name}: answer below.")
        await TopicForms(bot, store, processes).begin(chat_id, thread_id, query.from_user.id, operator.id, record, task)
        return None

    # --- /autostart's buttons ------------------------------------------------------------------------
    @router.callback_query(AutostartAction.filter())
    async def on_autostart_button(
        query: CallbackQuery,
        callback_data: AutostartAction,
        bot: Bot,
        operators: Operators,
        autostart: Autostart,
        catalog: Catalog,
        line_id: str,
    ) -> Any:
        message = query.message
        try:
            line = desk_line(message.chat.id, line_id) if isinstance(message, Message) else None
            if line is None:
                raise tampered()
            operator = require_admin(operators, query.from_user.id)
            action = callback_data.action
            if not 0 <= callback_data.event < len(EVENTS):
                raise tampered()
            event = EVENTS[callback_data.event]
            toast = ""
            if action == "t":
                if callback_data.value not in ("0", "1"):
                    raise tampered()
                current = await autostart.rule(line.id, event)
                if current is None:
                    raise Refusal(f"{event} has no process on line {line.id!r}: choose one first.", "no_process")
                await autostart.set_rule(
                    line.id,
                    event,
                    current.process_id,
                    callback_data.value == "1",
                    by=f"telegram:{query.from_user.id}",
                    admin=operator,
                )
                toast = f"{event}: turned {'on' if callback_data.value == '1' else 'off'}."
            elif action == "c":
                entry = resolve(catalog, callback_data.value)
                if entry is None:
                    raise Refusal("This process is not in the catalog (any more).", "no_process")
                current = await autostart.rule(line.id, event)
                enabled = current.enabled if current is not None else False
                await autostart.set_rule(
                    line.id, event, entry.id, enabled, by=f"telegram:{query.from_user.id}", admin=operator
                )
                toast = f"{event} → {entry.name} ({'on' if enabled else 'off'})."
            elif action in ("m", "g"):
                if action == "g" and parse_number(callback_data.value) is None:
                    raise tampered()
                page = int(callback_data.value) if action == "g" else 0
                keyboard, page, pages = process_keyboard(
                    catalog.grouped(),
                    page,
                    choose=lambda e: AutostartAction(
                        action="c", event=callback_data.event, value=process_key(e.id)
                    ).pack(),
                    turn=lambda p: AutostartAction(action="g", event=callback_data.event, value=str(p)).pack(),
                    tail=[autostart_back_row()],
                )
                paging = f" Page {page + 1} of {pages}." if pages > 1 else ""
                await edit_in_place(bot, query, f"⚙ {line.name}: which process starts on {event}?{paging}", keyboard)
                return await answer(query)
            elif action != "l":
                raise tampered()
        except Refusal as refusal:
            return await answer(query, f"Not changed: {refusal.reason}", alert=True)
        text, keyboard = await rules_view(line, operators, autostart, catalog)
        await edit_in_place(bot, query, text, keyboard)
        return await answer(query, toast)

    # --- anything else -----------------------------------------------------------------------------
    @router.callback_query()
    async def on_unknown_button(query: CallbackQuery) -> Any:
        return await answer(query, tampered().reason, alert=True)

    return router


async def drop_picker(bot: Bot, chat_id: int, message_id: int, text: str) -> None:
    """The picker has served: core announces the start in the topic, so the menu goes away
    (where it cannot be deleted, it loses its buttons)."""
    try:
        await bot.delete_message(chat_id=chat_id, message_id=message_id)
    except TelegramBadRequest:
        with contextlib.suppress(TelegramBadRequest):
            await bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text, reply_markup=None)


async def answer(query: CallbackQuery, text: str = "", *, alert: bool = False) -> None:
    """Answer a button press. A press Telegram no longer accepts answers for (older than about 15 s, or
    replayed after a restart) is still handled: the answer is dropped, the update does not fail."""
    try:
        await query.answer(text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…", show_alert=alert)
    except TelegramBadRequest as err:
        words = err.message.lower()
        if "query is too old" not in words and "query id is invalid" not in words:
            raise
        log.info("callback query %s could not be answered any more: %s", query.id, err.message)


def named_operator(operators: Operators, line_id: str, word: str) -> OperatorConfig:
    """The operator of the line that `word` names (id or name, any case); a refusal lists who there is."""
    wanted = word.casefold()
    staff = operators.of_line(line_id)
    found = [o for o in staff if o.id == wanted] or [o for o in staff if o.name.casefold() == wanted]
    if len(found) == 1:
        return found[0]
    names = ", ".join(o.name for o in staff) or "nobody"
    if found:
        raise Refusal(
            f"Several operators are called {word!r}: use their id ({', '.join(o.id for o in found)}).", "ambiguous"
        )
    raise Refusal(
        f"No operator {word!r} on line {line_id!r}. Operators of the line: {names}; or /transfer queue.", "wrong_line"
    )


def require_admin(operators: Operators, user_id: int) -> OperatorConfig:
    operator = operators.by_telegram(user_id)
    if operator is None:
        raise not_operator()
    if not operator.admin:
        raise Refusal("Only admins can change automatic start.", "not_admin")
    return operator


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


async def edit_in_place(bot: Bot, query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    try:
        await bot.edit_message_text(
            chat_id=message.chat.id, message_id=message.message_id, text=text, reply_markup=keyboard
        )
    except TelegramBadRequest as err:  # unchanged, or the menu was deleted meanwhile: nothing to redo
        if "not modified" not in err.message.lower():
            log.info("menu %s not edited: %s", message.message_id, err.message)
