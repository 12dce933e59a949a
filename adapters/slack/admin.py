"""The Slack admin surface of automatic start: `/autostart`, its Turn on / Turn off buttons and
process pickers (SPEC §5 "Automatic start").

Same pattern as the desk (`adapters.slack.tracking`): every listener acks first and is tracked, the
clicker's operator comes from the operator middleware and a refusal is answered by the one handler.
Button and menu payloads only name (line, event[, process]); whether the clicker is an admin and
whether the line, event and process exist are all checked again here and in core.

`AutostartRules` builds the rules' blocks and applies an admin's clicks: `/autostart` (here, as an
ephemeral message) and the App Home (`adapters/slack/home.py`) both go through it, each surface with
its own action ids.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import mrkdwn
from adapters.slack.tracking import REQUIRED, Answer, SlackListeners
from core.autostart import EVENTS, Autostart, EffectiveRule, RuleAuthor
from core.bpmn.catalog import Catalog
from core.config import Config, OperatorConfig
from core.errors import Refusal
from core.model import parse_number
from core.operators import Operators

log = logging.getLogger(__name__)

Block = dict[str, Any]

COMMAND = "/autostart"
TOGGLE = "autostart.toggle"
PROCESS = "autostart.process"
PAGE = "autostart.page"

USAGE = (
    f"Use `/autostart` for the list of rules, or `/autostart LINE EVENT PROCESS on|off` (events: {', '.join(EVENTS)})."
)

LINES_PER_PAGE = min(10, (50 - 3) // (1 + len(EVENTS)))
"""Per line: one section and one actions block per event; with the list's head, a note and the page buttons,
a page stays within Slack's 50 blocks however many events there are."""
MAX_OPTIONS = 100
"""Slack's limit on the options of one select menu."""
OPTIONS_PER_PAGE = 300
"""Every row repeats the catalog in its menu: with a big catalog, fewer lines per page keep messages small."""
OPTION_VALUE = 150
OPTION_TEXT = 75
BUTTON_TEXT = 75
ACTION_ID = 255

ICONS = {True: "🟢 on", False: "⚪ off"}


@dataclass(frozen=True)
class RuleIds:
    """The action ids of one surface's rule buttons and menus (a menu's id is `<process>:LINE:EVENT`)."""

    toggle: str
    process: str
    page: str


COMMAND_IDS = RuleIds(TOGGLE, PROCESS, PAGE)


class AutostartRules:
    """Every line's rules as Block Kit, and the changes an admin makes by clicking them."""

    def __init__(self, *, autostart: Autostart, operators: Operators, catalog: Catalog, config: Config):
        self._autostart = autostart
        self._operators = operators
        self._catalog = catalog
        self._config = config

    @property
    def operators(self) -> Operators:
        return self._operators

    @staticmethod
    def admin(operator: OperatorConfig) -> OperatorConfig:
        if not operator.admin:
            raise Refusal("Only admins can change automatic start.", "not_admin")
        return operator

    # --- changes ---------------------------------------------------------------------------------
    async def set_text(self, operator: OperatorConfig, words: list[str]) -> EffectiveRule:
        """`/autostart LINE EVENT PROCESS on|off` (four words, checked by the caller)."""
        self.admin(operator)
        line_id, event, process_id, state = words
        return await self._autostart.set_rule(
            line_id,
            event,
            process_id,
            state.lower() == "on",
            by=RuleAuthor(f"slack:{operator.slack_user}", admin=operator),
        )

    async def toggle(self, operator: OperatorConfig, value: str) -> str:
        """Turn on / Turn off: `value` is "line:event:on|off". Returns the line changed."""
        self.admin(operator)
        line_id, event, state = _parse_toggle(value)
        if self._config.line(line_id) is None:
            raise Refusal(f"There is no line {line_id!r}.", "no_line")
        if event not in EVENTS:
            raise Refusal(f"Unknown event {event!r}: use one of {', '.join(EVENTS)}.", "no_event")
        current = await self._autostart.rule(line_id, event)
        if current is None:
            raise Refusal(f"Line {line_id!r} has no process for {event}: choose one first.", "no_process")
        by = f"slack:{operator.slack_user}"
        await self._autostart.set_rule(line_id, event, current.process_id, state, by=RuleAuthor(by, admin=operator))
        return line_id

    async def choose(self, operator: OperatorConfig, prefix: str, action: dict[str, Any]) -> str:
        """A process chosen for (line, event): the rule keeps its on/off state; a new rule starts off."""
        self.admin(operator)
        line_id, event = _parse_process_action(str(action.get("action_id") or ""), prefix)
        process_id = str((action.get("selected_option") or {}).get("value") or "")
        if not process_id:
            raise _tampered()
        current = await self._autostart.rule(line_id, event)
        enabled = current.enabled if current is not None else False
        by = f"slack:{operator.slack_user}"
        await self._autostart.set_rule(line_id, event, process_id, enabled, by=RuleAuthor(by, admin=operator))
        return line_id

    def page(self, operator: OperatorConfig, value: str) -> int:
        """◀ Previous / Next ▶: the page asked for (admins only)."""
        self.admin(operator)
        page = parse_number(value)
        if page is None:
            raise _tampered()
        return page

    def page_of(self, line_id: str) -> int:
        index = next((i for i, line in enumerate(self._config.lines) if line.id == line_id), 0)
        return index // self._page_size(self._options())

    # --- the list ------------------------------------------------------------------------------
    async def rule_list(self, page: int, ids: RuleIds = COMMAND_IDS) -> tuple[str, list[Block]]:
        """One page of every line's rules: a section per line, then per event a toggle and a process menu."""
        lines = [(line.id, line.name) for line in self._config.lines]
        options = self._options()
        size = self._page_size(options)
        pages = max(1, -(-len(lines) // size))
        page = min(max(page, 0), pages - 1)
        shown = lines[page * size : (page + 1) * size]
        rules = {(r.line_id, r.event): r for r in await self._autostart.rules()}
        blocks: list[Block] = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        "*Automatic start* — per line and event, the process that starts by itself."
                        + (f" Page {page + 1} of {pages}." if pages > 1 else "")
                    ),
                },
            }
        ]
        for line_id, name in shown:
            facts = [f"*{mrkdwn.escape(name)}* · `{line_id}`"]
            for event in EVENTS:
                facts.append(f"• `{event}` → {self._summary(rules.get((line_id, event)))}")
            blocks.append(
                {
                    "type": "section",
                    "block_id": f"line:{line_id}",
                    "text": {"type": "mrkdwn", "text": mrkdwn.cut("\n".join(facts), 3000)},
                }
            )
            for event in EVENTS:
                row = self._row(line_id, event, rules.get((line_id, event)), options, ids)
                if row is not None:
                    blocks.append(row)
        if not lines:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "_No lines are configured._"}})
        if len(self._catalog) > MAX_OPTIONS:
            blocks.append(
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": (
                                f"The menus show the first {MAX_OPTIONS} processes; for the others use "
                                "`/autostart LINE EVENT PROCESS on|off`."
                            ),
                        }
                    ],
                }
            )
        nav = ([_button("◀ Previous", ids.page, str(page - 1))] if page > 0 else []) + (
            [_button("Next ▶", ids.page, str(page + 1))] if page + 1 < pages else []
        )
        if nav:
            blocks.append({"type": "actions", "block_id": "pages", "elements": nav})
        return "Automatic start rules", blocks

    def _row(
        self, line_id: str, event: str, rule: EffectiveRule | None, options: list[tuple[str, list[Block]]], ids: RuleIds
    ) -> Block | None:
        elements: list[Block] = []
        if rule is not None:
            turn_on = not rule.enabled
            elements.append(
                {
                    **_button(
                        f"Turn {'on' if turn_on else 'off'} · {event}",
                        ids.toggle,
                        f"{line_id}:{event}:{'on' if turn_on else 'off'}",
                    ),
                    **({"style": "primary"} if turn_on else {}),
                }
            )
        menu: Block = {
            "type": "static_select",
            "action_id": f"{ids.process}:{line_id}:{event}"[:ACTION_ID],
            "placeholder": _plain(f"Process for {event}", 150),
            "option_groups": [{"label": _plain(title, 75), "options": group} for title, group in options],
        }
        initial = next((o for _, group in options for o in group if rule and o["value"] == rule.process_id), None)
        if initial is not None:
            menu["initial_option"] = initial
        if options:
            elements.append(menu)
        if not elements:
            return None
        return {"type": "actions", "block_id": f"rule:{line_id}:{event}", "elements": elements}

    @staticmethod
    def _page_size(options: list[tuple[str, list[Block]]]) -> int:
        count = sum(len(group) for _, group in options)
        return max(1, min(LINES_PER_PAGE, OPTIONS_PER_PAGE // max(1, count * len(EVENTS))))

    def _options(self) -> list[tuple[str, list[Block]]]:
        """The catalog as option groups by scope, at most 100 options in all (Slack's limit)."""
        groups: list[tuple[str, list[Block]]] = []
        left = MAX_OPTIONS
        for group in self._catalog.grouped():
            options = [
                {"text": _plain(entry.name, OPTION_TEXT), "value": entry.id}
                for entry in group.processes
                if len(entry.id) <= OPTION_VALUE
            ][:left]
            if options:
                groups.append((group.scope.title, options))
                left -= len(options)
            if left <= 0:
                break
        return groups

    def _summary(self, rule: EffectiveRule | None) -> str:
        if rule is None:
            return "_none_ · ⚪ off"
        entry = self._catalog.get(rule.process_id)
        if entry is None:
            name = f"`{rule.process_id}` (not in the catalog)"
        else:
            name = f"*{mrkdwn.escape(entry.name)}* (`{rule.process_id}`)"
        return f"{name} · {ICONS[rule.enabled]} · {self._source(rule.source)}"

    def _source(self, source: str) -> str:
        if source == "file":
            return "from the config file"
        if source.startswith("slack:"):
            operator = self._operators.by_slack(source.removeprefix("slack:"))
            return f"set by {mrkdwn.escape(operator.name) if operator else source}"
        return f"set by {mrkdwn.escape(source)}"

    def describe(self, rule: EffectiveRule) -> str:
        entry = self._catalog.get(rule.process_id)
        name = entry.name if entry else rule.process_id
        shown = mrkdwn.escape(name)
        return f"line `{rule.line_id}`, `{rule.event}` → *{shown}* (`{rule.process_id}`) {ICONS[rule.enabled]}"


class SlackAdmin:
    def __init__(
        self, listeners: SlackListeners, *, autostart: Autostart, operators: Operators, catalog: Catalog, config: Config
    ):
        self.rules = AutostartRules(autostart=autostart, operators=operators, catalog=catalog, config=config)
        app, on = listeners.app, listeners.on
        on(app.command, COMMAND, self.on_command, COMMAND_REFUSED, REQUIRED)
        on(app.action, TOGGLE, self.on_toggle, NOT_CHANGED, REQUIRED)
        on(app.action, re.compile(rf"^{re.escape(PROCESS)}:"), self.on_process, NOT_CHANGED, REQUIRED)
        on(app.action, PAGE, self.on_page, NOT_CHANGED, REQUIRED)

    async def rule_list(self, page: int) -> tuple[str, list[Block]]:
        return await self.rules.rule_list(page)

    # --- the command --------------------------------------------------------------------------
    async def on_command(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        words = (command.get("text") or "").split()
        self.rules.admin(operator)
        if not words:
            text, blocks = await self.rules.rule_list(0)
            await ack(text=text, blocks=blocks)
            return
        if len(words) != 4 or words[3].lower() not in ("on", "off"):
            await ack(text=USAGE)
            return
        rule = await self.rules.set_text(operator, words)
        await ack(text=f"Automatic start is now: {self.rules.describe(rule)}.")

    # --- buttons and menus ---------------------------------------------------------------------
    async def on_toggle(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        line_id = await self.rules.toggle(operator, str(_action(body).get("value") or ""))
        await self._replace(respond, line_id)

    async def on_process(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        line_id = await self.rules.choose(operator, PROCESS, _action(body))
        await self._replace(respond, line_id)

    async def on_page(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        page = self.rules.page(operator, str(_action(body).get("value") or ""))
        text, blocks = await self.rules.rule_list(page)
        await respond(text=text, blocks=blocks, replace_original=True)

    async def _replace(self, respond: AsyncRespond, line_id: str) -> None:
        """Show the list again, on the page of the line just changed, in place of the old one."""
        text, blocks = await self.rules.rule_list(self.rules.page_of(line_id))
        await respond(text=text, blocks=blocks, replace_original=True)


def _command_refused(reason: str, body: dict[str, Any]) -> dict[str, Any]:
    """`/autostart` alone: the reason; `/autostart …` changing a rule: "Not changed: " and the reason."""
    return {"text": f"Not changed: {reason}" if (body.get("text") or "").split() else reason}


async def _not_changed(reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """A refused click: "Not changed: …" to the clicker, through the response URL or as an ephemeral message."""
    text = f"Not changed: {reason}"
    if body.get("response_url") and context.respond is not None:
        await context.respond(text=text, replace_original=False, response_type="ephemeral")
        return
    channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
    if channel and context.client is not None:
        await context.client.chat_postEphemeral(channel=channel, user=_user(body), text=text)


COMMAND_REFUSED = Answer(in_ack=_command_refused)
NOT_CHANGED = Answer(after=_not_changed)


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else {}
    return first if isinstance(first, dict) else {}


def _tampered() -> Refusal:
    return Refusal("This button is not valid (stale or tampered with).", "tampered")


def _parse_toggle(value: str) -> tuple[str, str, bool]:
    """ "line:event:on|off" — line ids and event names hold no colon. Whether they exist is core's check."""
    parts = value.split(":")
    if len(parts) != 3 or parts[2] not in ("on", "off") or not parts[0] or not parts[1]:
        raise _tampered()
    return parts[0], parts[1], parts[2] == "on"


def _parse_process_action(action_id: str, prefix: str) -> tuple[str, str]:
    parts = action_id.split(":")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        raise _tampered()
    return parts[1], parts[2]


def _button(text: str, action_id: str, value: str) -> Block:
    return {
        "type": "button",
        "action_id": action_id[:ACTION_ID],
        "text": _plain(text, BUTTON_TEXT),
        "value": value[:2000],
    }


def _plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": mrkdwn.cut(text, limit), "emoji": True}
