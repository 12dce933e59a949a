"""`Processes`' integration half (SPEC §12): starting a catalog process over REST (by key, or by a message start
event) and correlating a message to the catch events waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.bpmn.catalog import Catalog
from core.bpmn.engine import WorkflowRun
from core.bpmn.external import deliver_message, waits_for_message
from core.config import Config
from core.model import InstanceRecord, InstanceStatus, OutboxEntry, Session
from core.processes.assignment import AUTOMATION
from core.processes.forms import InstanceBusy
from core.processes.halves import DrivingHalf
from core.workers.records import WorkerFault

REST = "rest"
"""The trigger of instances started over REST."""


@dataclass(frozen=True)
class Correlated:
    """A message's effect: the instances it moved on, and the one it started (by a message start event)."""

    delivered: tuple[InstanceRecord, ...] = ()
    started: InstanceRecord | None = None


class MessagesMixin(DrivingHalf):
    catalog: Catalog
    _config: Config

    if TYPE_CHECKING:  # provided by `Processes`

        async def start(
            self,
            process_id: str,
            session: Session | None,
            *,
            started_by: str,
            trigger: str,
            extra: dict[str, Any] | None = None,
            business_key: str | None = None,
        ) -> InstanceRecord: ...

    async def _business_session(self, business_key: str | None) -> Session | None:
        """A business key that is a session's number makes the instance that session's."""
        if business_key is None or not business_key.isascii() or not business_key.isdigit() or len(business_key) > 18:
            return None
        return await self._store.get_session(int(business_key))

    async def start_over_rest(
        self, process_id: str, variables: dict[str, Any], business_key: str | None
    ) -> InstanceRecord:
        """`POST /engine-rest/process-definition/key/{key}/start`: no session unless the business key names one;
        `client` and `line` variables let blocks reach that client."""
        entry = self.catalog.get(process_id)
        if entry is None:
            raise WorkerFault(404, f"No matching process definition with key: {process_id}")
        line = variables.get("line")
        if line is not None and (not isinstance(line, str) or self._config.line(line) is None):
            raise WorkerFault(400, f"variable 'line': there is no line {line!r}")
        if "client" in variables and not isinstance(variables["client"], str):
            raise WorkerFault(400, "variable 'client' must be a String (a client id such as telegram:1234)")
        session = await self._business_session(business_key)
        return await self.start(
            entry.id, session, started_by=AUTOMATION, trigger=REST, extra=variables, business_key=business_key
        )

    async def correlate(
        self,
        name: str,
        instance_id: str | None,
        business_key: str | None,
        variables: dict[str, Any],
        every: bool,
    ) -> Correlated:
        """`POST /engine-rest/message`: to the waiting catch events (one unless `every`), else a process with that
        message start event is started; Camunda's 400 when nothing (or, without `every`, more than one) matches."""
        candidates = await self._message_candidates(instance_id, business_key)
        matching = [r for r, count in [(r, await self._waits_for(r, name)) for r in candidates] for _ in range(count)]
        if len(matching) > 1 and not every:
            raise WorkerFault(
                400, f"Cannot correlate message '{name}': {len(matching)} executions match the correlation keys"
            )
        if matching:
            delivered = []
            for record in dict.fromkeys(r.id for r in matching):
                moved = await self._deliver(record, name, variables, every)
                if moved is not None:
                    delivered.append(moved)
            return Correlated(delivered=tuple(delivered))
        starts = [e for e in self.catalog if e.start.kind == "message" and e.start.message == name]
        if not starts or instance_id is not None:
            raise WorkerFault(400, f"Cannot correlate message '{name}': No process definition or execution matches")
        started = await self.start_over_rest(starts[0].id, variables, business_key)
        return Correlated(started=started)

    async def _message_candidates(self, instance_id: str | None, business_key: str | None) -> Sequence[InstanceRecord]:
        if instance_id is not None:
            record = await self._store.get_instance(instance_id)
            found = [record] if record is not None else []
        else:
            found = await self._store.list_instances(status=[InstanceStatus.WAITING], limit=10_000)
        return [
            r
            for r in found
            if r.status == InstanceStatus.WAITING  # at a message, or at something else on a parallel branch
            and (business_key is None or r.business_key == business_key)
        ]

    async def _waits_for(self, record: InstanceRecord, name: str) -> int:
        return waits_for_message(WorkflowRun.load(record.state).workflow, name) if record.state else 0

    async def _deliver(
        self, instance_id: str, name: str, variables: dict[str, Any], every: bool
    ) -> InstanceRecord | None:
        try:
            async with self._exclusive(instance_id):
                record = await self._store.get_instance(instance_id)
                if record is None or record.status != InstanceStatus.WAITING:
                    return None
                pending: list[OutboxEntry] = []
                run = WorkflowRun.load(record.state, self._bridge(record, pending))
                if not await asyncio.to_thread(deliver_message, run.workflow, name, variables, every):
                    return None
                record.status = InstanceStatus.RUNNING
                return await self._drive(record, run, pending)
        except InstanceBusy:
            raise WorkerFault(
                500, f"the process instance {instance_id} is busy: retry", "ProcessEngineException"
            ) from None
