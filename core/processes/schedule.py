"""Timer start events (SPEC §11 "Start events other than none"): catalog processes started on schedule, with
no session.

The schedule lives in the store, so it survives restarts and is shared by several linedesk instances:
per process, the definition, when it was first seen, when it last ran and how often (`RefSpace.TIMER_START`).
The next due time is computed from the definition and the last run; each due time is claimed in the store
before the process starts, so two instances never start it twice. After a downtime a missed time starts the
process once, then the schedule goes on from now (as Camunda's job executor does). A changed definition
starts a new schedule.
"""

from __future__ import annotations

import logging
from typing import Protocol

from core.bpmn.catalog import Catalog, ProcessEntry
from core.bpmn.cycles import CycleError, parse_cycle
from core.clock import Clock
from core.errors import Refusal
from core.model import InstanceRecord, Session
from core.refs import RefSpace
from core.store.base import Store

log = logging.getLogger(__name__)

CLAIM_TTL = 7 * 24 * 3600.0
TRIGGER = "timer"


class Starter(Protocol):
    async def start(
        self, process_id: str, session: Session | None, *, started_by: str, trigger: str
    ) -> InstanceRecord: ...


class Schedule:
    def __init__(self, store: Store, clock: Clock, catalog: Catalog, starter: Starter, started_by: str):
        self._store = store
        self._clock = clock
        self._catalog = catalog
        self._starter = starter
        self._started_by = started_by

    def timed(self) -> list[ProcessEntry]:
        return [entry for entry in self._catalog if entry.start.kind == "timer"]

    async def next_due(self, entry: ProcessEntry) -> float | None:
        """When the process starts next (None: never again), recording the schedule on first sight."""
        start = entry.start
        if start.timer_kind is None or start.timer is None:
            return None
        try:
            cycle = parse_cycle(start.timer_kind, start.timer)
        except (CycleError, ValueError):
            return None  # check-config names it
        definition = f"{start.timer_kind}:{start.timer}"
        state = await self._store.get_ref(RefSpace.TIMER_START, entry.id)
        if state is None or state.get("definition") != definition:
            now = self._clock.now()
            state = {"definition": definition, "anchor": now, "last": now, "runs": 0}
            await self._store.set_ref(RefSpace.TIMER_START, entry.id, state)
        return cycle.due_after(float(state["last"]), float(state["anchor"]), int(state["runs"]))

    async def start_due(self) -> int:
        """Start every timer-start process that is due; returns how many started."""
        started = 0
        for entry in self.timed():
            try:
                started += await self._start_if_due(entry)
            except Exception:
                log.exception("timer start of %s failed", entry.id)
        return started

    async def _start_if_due(self, entry: ProcessEntry) -> int:
        now = self._clock.now()
        due = await self.next_due(entry)
        if due is None or due > now:
            return 0
        if not await self._store.claim(f"timer-start:{entry.id}:{due}", CLAIM_TTL, now):
            return 0  # another linedesk started it
        state = await self._store.get_ref(RefSpace.TIMER_START, entry.id) or {}
        state.update(last=max(now, due), runs=int(state.get("runs", 0)) + 1)
        await self._store.set_ref(RefSpace.TIMER_START, entry.id, state)
        log.info("timer start of %s due at %s", entry.id, due)
        try:
            await self._starter.start(entry.id, None, started_by=self._started_by, trigger=TRIGGER)
        except Refusal as refusal:
            log.warning("timer start of %s refused: %s", entry.id, refusal.reason)
            return 0
        return 1
