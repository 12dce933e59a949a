"""Automatic start: (line, event) → process, on or off (SPEC §5 "Automatic start").

The config's rules are the defaults. A catalog process whose message start event is named like an event
(`session.created`, …) is an always-on rule of its own on every line, next to (not instead of) the line's
rule for that event; when the line's rule names that same process it starts once. A rule changed at run
time (Slack, Telegram, CLI, API) is stored with the file's rule as it was then, and wins until the file's rule
itself changes. Every (rule, session, event occurrence) starts at most one instance —
claimed in the store, so a duplicate delivery or a second linedesk instance starts nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from core.bpmn.catalog import Catalog
from core.clock import Clock
from core.config import Config, OperatorConfig
from core.errors import Refusal
from core.events import (
    DomainEvent,
    EventBus,
    MessageReceived,
    SessionAssigned,
    SessionClosed,
    SessionCreated,
    SessionRated,
)
from core.model import AutostartRule, InstanceRecord, Session, SessionStatus
from core.processes import AUTOMATION
from core.store.base import Store

log = logging.getLogger(__name__)

EVENTS = ("session.created", "message.received", "session.closed", "session.rated", "session.assigned")
CLAIM_TTL = 30 * 24 * 3600.0


@dataclass(frozen=True)
class EffectiveRule:
    line_id: str
    event: str
    process_id: str
    enabled: bool
    source: str
    """"file", or who changed it at run time."""


@dataclass(frozen=True)
class RuleAuthor:
    """Who changes a rule at run time: `name` becomes the rule's source ("cli", "api", "slack:U…").
    `admin` is the acting operator, who must be an admin unless `require_admin` is off (the CLI and the
    admin API, authenticated already)."""

    name: str
    admin: OperatorConfig | None = None
    require_admin: bool = True


class ProcessStarter(Protocol):
    """What auto-start needs of the process service: the catalog, and a way to start an instance."""

    catalog: Catalog

    async def start(
        self,
        process_id: str,
        session: Session | None,
        *,
        started_by: str,
        trigger: str,
        extra: dict[str, Any] | None = None,
    ) -> InstanceRecord: ...


def file_rule_text(process_id: str | None, enabled: bool | None) -> str:
    return f"{process_id}:{'on' if enabled else 'off'}" if process_id else ""


class Autostart:
    """Rules are looked up on every event that may fire one (every client message), so a line's runtime rules
    are cached for firing, keyed by the rules' version in the store: `Store.save_rule` counts every change, and
    the client's message reads the count in the same store call that reads the client and their session
    (`Store.client_context`), which its events carry (`MessageReceived.rules_version`). A cache of an older
    version is read again, so a change takes effect from the next client message wherever it was made — here,
    on another instance sharing the Redis, or by the CLI (another process) — at no store call of its own; a
    change made here also drops the cache at once. A short TTL was the other choice: it would cost nothing either,
    but a change made elsewhere would miss the messages of the next second (the CLI's change must hold for the
    very next message). Events that carry no version (a session closed, a process's initiative) read the rules
    from the store, as do the admin surfaces (`rule`, `rules`)."""

    def __init__(self, store: Store, config: Config, clock: Clock, processes: ProcessStarter):
        self._store = store
        self._config = config
        self._clock = clock
        self._processes = processes
        self._cached: dict[str, tuple[int, dict[str, AutostartRule]]] = {}
        """line id → (the rules' version, the line's runtime rules by event)"""

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(SessionCreated, self._on_event)
        bus.subscribe(MessageReceived, self._on_event)
        bus.subscribe(SessionClosed, self._on_event)
        bus.subscribe(SessionRated, self._on_event)
        bus.subscribe(SessionAssigned, self._on_event)

    # --- reading rules ---------------------------------------------------------------------
    def _file_rule(self, line_id: str, event: str) -> tuple[str | None, bool | None]:
        line = self._config.line(line_id)
        rule = line.autostart_rule(event) if line else None
        return (rule.process, rule.enabled) if rule else (None, None)

    async def rules(self, line_id: str | None = None) -> list[EffectiveRule]:
        """Every line's effective rule per event (only events that have one), lines in config order."""
        runtime = {(r.line_id, r.event): r for r in await self._store.list_rules(line_id)}
        result = []
        for line in self._config.lines:
            if line_id is not None and line.id != line_id:
                continue
            for event in EVENTS:
                rule = self._effective(line.id, event, runtime.get((line.id, event)))
                if rule is not None:
                    result.append(rule)
        return result

    async def rule(self, line_id: str, event: str) -> EffectiveRule | None:
        runtime = {r.event: r for r in await self._store.list_rules(line_id)}
        return self._effective(line_id, event, runtime.get(event))

    async def firing_rule(self, line_id: str, event: str, version: int | None = None) -> EffectiveRule | None:
        """`rule`, from the cache when the rules are still at `version` (see the class); None: from the store."""
        if version is None:
            return await self.rule(line_id, event)
        cached = self._cached.get(line_id)
        if cached is None or cached[0] < version:
            # read after the version was: never older than it (a change since makes the next message read again)
            cached = (version, {r.event: r for r in await self._store.list_rules(line_id)})
            self._cached[line_id] = cached
        return self._effective(line_id, event, cached[1].get(event))

    def _effective(self, line_id: str, event: str, runtime: AutostartRule | None) -> EffectiveRule | None:
        process_id, enabled = self._file_rule(line_id, event)
        current = file_rule_text(process_id, enabled)
        if runtime is not None and (runtime.file_rule or "") == current:
            return EffectiveRule(line_id, event, runtime.process_id, runtime.enabled, runtime.source)
        if process_id is None:
            return None
        return EffectiveRule(line_id, event, process_id, bool(enabled), "file")

    async def reconcile(self) -> int:
        """At start: a runtime rule whose file rule has changed since loses for good (the file wins, and
        keeps winning even if the file later goes back to what it was). Returns how many were replaced."""
        replaced = 0
        for runtime in await self._store.list_rules():
            process_id, enabled = self._file_rule(runtime.line_id, runtime.event)
            current = file_rule_text(process_id, enabled)
            if (runtime.file_rule or "") == current:
                continue
            self._cached.clear()
            await self._store.save_rule(
                AutostartRule(
                    line_id=runtime.line_id,
                    event=runtime.event,
                    process_id=process_id or runtime.process_id,
                    enabled=bool(enabled),
                    source="file",
                    file_rule=current,
                    updated_at=self._clock.now(),
                )
            )
            log.info(
                "auto-start %s %s: the config's rule changed, it replaces the runtime one",
                runtime.line_id,
                runtime.event,
            )
            replaced += 1
        return replaced

    # --- changing rules ----------------------------------------------------------------------
    async def set_rule(
        self,
        line_id: str,
        event: str,
        process_id: str,
        enabled: bool,
        *,
        by: RuleAuthor,
    ) -> EffectiveRule:
        """Store a runtime rule. From Slack/Telegram `by` names the acting operator as `admin`; the CLI and the
        admin API (already authenticated) pass `require_admin=False`."""
        if by.require_admin and (by.admin is None or not by.admin.admin):
            raise Refusal("Only admins can change automatic start.", "not_admin")
        if self._config.line(line_id) is None:
            known = ", ".join(line.id for line in self._config.lines)
            raise Refusal(f"There is no line {line_id!r} (lines: {known}).", "no_line")
        if event not in EVENTS:
            raise Refusal(f"Unknown event {event!r}: use one of {', '.join(EVENTS)}.", "no_event")
        if process_id not in self._processes.catalog:
            raise Refusal(f"There is no process {process_id!r} in the catalog.", "no_process")
        process, file_enabled = self._file_rule(line_id, event)
        rule = AutostartRule(
            line_id=line_id,
            event=event,
            process_id=process_id,
            enabled=enabled,
            source=by.name,
            file_rule=file_rule_text(process, file_enabled),
            updated_at=self._clock.now(),
        )
        self._cached.clear()
        await self._store.save_rule(rule)
        self._cached.clear()  # also what was read while it was being stored
        log.info(
            "auto-start %s %s → %s turned %s by %s", line_id, event, process_id, "on" if enabled else "off", by.name
        )
        return EffectiveRule(line_id, event, process_id, enabled, by.name)

    # --- firing ------------------------------------------------------------------------------
    async def _on_event(self, event: DomainEvent) -> None:
        session: Session = event.session  # type: ignore[attr-defined]
        if session.status == SessionStatus.SPAM:
            return
        if isinstance(event, SessionCreated) and session.outbound:
            return  # opened by a process's initiative message: the process is already there
        if isinstance(event, MessageReceived):
            occurrence = f"{session.number}:{event.message.id}"
        elif isinstance(event, SessionClosed):
            occurrence = f"{session.number}:{session.closed_at}"
        elif isinstance(event, SessionAssigned):
            occurrence = f"{session.number}:{event.assignee}:{session.updated_at}"
        else:  # created, rated: once per session
            occurrence = str(session.number)
        extra = _instance_data(event)
        rule = await self.firing_rule(session.line_id, event.name, getattr(event, "rules_version", None))
        base = f"autostart:{session.line_id}:{event.name}:{occurrence}"
        modelled = self.modelled(event.name)
        if rule is not None and rule.enabled and rule.process_id not in modelled:
            await self._fire(session, event.name, rule.process_id, base, extra)
        for process_id in modelled:  # a message start named like the event: on for every line
            await self._fire(session, event.name, process_id, f"{base}:{process_id}", extra)

    def modelled(self, event_name: str) -> list[str]:
        """Processes whose message start event is named like the auto-start event: they act as an always-on
        rule on every line, whatever the rules say (SPEC §11)."""
        return [entry.id for entry in self._processes.catalog if entry.start.autostart_event == event_name]

    async def _fire(
        self, session: Session, event_name: str, process_id: str, key: str, extra: dict[str, Any] | None = None
    ) -> None:
        if process_id not in self._processes.catalog:
            log.error("auto-start %s %s names %r, which is not in the catalog", session.line_id, event_name, process_id)
            return
        if not await self._store.claim(key, CLAIM_TTL, self._clock.now()):
            log.info("auto-start %s already claimed: not starting twice", key)
            return
        fresh = await self._store.get_session(session.number) or session
        try:
            await self._processes.start(process_id, fresh, started_by=AUTOMATION, trigger=event_name, extra=extra)
        except Refusal as refusal:
            log.info("auto-start %s refused: %s", key, refusal.reason)
        except Exception:
            await self._store.release(key)  # not started: a redelivery of the event may try again
            raise


def _instance_data(event: DomainEvent) -> dict[str, Any] | None:
    """What an event adds to the started instance's variables (SPEC §14): the rating, the new assignee."""
    if isinstance(event, SessionRated):
        return {"rating": event.rating}
    if isinstance(event, SessionAssigned):
        return {"assignee": event.assignee}
    return None
