"""The Slack App Home: each operator's status with buttons, their active sessions (and the queued ones of
their lines) with links to the threads, and for admins the problems Slack reports, each desk's load (open
sessions, backlog, lag) and every line's auto-start rules (SPEC §5).

The Home is published (`views.publish`) when the operator opens it and again after each click in it.
Every click is checked again here and in core (who, admin or not, which line, event and process);
a refused click changes nothing and the Home comes back with the reason on top.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn
from adapters.slack.admin import AutostartRules, RuleIds
from adapters.slack.reports import summary_blocks
from adapters.slack.tracking import OPTIONAL, REQUIRED, Answer, SlackListeners
from core.clock import Clock
from core.config import Config, OperatorConfig
from core.desk_load import UNASSIGNED, desk_load
from core.errors import Refusal
from core.health import Health, Problem
from core.links import LinkKind
from core.model import OperatorStatus, Session, SessionStatus
from core.refs import RefSpace
from core.reports import build_report, measure_for, parse_period
from core.store.base import Store

log = logging.getLogger(__name__)

Block = dict[str, Any]

STATUS = "home.status"
HOME_IDS = RuleIds("home.autostart.toggle", "home.autostart.process", "home.autostart.page")
CALLBACK_ID = "home"

MAX_SESSIONS = 20
MAX_QUEUED = 10
MAX_PROBLEMS = 10
VIEW_BLOCKS = 100
STATUS_ICONS = {OperatorStatus.ONLINE: "🟢", OperatorStatus.BUSY: "🟠", OperatorStatus.OFFLINE: "⚪"}
STATUS_HINTS = {
    OperatorStatus.ONLINE: "you answer clients and receive new sessions.",
    OperatorStatus.BUSY: "you answer clients; new sessions are not assigned to you.",
    OperatorStatus.OFFLINE: "your messages do not reach clients and you cannot start processes.",
}


class SlackHome:
    def __init__(
        self,
        listeners: SlackListeners,
        *,
        store: Store,
        config: Config,
        rules: AutostartRules,
        health: Health,
        clock: Clock,
    ):
        """Registers the Home's event on `listeners.events` and its buttons on `listeners.app`."""
        self._store = store
        self._config = config
        self._operators = rules.operators
        self._rules = rules
        self._health = health
        self._clock = clock
        app, on = listeners.app, listeners.on
        answer = Answer(after=self._not_changed)
        on(listeners.events.event, "app_home_opened", self.on_opened, operator=OPTIONAL)
        on(app.action, STATUS, self.on_status, answer, REQUIRED)
        on(app.action, HOME_IDS.toggle, self.on_toggle, answer, REQUIRED)
        on(app.action, re.compile(rf"^{re.escape(HOME_IDS.process)}:"), self.on_process, answer, REQUIRED)
        on(app.action, HOME_IDS.page, self.on_page, answer, REQUIRED)

    # --- listeners ---------------------------------------------------------------------------
    async def on_opened(self, event: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig | None) -> None:
        """Only the Home tab is ours to draw (the Messages tab is the DM with the app)."""
        user = str(event.get("user") or "")
        if event.get("tab") == "home" and user:
            await self.publish(client, user, operator)

    async def on_status(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig
    ) -> None:
        await ack()
        try:
            status = OperatorStatus(str(_action(body).get("value") or ""))
        except ValueError:
            raise Refusal("This button is not valid (stale or tampered with).", "tampered") from None
        await self._operators.set_status(operator.id, status)
        await self.publish(client, _user(body), operator)

    async def on_toggle(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig
    ) -> None:
        await ack()
        line_id = await self._rules.toggle(operator, str(_action(body).get("value") or ""))
        await self.publish(client, _user(body), operator, page=self._rules.page_of(line_id))

    async def on_process(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig
    ) -> None:
        await ack()
        line_id = await self._rules.choose(operator, HOME_IDS.process, _action(body))
        await self.publish(client, _user(body), operator, page=self._rules.page_of(line_id))

    async def on_page(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig
    ) -> None:
        await ack()
        page = self._rules.page(operator, str(_action(body).get("value") or ""))
        await self.publish(client, _user(body), operator, page=page)

    async def _not_changed(self, reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
        """A refused click changes nothing: the Home comes back with the reason on top."""
        if context.client is not None:
            operator = context.get("operator")
            await self.publish(context.client, _user(body), operator, notice=f"Not changed: {reason}")

    # --- the view ------------------------------------------------------------------------------
    async def publish(
        self,
        client: AsyncWebClient,
        user_id: str,
        operator: OperatorConfig | None,
        *,
        page: int = 0,
        notice: str | None = None,
    ) -> None:
        """The Home of `user_id`, who is `operator` (None: not an operator)."""
        view = await self.view(client, operator, page=page, notice=notice)
        await client.views_publish(user_id=user_id, view=view)

    async def view(
        self, client: AsyncWebClient, operator: OperatorConfig | None, *, page: int = 0, notice: str | None = None
    ) -> dict[str, Any]:
        """The Home of `operator`: at most 100 blocks (status 3, sessions 3, problems ≤ 12, desks 2, the last 7 days 2,
        rules ≤ 45)."""
        blocks: list[Block] = []
        if notice:
            blocks.append(_context(f"⚠ {notice}"))
        if operator is None:
            blocks.append(
                _section(
                    "You are not a linedesk operator: an admin can add your Slack user to "
                    "`[[operators]]` in the config."
                )
            )
            return _home(blocks)
        blocks += await self._status(operator)
        blocks += await self._sessions(client, operator)
        if operator.admin:
            blocks += self._problems(self._health.problems())
            blocks += await self._desks()
            blocks += await self._last_week()
            blocks.append({"type": "header", "text": _plain("Automatic start", 150)})
            _, rules = await self._rules.rule_list(page, HOME_IDS)
            blocks += rules
        return _home(blocks)

    async def _status(self, operator: OperatorConfig) -> list[Block]:
        status = (await self._operators.state(operator.id)).status
        buttons = []
        for choice in OperatorStatus:
            button: Block = {
                "type": "button",
                "action_id": STATUS,
                "value": choice.value,
                "text": _plain(f"{STATUS_ICONS[choice]} {choice.value.capitalize()}", 75),
            }
            if choice == status:
                button["style"] = "primary"
            buttons.append(button)
        return [
            {"type": "header", "text": _plain(f"{operator.name} · {status.value}", 150)},
            _section(f"Your status: {STATUS_ICONS[status]} *{status.value}* — {STATUS_HINTS[status]}"),
            {"type": "actions", "block_id": "status", "elements": buttons},
        ]

    async def _sessions(self, client: AsyncWebClient, operator: OperatorConfig) -> list[Block]:
        sessions = await self._store.list_sessions(
            status=[SessionStatus.ACTIVE], assignee=operator.id, limit=MAX_SESSIONS + 1
        )
        lines = [await self._session_line(client, session) for session in sessions[:MAX_SESSIONS]]
        if len(sessions) > MAX_SESSIONS:
            lines.append(f"_…and more: the newest {MAX_SESSIONS} are shown._")
        text = "\n".join(lines) if lines else "_You have no active sessions. Take one on the desk._"
        blocks = [{"type": "header", "text": _plain("Your active sessions", 150)}, _section(text, block_id="sessions")]
        queued = await self._queued(operator)
        if queued:
            waiting = [await self._session_line(client, session) for session in queued[:MAX_QUEUED]]
            if len(queued) > MAX_QUEUED:
                waiting.append(f"_…and more: the oldest {MAX_QUEUED} are shown._")
            blocks.append(_section("*Waiting in the queue of your lines*\n" + "\n".join(waiting), block_id="queue"))
        return blocks

    async def _queued(self, operator: OperatorConfig) -> list[Session]:
        """Queued sessions of the operator's lines, oldest first (spam and closed ones are never listed)."""
        queued: list[Session] = []
        for line in self._config.lines:
            if operator.serves(line.id):
                queued += await self._store.list_sessions(status=[SessionStatus.QUEUED], line_id=line.id, limit=1000)
        return sorted(queued, key=lambda session: session.number)

    async def _session_line(self, client: AsyncWebClient, session: Session) -> str:
        customer = await self._store.get_client(session.client_id)
        line = self._config.line(session.line_id)
        who = customer.name if customer else "unknown client"
        title = mrkdwn.escape(f"#{session.number} · {who}").replace("|", "¦")
        link = await self._permalink(client, session.number)
        shown = f"<{link}|{title}>" if link else f"*{title}*"
        return f"• {shown} · {mrkdwn.escape(line.name if line else session.line_id)}"

    async def _permalink(self, client: AsyncWebClient, number: int) -> str | None:
        """The link to the session's thread (kept once known: a permalink does not change)."""
        known = await self._store.get_ref(RefSpace.SLACK_PERMALINK, str(number))
        if known is not None:
            return str(known["url"])
        link = await self._store.link_of(LinkKind.SESSION_THREAD, str(number))
        if link is None:
            return None
        root = link.data
        try:
            response = await client.chat_getPermalink(channel=root["channel"], message_ts=root["ts"])
        except SlackApiError as err:
            log.warning("no permalink for session #%s: %s", number, err.response.get("error"))
            return None
        url = str(response.get("permalink") or "")
        if not url:
            return None
        await self._store.set_ref(RefSpace.SLACK_PERMALINK, str(number), {"url": url})
        return url

    async def _desks(self) -> list[Block]:
        """Each desk's load, one line per desk: open sessions (Slack channels), backlog and lag — when a
        channel's lag keeps growing, the line needs another desk channel (`slack_desk_channels`)."""
        loads = await desk_load(self._store, self._config, self._clock.now(), open_sessions=True)
        if not loads:
            return []
        rows = []
        for load in loads:
            platform, _, where = load.desk.partition(":")
            place = f"<#{where}>" if platform == "slack" and where != UNASSIGNED else f"`{mrkdwn.escape(load.desk)}`"
            sessions = f"{load.open_sessions} open, " if load.open_sessions is not None else ""
            rows.append(
                f"• *{mrkdwn.escape(load.line_id)}* {place}: {sessions}{load.backlog} waiting, lag {load.lag:.0f} s"
            )
        return [{"type": "header", "text": _plain("Desks", 150)}, _section("\n".join(rows), block_id="desks")]

    async def _last_week(self) -> list[Block]:
        """Every line's report of the last 7 days, as `/report 7d` shows it (SPEC §15)."""
        now = self._clock.now()
        period = parse_period("7d", None, now)
        return summary_blocks(await build_report(self._store, None, period, now, measure_for(self._config)))

    @staticmethod
    def _problems(problems: Sequence[Problem]) -> list[Block]:
        blocks: list[Block] = [{"type": "header", "text": _plain("Problems", 150)}]
        if not problems:
            blocks.append(_section("_None: Slack accepts everything linedesk sends._", block_id="problems"))
            return blocks
        for index, problem in enumerate(problems[:MAX_PROBLEMS]):
            since = int(problem.since)
            blocks.append(
                _section(
                    f"⚠ {mrkdwn.escape(problem.text)}\n<!date^{since}^since {{date_short}} {{time}}|since {since}>",
                    block_id=f"problem:{index}",
                )
            )
        if len(problems) > MAX_PROBLEMS:
            blocks.append(_context(f"…and {len(problems) - MAX_PROBLEMS} more: see linedesk's log and /readyz."))
        return blocks


def _home(blocks: list[Block]) -> dict[str, Any]:
    if len(blocks) > VIEW_BLOCKS:
        log.error("App Home of %s blocks cut to %s", len(blocks), VIEW_BLOCKS)
        blocks = blocks[:VIEW_BLOCKS]
    return {"type": "home", "callback_id": CALLBACK_ID, "blocks": blocks}


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else {}
    return first if isinstance(first, dict) else {}


def _section(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn.cut(text, 3000)}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn.cut(text, 3000)}]}


def _plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": mrkdwn.cut(text, limit), "emoji": True}
