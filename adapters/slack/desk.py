"""The Slack desk: Bolt listeners that turn operators' Slack actions into core calls.

Every listener acks first; what follows runs after the ack (Bolt keeps running the
listener once ack() has answered Slack). Every value that arrives in a payload —
session numbers, process ids, instance ids — is re-checked by core, never trusted.

Bolt runs only the first listener that matches a request, so `acknowledge_the_rest()` — which
answers 200 to whatever no listener of linedesk takes — is registered last, once every part of the
Slack app has registered its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import views
from adapters.slack.delivery import THREAD_REF
from adapters.slack.messages import SlackMessages
from adapters.slack.tracking import ListenerTracker
from core.errors import Refusal
from core.model import InstanceStatus, OperatorStatus, SessionStatus, parse_number
from core.operators import Operators
from core.processes import Processes
from core.sessions import Sessions
from core.store.base import Store

log = logging.getLogger(__name__)

FORM_ACK_BUDGET = 2.0
"""Seconds a form submission may take before we ack and let the process go on in the background."""
SHORTCUT = "start_process"
"""callback_id of the message shortcut "Start process" (slack-manifest.yml)."""
NOT_A_THREAD = (
    "Start process works on the messages of a session's thread: this message is not in one. "
    "Use it on the session's card or on a message under it."
)


class SlackDesk:
    def __init__(
        self,
        app: AsyncApp,
        *,
        store: Store,
        sessions: Sessions,
        processes: Processes,
        operators: Operators,
        events: AsyncApp | None = None,
    ):
        """`events`: the app stored events are dispatched to (`adapters.slack.events`); `app` by default."""
        self._app = app
        self._events = events or app
        self._store = store
        self._sessions = sessions
        self._processes = processes
        self._operators = operators
        self._tracker = ListenerTracker()
        self._register()

    def _register(self) -> None:
        app, track = self._app, self._track
        app.command("/status")(track(self.on_status))
        app.command("/startprocess")(track(self.on_startprocess))
        app.action(views.TAKE)(track(self.on_take))
        app.action(views.CLOSE)(track(self.on_close))
        app.action(views.MENU)(track(self.on_menu))
        app.action(views.UNSPAM)(track(self.on_unspam))
        app.action(re.compile(rf"^{re.escape(views.TRANSFER_TO)}(:[\w-]+)?$"))(track(self.on_transfer_to))
        app.action(re.compile(rf"^{re.escape(views.START)}(:\d+)?$"))(track(self.on_start_button))
        app.action(re.compile(rf"^{re.escape(views.PICK)}:"))(track(self.on_pick))
        app.action(re.compile(rf"^{re.escape(views.PICK_SELECT)}:"))(track(self.on_pick))
        app.view(views.TASK_FORM)(track(self.on_form_submit))
        app.action(views.TASK_OPEN)(track(self.on_task_button))
        app.action(views.TASK_TAKE)(track(self.on_task_button))
        app.shortcut(SHORTCUT)(track(self.on_shortcut))
        SlackMessages(self._events, track, store=self._store, sessions=self._sessions, operators=self._operators)

    def track(self, listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """For the other parts of the Slack app (App Home, messages, /autostart): `idle()` waits for theirs too."""
        return self._tracker.track(listener)

    def _track(self, listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        return self._tracker.track(listener)

    @property
    def busy(self) -> bool:
        return self._tracker.busy

    async def idle(self) -> None:
        """Wait until every listener and background form submission has finished."""
        await self._tracker.idle()

    # --- operators' words -------------------------------------------------------------
    async def on_status(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        operator = self._operators.by_slack(command.get("user_id", ""))
        if operator is None:
            await ack(text="You are not a linedesk operator.")
            return
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

    async def on_startprocess(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        operator = self._operators.by_slack(command.get("user_id", ""))
        if operator is None:
            await ack(text="You are not a linedesk operator.")
            return
        text = (command.get("text") or "").strip().lstrip("#")
        try:
            if text:
                given = parse_number(text)
                if given is None:
                    await ack(text="Use `/startprocess` or `/startprocess N` for session #N.")
                    return
                number = given
            else:
                state = await self._operators.state(operator.id)
                last = await self._store.get_session(state.last_session) if state.last_session else None
                if last is None or not last.is_open:
                    fallback, blocks = await self._session_list(operator.id)
                    await ack(text=fallback, blocks=blocks)
                    return
                number = last.number
            fallback, blocks = await self._picker(number, operator.id)
        except Refusal as refusal:
            await ack(text=refusal.reason)
            return
        await ack(text=fallback, blocks=blocks)

    async def _session_list(self, operator_id: str) -> tuple[str, list[dict[str, Any]]]:
        sessions = await self._store.list_sessions(status=[SessionStatus.ACTIVE], assignee=operator_id, limit=25)
        pairs = []
        for session in sessions:
            client = await self._store.get_client(session.client_id)
            if client is not None:
                pairs.append((session, client))
        return views.session_list(pairs)

    async def _picker(self, number: int, operator_id: str) -> tuple[str, list[dict[str, Any]]]:
        session = await self._sessions.require(number)
        await self._operators.require_active(self._operators.get(operator_id), session, "start processes")
        client = await self._store.get_client(session.client_id)
        if client is None:
            raise Refusal(f"Session #{number} has no client.", "no_client")
        return views.process_picker(session, client, self._processes.catalog.grouped())

    # --- buttons -------------------------------------------------------------------------
    async def on_take(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await self._session_button(body, client, lambda n, op: self._sessions.take(n, op))

    async def on_close(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()

        async def close(number: int, operator_id: str) -> Any:
            operator = self._operators.get(operator_id)
            return await self._sessions.close(
                number, operator.name if operator else operator_id, operator_id=operator_id
            )

        await self._session_button(body, client, close)

    async def on_unspam(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await self._session_button(body, client, lambda n, op: self._sessions.unmark_spam(n, op))

    async def _session_button(self, body: dict[str, Any], client: AsyncWebClient, act: Any) -> None:
        user = body.get("user", {}).get("id", "")
        try:
            operator = self._operators.require_slack(user)
            await act(_session_number(body), operator.id)
        except Refusal as refusal:
            await self._tell(client, body, refusal.reason)

    async def on_menu(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The card's menu: **Transfer to…** shows the line's other operators (to the clicker only),
        **Back to the queue** and **Mark as spam** act at once. The choice's value is re-checked."""
        await ack()
        user = body.get("user", {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        try:
            operator = self._operators.require_slack(user)
            try:
                verb, number = views.parse_menu_value(str((action.get("selected_option") or {}).get("value", "")))
            except ValueError:
                raise Refusal("This menu is not valid (stale or tampered with).", "tampered") from None
            if verb == views.MENU_QUEUE:
                await self._sessions.transfer(number, operator.id, None)
            elif verb == views.MENU_SPAM:
                await self._sessions.mark_spam(number, operator.id)
            else:
                text, blocks = await self._transfer_picker(number, operator.id)
                await client.chat_postEphemeral(
                    channel=_channel(body), user=user, text=text, blocks=blocks, thread_ts=_thread_ts(body)
                )
        except Refusal as refusal:
            await self._tell(client, body, refusal.reason)

    async def _transfer_picker(self, number: int, operator_id: str) -> tuple[str, list[dict[str, Any]]]:
        session = await self._sessions.require(number)
        await self._operators.require_active(self._operators.get(operator_id), session, "transfer sessions")
        customer = await self._store.get_client(session.client_id)
        if customer is None:
            raise Refusal(f"Session #{number} has no client.", "no_client")
        choices = []
        for other in self._operators.of_line(session.line_id):
            if other.id not in (operator_id, session.assignee):
                choices.append((other.id, other.name, (await self._operators.state(other.id)).status.value))
        return views.transfer_picker(session, customer, choices)

    async def on_transfer_to(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """A button of the transfer picker: core re-checks the clicker, the session and the target."""
        await ack()
        user = body.get("user", {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        try:
            operator = self._operators.require_slack(user)
            try:
                number, target_id = views.parse_transfer_value(str(action.get("value", "")))
            except ValueError:
                raise Refusal("This button is not valid (stale or tampered with).", "tampered") from None
            session = await self._sessions.transfer(number, operator.id, target_id)
        except Refusal as refusal:
            await respond(text=f"Not transferred: {refusal.reason}", response_type="ephemeral", replace_original=False)
            return
        target = self._operators.get(session.assignee) if session.assignee else None
        done = (
            f"➡ Session #{number} is now {target.name}'s." if target else f"↩ Session #{number} is back in the queue."
        )
        await respond(text=done, replace_original=True)

    async def on_start_button(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        """**Start process** on a session card (or a session chosen from the list): show the picker."""
        await ack()
        user = body.get("user", {}).get("id", "")
        operator = self._operators.by_slack(user)
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator.", "not_operator")
            fallback, blocks = await self._picker(_session_number(body), operator.id)
        except Refusal as refusal:
            await self._tell(client, body, refusal.reason)
            return
        if body.get("container", {}).get("is_ephemeral"):
            await respond(text=fallback, blocks=blocks, replace_original=True)
        else:
            await client.chat_postEphemeral(
                channel=_channel(body), user=user, text=fallback, blocks=blocks, thread_ts=_thread_ts(body)
            )

    async def on_pick(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        """A process chosen: start it at once, then open its first form in a modal."""
        await ack()
        user = body.get("user", {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
        operator = self._operators.by_slack(user)
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator.", "not_operator")
            try:
                number, process_id = views.parse_pick_value(value)
            except (ValueError, TypeError, json.JSONDecodeError):
                raise Refusal("This button is not valid (stale or tampered with).", "tampered") from None
            record = await self._processes.start_manual(number, process_id, operator.id)
        except Refusal as refusal:
            await respond(text=f"Not started: {refusal.reason}", replace_original=False, response_type="ephemeral")
            return
        await self._open_form(client, body.get("trigger_id"), record.id, operator.id)
        await respond(text=f"▶ {record.process_name} started for session #{number}.", replace_original=True)

    async def on_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        """The message shortcut **Start process** on any message of a session's thread: the picker of that
        session, visible only to the operator, in the thread."""
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        channel = _channel(body)
        message = body.get("message") or {}
        root_ts = str(message.get("thread_ts") or message.get("ts") or body.get("message_ts") or "")
        ref = await self._store.get_ref(THREAD_REF, f"{channel}:{root_ts}") if channel and root_ts else None
        if ref is None:
            if body.get("response_url"):
                await respond(text=NOT_A_THREAD, response_type="ephemeral", replace_original=False)
            return
        operator = self._operators.by_slack(user)
        blocks: list[dict[str, Any]] | None = None
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator.", "not_operator")
            text, blocks = await self._picker(int(ref["session"]), operator.id)
        except Refusal as refusal:
            text = refusal.reason
        try:
            await client.chat_postEphemeral(channel=channel, user=user, thread_ts=root_ts, text=text, blocks=blocks)
        except SlackApiError as err:  # e.g. the app left the channel: answer through the shortcut's response URL
            log.warning("Start process shortcut: chat.postEphemeral failed (%s)", err.response.get("error"))
            if body.get("response_url"):
                await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    async def _open_form(
        self, client: AsyncWebClient, trigger_id: str | None, instance_id: str, operator_id: str
    ) -> None:
        record = await self._processes.get(instance_id)
        if record is None or record.status != InstanceStatus.WAITING or record.assignee != operator_id:
            return
        task = await self._processes.open_task(instance_id)
        if task is None or not trigger_id:
            return
        view = views.task_modal(record.process_name, task, {"i": record.id, "t": task.task_id})
        await client.views_open(trigger_id=trigger_id, view=view)

    async def on_task_button(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """**Take task** (unassigned) or **Open form** (the operator's own): open the task's modal."""
        await ack()
        operator = self._operators.by_slack(body.get("user", {}).get("id", ""))
        instance_id = str((body.get("actions") or [{}])[0].get("value", ""))
        try:
            record, task = await self._processes.claim_task(instance_id, operator.id if operator else None)
        except Refusal as refusal:
            await self._tell(client, body, refusal.reason)
            return
        view = views.task_modal(record.process_name, task, {"i": record.id, "t": task.task_id})
        await client.views_open(trigger_id=body.get("trigger_id", ""), view=view)

    # --- forms ---------------------------------------------------------------------------
    async def on_form_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body.get("user", {}).get("id", "")
        operator = self._operators.by_slack(user)
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            instance_id, task_id = str(meta["i"]), str(meta["t"])
        except (ValueError, KeyError, TypeError):
            await ack(response_action="errors", errors=_all_fields(view, "This form is not valid."))
            return
        raw = views.form_values(view.get("state", {}).get("values", {}))
        job = asyncio.ensure_future(
            self._processes.submit(instance_id, task_id, operator.id if operator else None, raw)
        )
        done, _ = await asyncio.wait({job}, timeout=FORM_ACK_BUDGET)
        if not done:
            self._tracker.keep(job, "background form submission")
            await ack()
            return
        try:
            result = job.result()
        except Refusal as refusal:
            await ack(response_action="errors", errors=_all_fields(view, refusal.reason))
            return
        if result.errors:
            await ack(response_action="errors", errors=result.errors)
        elif result.next_task is not None:
            task = result.next_task
            view = views.task_modal(result.instance.process_name, task, {"i": result.instance.id, "t": task.task_id})
            await ack(response_action="update", view=view)
        else:
            await ack()

    async def _tell(self, client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
        user = body.get("user", {}).get("id", "")
        channel = _channel(body)
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=_thread_ts(body))


def _session_number(body: dict[str, Any]) -> int:
    action = (body.get("actions") or [{}])[0]
    number = parse_number(action.get("value"))
    if number is None:
        raise Refusal("This button is not valid (stale or tampered with).", "tampered")
    return number


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
