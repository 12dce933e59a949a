"""External tasks as the store keeps them, what workers ask, and the faults they get (Camunda's status codes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.record import Record

MAX_POLL_MS = 60_000
"""Long polling waits at most this long (SPEC §12)."""


class ExternalTask(Record):
    """One external task of an instance: its topic, and what workers did to it (lock, failures)."""

    id: str
    """The engine's id of the ready service task: stable while the task waits."""
    instance_id: str
    topic: str
    activity_id: str
    process_key: str
    business_key: str | None = None
    retries: int | None = None
    """None until a worker reports a failure (Camunda's null); 0 makes the instance failed."""
    error_message: str | None = None
    error_details: str | None = None
    retry_at: float | None = None
    """A failed task is handed out again from this time on."""
    worker_id: str | None = None
    lock_expires: float | None = None
    priority: int = 0
    created_at: float = 0.0

    def locked(self, now: float) -> bool:
        return self.lock_expires is not None and self.lock_expires > now

    def available(self, now: float) -> bool:
        """Can be handed to a worker now (not locked, not failed for good, not waiting out a retryTimeout)."""
        return not self.locked(now) and self.retries != 0 and (self.retry_at is None or self.retry_at <= now)


class WorkerFault(Exception):
    """A worker request refused: Camunda's status, exception type and message; nothing was changed."""

    def __init__(self, status: int, message: str, kind: str = "InvalidRequestException"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def not_found(task_id: str) -> WorkerFault:
    return WorkerFault(404, f"External task with id {task_id} does not exist")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)


class FetchTopic(_Body):
    topicName: str = Field(min_length=1)
    lockDuration: int = Field(gt=0)
    variables: list[str] | None = None
    processVariables: dict[str, Any] | None = None
    """Only tasks of instances whose variables have these values (Camunda's filter)."""
    businessKey: str | None = None
    processDefinitionKey: str | None = None


class FetchRequest(_Body):
    workerId: str = Field(min_length=1)
    maxTasks: int = Field(ge=0)
    usePriority: bool | None = None
    asyncResponseTimeout: int | None = Field(default=None, ge=0)
    topics: list[FetchTopic] = Field(default_factory=list)


class CompleteRequest(_Body):
    workerId: str = Field(min_length=1)
    variables: dict[str, Any] | None = None
    localVariables: dict[str, Any] | None = None


class FailureRequest(_Body):
    workerId: str = Field(min_length=1)
    errorMessage: str | None = None
    errorDetails: str | None = None
    retries: int = Field(ge=0)
    retryTimeout: int = Field(default=0, ge=0)


class BpmnErrorRequest(_Body):
    workerId: str = Field(min_length=1)
    errorCode: str = Field(min_length=1)
    errorMessage: str | None = None
    variables: dict[str, Any] | None = None


class ExtendLockRequest(_Body):
    workerId: str = Field(min_length=1)
    newDuration: int = Field(gt=0)


class StartRequest(_Body):
    variables: dict[str, Any] | None = None
    businessKey: str | None = None


class MessageRequest(_Body):
    messageName: str = Field(min_length=1)
    processInstanceId: str | None = None
    businessKey: str | None = None
    processVariables: dict[str, Any] | None = None
    all: bool = False
    resultEnabled: bool = False
