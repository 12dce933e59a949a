"""The `/engine-rest` routes on linedesk's one aiohttp server: `Authorization: Bearer` with
LINEDESK_WORKER_TOKEN (or the admin token), else 401; Camunda's error body `{"type", "message"}`."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from core.clock import Clock
from core.config import Config
from core.errors import Refusal
from core.processes import Processes
from core.store.base import Store
from core.workers.records import (
    BpmnErrorRequest,
    CompleteRequest,
    ExtendLockRequest,
    FailureRequest,
    FetchRequest,
    MessageRequest,
    StartRequest,
    WorkerFault,
)
from core.workers.service import Workers
from core.workers.variables import VariableError, from_camunda, to_camunda

from .shapes import fault_json, instance_json, read_body, task_json

PREFIX = "/engine-rest"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class EngineRest:
    def __init__(self, config: Config, store: Store, clock: Clock, processes: Processes):
        self._config = config
        self._store = store
        self._processes = processes
        self.workers = Workers(store, clock, processes)

    def add_routes(self, app: web.Application) -> None:
        app.on_shutdown.append(self._stop_polls)  # before the server waits for requests in flight
        app.on_cleanup.append(self._close)
        router = app.router
        router.add_post(f"{PREFIX}/external-task/fetchAndLock", self._guard(self.fetch_and_lock))
        router.add_get(f"{PREFIX}/external-task", self._guard(self.list_tasks))
        router.add_post(f"{PREFIX}/external-task/{{id}}/complete", self._guard(self.complete))
        router.add_post(f"{PREFIX}/external-task/{{id}}/failure", self._guard(self.failure))
        router.add_post(f"{PREFIX}/external-task/{{id}}/bpmnError", self._guard(self.bpmn_error))
        router.add_post(f"{PREFIX}/external-task/{{id}}/extendLock", self._guard(self.extend_lock))
        router.add_post(f"{PREFIX}/process-definition/key/{{key}}/start", self._guard(self.start))
        router.add_post(f"{PREFIX}/message", self._guard(self.message))
        router.add_get(f"{PREFIX}/process-instance/{{id}}", self._guard(self.instance))
        router.add_get(f"{PREFIX}/process-instance/{{id}}/variables", self._guard(self.variables))

    async def _stop_polls(self, app: web.Application) -> None:
        self.workers.stop_polls()

    async def _close(self, app: web.Application) -> None:
        await self.workers.close()

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").encode()
        tokens = [t for t in (self._config.worker_token, self._config.admin_token) if t]
        ok = False
        for token in tokens:  # every token compared, in constant time
            ok |= hmac.compare_digest(given, f"Bearer {token}".encode())
        return ok

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._authorized(request):
                return web.json_response(
                    {"type": "AuthenticationException", "message": "bad or missing bearer token"}, status=401
                )
            try:
                return await handler(request)
            except WorkerFault as fault:
                return web.json_response(fault_json(fault), status=fault.status)
            except Refusal as refusal:
                return web.json_response({"type": "InvalidRequestException", "message": refusal.reason}, status=400)

        return guarded

    # --- external tasks -----------------------------------------------------------------------------------
    async def fetch_and_lock(self, request: web.Request) -> web.Response:
        body = read_body(await request.read(), FetchRequest)
        locked = await self.workers.fetch_and_lock(body)
        return web.json_response([task_json(t.task, t.variables) for t in locked])

    async def list_tasks(self, request: web.Request) -> web.Response:
        query = request.query
        locked_text = query.get("locked")
        if locked_text not in (None, "true", "false"):
            raise WorkerFault(400, "locked must be true or false")
        found = await self.workers.list_tasks(
            query.get("topicName"),
            None if locked_text is None else locked_text == "true",
            query.get("processInstanceId"),
        )
        return web.json_response([task_json(task) for task in found])

    async def complete(self, request: web.Request) -> web.Response:
        await self.workers.complete(request.match_info["id"], read_body(await request.read(), CompleteRequest))
        return web.Response(status=204)

    async def failure(self, request: web.Request) -> web.Response:
        await self.workers.failure(request.match_info["id"], read_body(await request.read(), FailureRequest))
        return web.Response(status=204)

    async def bpmn_error(self, request: web.Request) -> web.Response:
        await self.workers.bpmn_error(request.match_info["id"], read_body(await request.read(), BpmnErrorRequest))
        return web.Response(status=204)

    async def extend_lock(self, request: web.Request) -> web.Response:
        await self.workers.extend_lock(request.match_info["id"], read_body(await request.read(), ExtendLockRequest))
        return web.Response(status=204)

    # --- starts and messages ---------------------------------------------------------------------------
    async def start(self, request: web.Request) -> web.Response:
        body = read_body(await request.read(), StartRequest)
        record = await self._processes.start_over_rest(
            request.match_info["key"], _variables(body.variables, "variables"), body.businessKey
        )
        return web.json_response(instance_json(record))

    async def message(self, request: web.Request) -> web.StreamResponse:
        body = read_body(await request.read(), MessageRequest)
        outcome = await self._processes.correlate(
            body.messageName,
            body.processInstanceId,
            body.businessKey,
            _variables(body.processVariables, "processVariables"),
            body.all,
        )
        if not body.resultEnabled:
            return web.Response(status=204)
        results: list[dict[str, Any]] = [
            {
                "resultType": "Execution",
                "execution": {"id": r.id, "processInstanceId": r.id, "ended": False},
                "processInstance": instance_json(r),
            }
            for r in outcome.delivered
        ]
        if outcome.started is not None:
            results.append(
                {
                    "resultType": "ProcessDefinition",
                    "execution": None,
                    "processInstance": instance_json(outcome.started),
                }
            )
        return web.json_response(results)

    # --- process instances -----------------------------------------------------------------------------
    async def instance(self, request: web.Request) -> web.Response:
        record = await self._store.get_instance(request.match_info["id"])
        if record is None:
            raise WorkerFault(404, f"Process instance with id {request.match_info['id']} does not exist")
        return web.json_response(instance_json(record))

    async def variables(self, request: web.Request) -> web.Response:
        record = await self._store.get_instance(request.match_info["id"])
        if record is None:
            raise WorkerFault(404, f"Process instance with id {request.match_info['id']} does not exist")
        return web.json_response(to_camunda(await self._processes.variables(record.id)))


def _variables(given: Any, what: str) -> dict[str, Any]:
    try:
        return from_camunda(given, what)
    except VariableError as err:
        raise WorkerFault(400, str(err)) from None
