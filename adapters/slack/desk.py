"""The Slack desk: Bolt listeners that turn operators' Slack actions into core calls.

Every listener acks first; what follows runs after the ack (Bolt keeps running the listener once ack() has
answered Slack). `adapters.slack.tracking` is how they run: registered with `SlackListeners.on`, tracked,
handed the clicker's operator by listener middleware (`REQUIRED`: a stranger is refused before the listener
runs), and a `Refusal` they raise is shown as each listener's `Answer` says — no listener catches one.
Every value that arrives in a payload — session numbers, process ids, instance ids — is re-checked by
core, never trusted.

Bolt runs only the first listener that matches a request, so `acknowledge_the_rest()` — which
answers 200 to whatever no listener of linedesk takes — is registered last, once every part of the
Slack app has registered its own.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import views
from adapters.slack.control import SlackControl
from adapters.slack.form_opener import FormOpener, Prepared
from adapters.slack.messages import SlackMessages
from adapters.slack.tracking import (
    ACK_BUDGET,
    OPTIONAL,
    REQUIRED,
    Answer,
    SlackListeners,
    in_ack,
    not_operator,
)
from core.config import OperatorConfig
from core.desk_card import Cards
from core.errors import Refusal
from core.links import LinkKind
from core.model import InstanceStatus, OperatorStatus, Session, SessionStatus, parse_number
from core.operators import Operators
from core.processes import Processes
from core.sessions import Sessions
from core.store.base import Store

log = logging.getLogger(__name__)

SHORTCUT = "start_process"
"""callback_id of the message shortcut "Start process" (slack-manifest.yml)."""
NOT_A_THREAD = (
    "Start process works on the messages of a session's thread: this message is not in one. "
    "Use it on the session's card or on a message under it."
)


async def _tell(reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """An ephemeral message to the clicker, in the thread of the message clicked."""
    channel = _channel(body)
    if channel and context.client is not None:
        await context.client.chat_postEphemeral(
            channel=channel, user=_user(body), text=reason, thread_ts=_thread_ts(body)
        )


def _respond(prefix: str) -> Answer:
    async def after(reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
        if context.respond is not None:
            await context.respond(text=f"{prefix}{reason}", response_type="ephemeral", replace_original=False)

    return Answer(after=after)


async def _tell_in_thread(reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await _post_in_thread(body, context, reason, None)


TELL = Answer(after=_tell)
COMMAND = in_ack()
FORM = Answer(
    in_ack=lambda reason, body: {"response_action": "errors", "errors": _all_fields(body["view"], reason)}, mrkdwn=False
)
SHORTCUT_TELL = Answer(after=_tell_in_thread)


class SlackDesk:
    def __init__(
        self,
        listeners: SlackListeners,
        *,
        store: Store,
        cards: Cards,
        sessions: Sessions,
        processes: Processes,
        operators: Operators,
    ):
        self._store = store
        self._cards = cards
        self._sessions = sessions
        self._processes = processes
        self._operators = operators
        self._listeners = listeners
        self._forms = FormOpener()
        self._register(listeners)
        SlackMessages(listeners, store=store, sessions=sessions, operators=operators)
        SlackControl(listeners, store=store, sessions=sessions, processes=processes, operators=operators)

    def _register(self, listeners: SlackListeners) -> None:
        app, on = listeners.app, listeners.on
        on(app.command, "/status", self.on_status, COMMAND, REQUIRED)
        on(app.command, "/startprocess", self.on_startprocess, COMMAND, REQUIRED)
        on(app.action, views.TAKE, self.on_take, TELL, REQUIRED)
        on(app.action, views.CLOSE, self.on_close, TELL, REQUIRED)
        on(app.action, views.MENU, self.on_menu, TELL, REQUIRED)
        on(app.action, views.UNSPAM, self.on_unspam, TELL, REQUIRED)
        transfer_to = re.compile(rf"^{re.escape(views.TRANSFER_TO)}(:[\w-]+)?$")
        on(app.action, transfer_to, self.on_transfer_to, _respond("Not transferred: "), REQUIRED)
        on(app.action, re.compile(rf"^{re.escape(views.START)}(:\d+)?$"), self.on_start_button, TELL, REQUIRED)
        not_started = _respond("Not started: ")
        on(app.action, re.compile(rf"^{re.escape(views.PICK)}:"), self.on_pick, not_started, REQUIRED)
        on(app.action, re.compile(rf"^{re.escape(views.PICK_SELECT)}:"), self.on_pick, not_started, REQUIRED)
        on(app.view, views.TASK_FORM, self.on_form_submit, FORM, OPTIONAL)
        on(app.action, views.TASK_OPEN, self.on_task_button, TELL, OPTIONAL)
        on(app.action, views.TASK_TAKE, self.on_task_button, TELL, OPTIONAL)
        on(app.shortcut, SHORTCUT, self.on_shortcut, SHORTCUT_TELL, OPTIONAL)

    # --- operators' words -------------------------------------------------------------
    async def on_status(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        word = (command.get("text") or "").strip().lower()
        if not word:
            state = await self._operators.state(operator.id)
            await ack(text=f"Your status: *{state.status.value}*. Use `/status online|busy|offline`.")
            return
        try:
            status = OperatorStatus(word)
        except ValueError:
            await ack(text=f"Unknown status {word!r}: use `/status online`, `busy` or `offline`.")
            return
        await self._operators.set_status(operator.id, status)
        await ack(text=f"Your status is now *{status.value}*.")

    async def on_startprocess(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        text = (command.get("text") or "").strip().lstrip("#")
        if text:
            number = parse_number(text)
            if number is None:
                await ack(text="Use `/startprocess` or `/startprocess N` for session #N.")
                return
        else:
            state = await self._operators.state(operator.id)
            last = await self._store.get_session(state.last_session) if state.last_session else None
            if last is None or not last.is_open:
                fallback, blocks = await self._session_list(operator.id)
                await ack(text=fallback, blocks=blocks)
                return
            number = last.number
        fallback, blocks = await self._picker(number, operator)
        await ack(text=fallback, blocks=blocks)

    async def _session_list(self, operator_id: str) -> tuple[str, list[dict[str, Any]]]:
        sessions = await self._store.list_sessions(status=[SessionStatus.ACTIVE], assignee=operator_id, limit=25)
        pairs = []
        for session in sessions:
            client = await self._store.get_client(session.client_id)
            if client is not None:
                pairs.append((session, client))
        return views.session_list(pairs)

    async def _picker(self, number: int, operator: OperatorConfig) -> tuple[str, list[dict[str, Any]]]:
        session = await self._sessions.require(number)
        await self._operators.require_active(operator, session, "start processes")
        client = await self._store.get_client(session.client_id)
        if client is None:
            raise Refusal(f"Session #{number} has no client.", "no_client")
        return views.process_picker(session, client, self._processes.catalog.grouped())

    # --- buttons -------------------------------------------------------------------------
    async def on_take(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        await self._redraw(respond, await self._sessions.take(_session_number(body), operator.id))

    async def on_close(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        closed = await self._sessions.close(_session_number(body), operator.name, operator_id=operator.id)
        await self._redraw(respond, closed)

    async def on_unspam(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        await self._redraw(respond, await self._sessions.unmark_spam(_session_number(body), operator.id))

    async def _redraw(self, respond: AsyncRespond, session: Session) -> None:
        """The clicked card shows the click's outcome at once (SPEC §13): through the click's response URL, which
        no channel or `chat.update` budget paces, instead of after the desk's queue. The outbox's refresh still
        follows (it redraws the other desk; this card only should it show something else by then, e.g. this
        failed). Drawn once more if the session changed while it was drawn, so that an older state never
        overwrites a newer card."""
        for _ in range(2):
            async with self._cards.drawing(views.SLACK_CARD, session.number):
                facts = await self._cards.facts(session)
                if facts.client is None:
                    return
                text, blocks = views.session_card_of(facts, facts.client)
                if self._cards.shows(views.SLACK_CARD, session.number, (text, blocks)):
                    return  # the outbox's refresh came first
                try:
                    answer = await respond(text=text, blocks=blocks, replace_original=True)
                except Exception as err:  # the outbox's refresh redraws it: a failure here only costs speed
                    log.warning("card of session #%s not redrawn from the click: %s", session.number, err)
                    return
                if answer.status_code != 200:
                    log.warning("card of session #%s not redrawn from the click: %s", session.number, answer.body)
                    return
                self._cards.drawn(views.SLACK_CARD, session.number, (text, blocks))
            now = await self._store.get_session(session.number)
            if now is None or now == session:
                return
            session = now

    async def on_menu(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        operator: OperatorConfig,
    ) -> None:
        """The card's menu: **Transfer to…** shows the line's other operators (to the clicker only),
        **Back to the queue** and **Mark as spam** act at once. The choice's value is re-checked."""
        await ack()
        action = (body.get("actions") or [{}])[0]
        try:
            verb, number = views.parse_menu_value(str((action.get("selected_option") or {}).get("value", "")))
        except ValueError:
            raise Refusal("This menu is not valid (stale or tampered with).", "tampered") from None
        if verb == views.MENU_QUEUE:
            await self._redraw(respond, await self._sessions.transfer(number, operator.id, None))
        elif verb == views.MENU_SPAM:
            await self._redraw(respond, await self._sessions.mark_spam(number, operator.id))
        else:
            text, blocks = await self._transfer_picker(number, operator)
            await client.chat_postEphemeral(
                channel=_channel(body), user=_user(body), text=text, blocks=blocks, thread_ts=_thread_ts(body)
            )

    async def _transfer_picker(self, number: int, operator: OperatorConfig) -> tuple[str, list[dict[str, Any]]]:
        session = await self._sessions.require(number)
        await self._operators.require_active(operator, session, "transfer sessions")
        customer = await self._store.get_client(session.client_id)
        if customer is None:
            raise Refusal(f"Session #{number} has no client.", "no_client")
        choices = []
        for other in self._operators.of_line(session.line_id):
            if other.id not in (operator.id, session.assignee):
                choices.append((other.id, other.name, (await self._operators.state(other.id)).status.value))
        return views.transfer_picker(session, customer, choices)

    async def on_transfer_to(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        """A button of the transfer picker: core re-checks the clicker, the session and the target."""
        await ack()
        action = (body.get("actions") or [{}])[0]
        try:
            number, target_id = views.parse_transfer_value(str(action.get("value", "")))
        except ValueError:
            raise Refusal("This button is not valid (stale or tampered with).", "tampered") from None
        session = await self._sessions.transfer(number, operator.id, target_id)
        target = self._operators.get(session.assignee) if session.assignee else None
        done = (
            f"➡ Session #{number} is now {target.name}'s." if target else f"↩ Session #{number} is back in the queue."
        )
        await respond(text=done, replace_original=True)

    async def on_start_button(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        operator: OperatorConfig,
    ) -> None:
        """**Start process** on a session card (or a session chosen from the list): show the picker."""
        await ack()
        fallback, blocks = await self._picker(_session_number(body), operator)
        if body.get("container", {}).get("is_ephemeral"):
            await respond(text=fallback, blocks=blocks, replace_original=True)
        else:
            await client.chat_postEphemeral(
                channel=_channel(body), user=_user(body), text=fallback, blocks=blocks, thread_ts=_thread_ts(body)
            )

    async def on_pick(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        operator: OperatorConfig,
    ) -> None:
        """A process chosen: start it at once, then open its first form in a modal (in time: `FormOpener`)."""
        await ack()
        action = (body.get("actions") or [{}])[0]
        value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
        try:
            number, process_id = views.parse_pick_value(value)
        except (ValueError, TypeError, json.JSONDecodeError):
            raise Refusal("This button is not valid (stale or tampered with).", "tampered") from None
        entry = self._processes.catalog.get(process_id)
        name = entry.name if entry is not None else process_id
        waiting = f"{name} is starting for session #{number}: its form opens here as soon as it is ready."
        started = self._start_and_prepare(number, process_id, operator.id)
        await self._forms.open(client, body.get("trigger_id"), waiting, started)
        await respond(text=f"▶ {name} started for session #{number}.", replace_original=True)

    async def on_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, operator: OperatorConfig | None
    ) -> None:
        """The message shortcut **Start process** on any message of a session's thread: the picker of that
        session, visible only to the operator, in the thread."""
        await ack()
        channel, root_ts = _channel(body), _root_ts(body)
        link = (
            await self._store.link_to(LinkKind.SESSION_THREAD, f"{channel}:{root_ts}") if channel and root_ts else None
        )
        if link is None:
            if body.get("response_url") and context.respond is not None:
                await context.respond(text=NOT_A_THREAD, response_type="ephemeral", replace_original=False)
            return
        if operator is None:
            raise not_operator()
        text, blocks = await self._picker(int(link.ours), operator)
        await _post_in_thread(body, context, text, blocks)

    async def _start_and_prepare(self, number: int, process_id: str, operator_id: str) -> Prepared:
        """Start the process; then its first form, if it is the operator's, else what became of it."""
        started = await self._processes.start_manual(number, process_id, operator_id)
        record = await self._processes.get(started.id) or started
        name = record.process_name
        if record.status == InstanceStatus.FAILED:
            return Prepared(name, note=f"✖ {name} failed: {record.error or 'see the session thread'}")
        task = await self._processes.open_task(record.id) if record.assignee == operator_id else None
        if record.status != InstanceStatus.WAITING or task is None:
            return Prepared(name, note=f"▶ {name} started for session #{number}: nothing for you to fill in now.")
        return Prepared(name, form=views.task_modal(name, task, {"i": record.id, "t": task.task_id}))

    async def on_task_button(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig | None
    ) -> None:
        """**Take task** (unassigned) or **Open form** (the operator's own): open the task's modal."""
        await ack()
        instance_id = str((body.get("actions") or [{}])[0].get("value", ""))
        claimed = self._claim_and_prepare(instance_id, operator.id if operator else None)
        await self._forms.open(client, body.get("trigger_id"), "The form opens here as soon as it is ready.", claimed)

    async def _claim_and_prepare(self, instance_id: str, operator_id: str | None) -> Prepared:
        record, task = await self._processes.claim_task(instance_id, operator_id)
        form = views.task_modal(record.process_name, task, {"i": record.id, "t": task.task_id})
        return Prepared(record.process_name, form=form)

    # --- forms ---------------------------------------------------------------------------
    async def on_form_submit(self, ack: AsyncAck, view: dict[str, Any], operator: OperatorConfig | None) -> None:
        """A task form: Slack waits 3 s for the answer (errors, the next form, or nothing). A submission that
        takes longer is acked and goes on in the background (`SlackListeners.within`)."""
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            instance_id, task_id = str(meta["i"]), str(meta["t"])
        except (ValueError, KeyError, TypeError):
            raise Refusal("This form is not valid.", "tampered") from None
        raw = views.form_values(view.get("state", {}).get("values", {}))
        submit = self._processes.submit(instance_id, task_id, operator.id if operator else None, raw)
        result = await self._listeners.within(ACK_BUDGET, submit, "background form submission")
        if result is not None and result.errors:
            await ack(response_action="errors", errors=result.errors)
        elif result is not None and result.next_task is not None:
            task = result.next_task
            view = views.task_modal(result.instance.process_name, task, {"i": result.instance.id, "t": task.task_id})
            await ack(response_action="update", view=view)
        else:
            await ack()


async def _post_in_thread(
    body: dict[str, Any], context: AsyncBoltContext, text: str, blocks: list[dict[str, Any]] | None
) -> None:
    """The shortcut's answer: ephemeral in the thread; through the response URL if Slack refuses that."""
    try:
        await context.client.chat_postEphemeral(
            channel=_channel(body), user=_user(body), thread_ts=_root_ts(body), text=text, blocks=blocks
        )
    except SlackApiError as err:  # e.g. the app left the channel: answer through the shortcut's response URL
        log.warning("Start process shortcut: chat.postEphemeral failed (%s)", err.response.get("error"))
        if body.get("response_url") and context.respond is not None:
            await context.respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def _session_number(body: dict[str, Any]) -> int:
    action = (body.get("actions") or [{}])[0]
    number = parse_number(action.get("value"))
    if number is None:
        raise Refusal("This button is not valid (stale or tampered with).", "tampered")
    return number


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _root_ts(body: dict[str, Any]) -> str:
    message = body.get("message") or {}
    return str(message.get("thread_ts") or message.get("ts") or body.get("message_ts") or "")


def _channel(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")


def _thread_ts(body: dict[str, Any]) -> str | None:
    message = body.get("message") or {}
    return message.get("thread_ts") or message.get("ts") or None


def _all_fields(view: dict[str, Any], message: str) -> dict[str, str]:
    inputs = [b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"]
    return {block_id: message for block_id in inputs if block_id} or {"_": message}


def acknowledge_the_rest(app: AsyncApp) -> None:
    """Answer 200 to every request no listener of linedesk took (events it does not use, buttons of old
    messages, commands and views of other apps), so that Slack neither retries nor shows an error.
    Register it last: Bolt runs the first listener that matches."""

    async def ignore(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        log.debug("Slack request ignored: %s", body.get("type") or body.get("command"))

    async def unknown_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(text=f"linedesk does not know the command {command.get('command')}.")

    anything = re.compile(r".*")
    app.event(anything)(ignore)
    app.action(anything)(ignore)
    app.view(anything)(ignore)
    app.shortcut(anything)(ignore)
    app.options(anything)(ignore)
    app.command(anything)(unknown_command)
