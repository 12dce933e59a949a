"""Camunda's JSON shapes: what linedesk answers (locked tasks, external tasks, process instances) and how a
request body is read (a pydantic model, or Camunda's 400 naming what is wrong)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.model import InstanceRecord, InstanceStatus
from core.workers.records import ExternalTask, WorkerFault
from core.workers.variables import format_date, to_camunda

Body = TypeVar("Body", bound=BaseModel)


def read_body(raw: bytes, model: type[Body]) -> Body:
    """The JSON body as `model`, or a 400 `InvalidRequestException` naming the first problem."""
    try:
        data = json.loads(raw or b"{}")
    except RecursionError:
        raise WorkerFault(400, "the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise WorkerFault(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise WorkerFault(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise WorkerFault(400, f"{where}: {first['msg']}") from None


def task_json(task: ExternalTask, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "activityId": task.activity_id,
        "activityInstanceId": f"{task.activity_id}:{task.id}",
        "errorMessage": task.error_message,
        "errorDetails": task.error_details,
        "executionId": task.id,
        "id": task.id,
        "lockExpirationTime": format_date(task.lock_expires) if task.lock_expires else None,
        "processDefinitionId": task.process_key,
        "processDefinitionKey": task.process_key,
        "processDefinitionVersionTag": None,
        "processInstanceId": task.instance_id,
        "tenantId": None,
        "retries": task.retries,
        "suspended": False,
        "workerId": task.worker_id,
        "priority": task.priority,
        "topicName": task.topic,
        "businessKey": task.business_key,
    }
    if variables is not None:
        body["variables"] = to_camunda(variables)
        body["extensionProperties"] = {}
    return body


def instance_json(record: InstanceRecord) -> dict[str, Any]:
    ended = record.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)
    return {
        "id": record.id,
        "definitionId": record.process_id,
        "definitionKey": record.process_id,
        "businessKey": record.business_key,
        "caseInstanceId": None,
        "ended": ended,
        "suspended": False,
        "tenantId": None,
        "links": [],
        "state": record.status.value,
    }


def fault_json(fault: WorkerFault) -> dict[str, Any]:
    return {"type": fault.kind, "message": fault.message}
