"""What `Processes`' halves (forms, control) use of the driving half in `Processes` itself, declared once."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from core.bpmn.engine import BlockBridge, WorkflowRun
from core.courier import Courier
from core.model import InstanceRecord, OutboxEntry, Session
from core.operators import Operators
from core.store.base import Store


class DrivingHalf:
    """The parts and the driving methods a half of `Processes` calls; `Processes` provides them."""

    _store: Store
    _operators: Operators
    _courier: Courier

    if TYPE_CHECKING:  # the driving half, in `Processes`

        def _exclusive(self, instance_id: str, *, wait: bool = True) -> AbstractAsyncContextManager[None]: ...

        def _bridge(self, record: InstanceRecord, pending: list[OutboxEntry]) -> BlockBridge: ...

        async def _drive(
            self, record: InstanceRecord, run: WorkflowRun, pending: list[OutboxEntry]
        ) -> InstanceRecord: ...

        async def _fail(
            self,
            record: InstanceRecord,
            run: WorkflowRun | None,
            error: str,
            task: str | None,
            pending: list[OutboxEntry] | None = None,
        ) -> InstanceRecord: ...

        async def _commit(
            self, record: InstanceRecord, outbox: list[OutboxEntry], run: WorkflowRun | None = None
        ) -> None: ...

        def _task_card(self, record: InstanceRecord, task: Any, session: Session) -> list[OutboxEntry]: ...

        async def _offer_worker_tasks(self, record: InstanceRecord, run: WorkflowRun) -> None: ...
