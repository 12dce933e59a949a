"""What the desk says of an instance waiting for workers (SPEC §12): per external task, "waiting for a worker on
topic X", "locked by worker W until …", or the worker's failure with its message and what happens next."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from core.model import InstanceRecord, InstanceStatus
from core.store.base import Store
from core.workers.book import TaskBook
from core.workers.records import ExternalTask

if TYPE_CHECKING:
    from core.processes.control import InstanceSummary


def _at(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%H:%M:%S UTC")


def task_words(task: ExternalTask, now: float) -> str:
    if task.locked(now) and task.lock_expires is not None:
        return f"locked by worker {task.worker_id} until {_at(task.lock_expires)} (topic {task.topic})"
    words = f"waiting for a worker on topic {task.topic}"
    if task.error_message is not None or task.retries is not None:
        failure = f"worker {task.worker_id} failed: {task.error_message or 'no message'}"
        again = f", again from {_at(task.retry_at)}" if task.retry_at and task.retry_at > now else ""
        words += f" ({failure}; {task.retries} retries left{again})"
    return words


async def worker_words(store: Store, record: InstanceRecord, summary: InstanceSummary, now: float) -> InstanceSummary:
    """The summary with its state told task by task, when the instance waits for workers."""
    if record.status != InstanceStatus.WAITING or not record.worker_tasks:
        return summary
    book = TaskBook(store)
    found = [task for task_id in record.worker_tasks if (task := await book.get(task_id)) is not None]
    if not found:
        return summary
    return dataclasses.replace(summary, state="; ".join(task_words(task, now) for task in found))
