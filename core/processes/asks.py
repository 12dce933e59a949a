"""Instances waiting for a client's answer to `linedesk.ask` (SPEC §14): parking them, and the answer.

The answer is one transition of the instance, made under its lock: it counts only while the instance still
waits for that very ask (`waiting_for = "ask:<id>"`); the ask's task is completed with the answer in its
result variable, and the instance is driven on — the edit of the question and the desk's notice are committed
with its first step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from core.asks import REPLIES, WAITING_PREFIX, AskRecord, Outcome, answered_text, waiting_for
from core.bpmn.engine import EngineError, WorkflowRun
from core.courier import to_client
from core.events import MessageReceived
from core.model import InstanceRecord, InstanceStatus, OutboxEntry
from core.outbox_actions import AskAnswered
from core.processes.forms import InstanceBusy
from core.processes.halves import DrivingHalf
from core.refs import RefSpace

log = logging.getLogger(__name__)

__all__ = ["REPLIES", "AsksMixin", "Outcome"]


class AsksMixin(DrivingHalf):
    """`Processes`' part for `linedesk.ask` (mixed into it: uses its store, lock, bridge and driver)."""

    async def _park(
        self, record: InstanceRecord, run: WorkflowRun, pending: list[OutboxEntry], ask: AskRecord | None
    ) -> InstanceRecord:
        """The instance waits for an ask's answer (`ask`: just put; None: still the one it waited for)."""
        record.status = InstanceStatus.WAITING
        if ask is not None:
            record.waiting_for, record.task_id = waiting_for(ask.id), ask.task_id
        record.wake_at = run.waiting().wake_at  # a timer of a parallel branch still fires
        record.assignee, record.candidates, record.task_note = None, [], None
        await self._offer_worker_tasks(record, run)  # external tasks of a parallel branch (SPEC §12)
        await self._commit(record, list(pending), run)
        pending.clear()
        return record

    @staticmethod
    def _asked(record: InstanceRecord, task_id: str) -> bool:
        """Whether the instance already waits for the answer to the ask task `task_id`."""
        return (record.waiting_for or "").startswith(WAITING_PREFIX) and record.task_id == task_id

    async def ask_of(self, ask_id: str) -> AskRecord | None:
        data = await self._store.get_ref(RefSpace.ASK, ask_id)
        return AskRecord.model_validate(data) if data is not None else None

    async def answer_ask(
        self, ask_id: str, client_id: str, *, choice: int | None = None, text: str | None = None
    ) -> Outcome:
        """A client's answer: the index of the button clicked, or (with `allow_text`) a typed text."""
        ask = await self.ask_of(ask_id)
        if ask is None or ask.client_id != client_id:
            return Outcome.INVALID
        if choice is not None:
            if not 0 <= choice < len(ask.choices):
                return Outcome.INVALID
            answer = ask.choices[choice]
        elif text is not None and ask.allow_text:
            answer = text
        else:
            return Outcome.INVALID
        try:
            async with self._exclusive(ask.instance_id):
                return await self._take_answer(ask, answer)
        except InstanceBusy:
            return Outcome.CLOSED

    async def _take_answer(self, ask: AskRecord, answer: str) -> Outcome:
        record = await self._store.get_instance(ask.instance_id)
        if record is None or record.status != InstanceStatus.WAITING or record.waiting_for != waiting_for(ask.id):
            return Outcome.CLOSED
        pending: list[OutboxEntry] = []
        run = WorkflowRun.load(record.state, self._bridge(record, pending))
        block = next((b for b in run.ready_blocks() if b.task_id == ask.task_id), None)
        if block is None:
            return Outcome.CLOSED
        session = await self._store.get_session(ask.session)
        client = await self._store.get_client(ask.client_id)
        if session is not None and client is not None:
            edited = AskAnswered(
                **to_client(client, session), message_id=ask.message_id, text=answered_text(ask, answer)
            )
            pending.append(self._courier.client_entry(client, edited))
            pending += self._courier.notice(session, f"⚙ {ask.process} · {client.name} answered: {answer}")
        record.waiting_for, record.task_id, record.status = None, None, InstanceStatus.RUNNING
        try:
            result = {block.result_variable: answer} if block.result_variable else {}
            await asyncio.to_thread(run.complete, ask.task_id, result)
        except EngineError as err:
            await self._fail(record, run, str(err), block.bpmn_id, pending)
            return Outcome.TAKEN
        await self._drive(record, run, pending)
        return Outcome.TAKEN

    async def _typed_answer(self, event: MessageReceived, waiting: Sequence[InstanceRecord]) -> bool:
        """A client's message answers the session's open question that takes a typed answer (then no other
        wait takes it). True when it did."""
        text = event.message.text.strip()
        if not text:
            return False
        for candidate in waiting:
            if not (candidate.waiting_for or "").startswith(WAITING_PREFIX):
                continue
            ask = await self.ask_of(candidate.waiting_for.removeprefix(WAITING_PREFIX))  # type: ignore[union-attr]
            if ask is None or not ask.allow_text or event.message.id <= ask.message_id:
                continue
            outcome = await self.answer_ask(ask.id, event.session.client_id, text=text)
            if outcome == Outcome.TAKEN:
                return True
            log.info("typed answer to ask %s not taken: %s", ask.id, outcome)
        return False
