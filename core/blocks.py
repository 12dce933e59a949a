"""Blocks: the service tasks linedesk gives processes (SPEC §6).

A block is performed outside the synchronous engine; what it sends to a platform
is returned as outbox entries, which the process service commits atomically with
the instance's next step — a crash never sends a reply twice or loses it.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from core import asks
from core.asks import ASK, AskError, AskRecord
from core.bpmn import juel
from core.clock import Clock
from core.config import Config
from core.courier import Courier, to_client, to_desk
from core.errors import Refusal
from core.http_calls import HttpCaller, HttpReply, ReplyTooLarge, http_refusal
from core.model import AuthorKind, Client, InstanceRecord, Item, Message, OutboxEntry, Session, SessionStatus
from core.outbox_actions import AskQuestion, ClientStatusCard, StatusCard
from core.refs import RefSpace
from core.retry import Backoff
from core.sessions import Sessions
from core.store.base import Store

REPLY = "linedesk.reply"
INITIATIVE = "linedesk.initiative"
STATUS = "linedesk.status"
CREATE_ITEM = "linedesk.create_item"
CLOSE_SESSION = "linedesk.close_session"
HTTP = "linedesk.http"

BLOCKS = (REPLY, INITIATIVE, STATUS, CREATE_ITEM, CLOSE_SESSION, HTTP, ASK)
HTTP_TIMEOUT = 10.0
HTTP_ATTEMPTS = 3
HTTP_BACKOFF = 0.5
"""Seconds before the second try of an http block; doubled before each later one."""
HTTP_MAX_BODY = 1_000_000
"""Bytes of a reply the http block reads at most; a longer one fails the instance (and is not read further)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "float",
        "int",
        "len",
        "list",
        "max",
        "min",
        "round",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "isinstance",
        "range",
        "enumerate",
    )
}


class BlockError(Exception):
    """A block could not do its job; the instance fails with this message."""


def render(template: str, data: dict[str, Any]) -> Any:
    """A block parameter: "=expr" is a Python expression over the instance data; a text with `${…}` /
    `#{…}` is JUEL (Camunda's: one expression gives its value, a text with several gives a string);
    any other text has its {name} placeholders replaced by variables."""
    if template.startswith("="):
        try:
            return eval(template[1:], {"__builtins__": _SAFE_BUILTINS, "datetime": dt, "json": json}, dict(data))
        except Exception as err:
            raise BlockError(f"expression {template!r} failed: {type(err).__name__}: {err}") from err
    if juel.is_juel(template):
        try:
            return juel.evaluate(template, data)
        except juel.JuelError as err:
            raise BlockError(str(err)) from err

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in data:
            raise BlockError(f"missing variable {name!r} in {template!r}")
        value = data[name]
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(substitute, template)


@dataclass
class BlockOutcome:
    result: Any = None
    outbox: list[OutboxEntry] = field(default_factory=list)
    ask: AskRecord | None = None
    """Set by `linedesk.ask`: the question put; the task stays open and the instance waits for the answer."""


class Blocks:
    def __init__(
        self,
        store: Store,
        config: Config,
        clock: Clock,
        courier: Courier,
        sessions: Sessions,
        http: HttpCaller | None = None,
    ):
        self._store = store
        self._config = config
        self._clock = clock
        self._courier = courier
        self._sessions = sessions
        self._http = http
        self._http_backoff = HTTP_BACKOFF

    async def perform(self, topic: str, args: dict[str, Any], instance: InstanceRecord, task_key: str) -> BlockOutcome:
        """Perform one block for an instance; `task_key` identifies the task run (for idempotence)."""
        if topic == REPLY:
            return await self._reply(instance, _text(args))
        if topic == INITIATIVE:
            return await self._initiative(instance, _text(args), args.get("client"), args.get("line"))
        if topic == STATUS:
            return await self._status(instance, _text(args))
        if topic == CREATE_ITEM:
            return await self._create_item(instance, args, task_key)
        if topic == CLOSE_SESSION:
            return await self._close_session(instance)
        if topic == HTTP:
            return await self._http_call(args, task_key)
        if topic == ASK:
            raise BlockError("linedesk.ask waits for the client: use it as a service task, not from a script")
        raise BlockError(f"unknown block {topic!r}")

    async def _session_and_client(self, instance: InstanceRecord) -> tuple[Session, Client]:
        if instance.session is None:
            raise BlockError(
                "this instance has no session (started by a timer or the REST API): "
                "use linedesk.initiative with a client and a line"
            )
        session = await self._store.get_session(instance.session)
        if session is None:
            raise BlockError(f"session #{instance.session} does not exist")
        client = await self._store.get_client(session.client_id)
        if client is None:
            raise BlockError(f"client {session.client_id} does not exist")
        return session, client

    async def _say(self, session: Session, client: Client, text: str, instance: InstanceRecord) -> BlockOutcome:
        message = await self._store.add_message(
            Message(
                session=session.number,
                author_kind=AuthorKind.PROCESS,
                author_id=instance.id,
                author_name=instance.process_name,
                text=text,
                created_at=self._clock.now(),
            )
        )
        outbox = [self._courier.client_text(client, session, text, message, AuthorKind.PROCESS)]
        outbox += self._courier.mirror(session, message)
        return BlockOutcome(result=message.id, outbox=outbox)

    async def ask(self, args: dict[str, Any], instance: InstanceRecord, task_id: str) -> BlockOutcome:
        """Put a question to the instance's client (SPEC §14): a session message with a button per choice;
        the task stays open until the answer (`core.processes.asks`)."""
        try:
            question = asks.question(args)
        except AskError as err:
            raise BlockError(str(err)) from err
        session, client = await self._session_and_client(instance)
        if not session.is_open:
            raise BlockError(f"ask: session #{session.number} is closed: the client cannot be asked")
        message = await self._store.add_message(
            Message(
                session=session.number,
                author_kind=AuthorKind.PROCESS,
                author_id=instance.id,
                author_name=instance.process_name,
                text=question.text + "".join(f"\n[{label}]" for label in question.choices),
                created_at=self._clock.now(),
            )
        )
        record = AskRecord(
            id=asks.new_id(),
            instance_id=instance.id,
            task_id=task_id,
            session=session.number,
            client_id=client.id,
            text=question.text,
            choices=list(question.choices),
            allow_text=question.allow_text,
            message_id=message.id,
            process=instance.process_name,
        )
        await self._store.set_ref(RefSpace.ASK, record.id, record.model_dump(mode="json"))
        action = AskQuestion(
            **to_client(client, session),
            message_id=message.id,
            ask_id=record.id,
            text=question.text,
            choices=list(question.choices),
        )
        outbox = [self._courier.client_entry(client, action), *self._courier.mirror(session, message)]
        return BlockOutcome(outbox=outbox, ask=record)

    async def _reply(self, instance: InstanceRecord, text: str) -> BlockOutcome:
        session, client = await self._session_and_client(instance)
        if not session.is_open:
            return await self._initiative(instance, text, client.id, session.line_id)
        return await self._say(session, client, text, instance)

    async def _initiative(
        self, instance: InstanceRecord, text: str, client_id: str | None, line_id: str | None
    ) -> BlockOutcome:
        client_id = client_id or instance.client_id
        line_id = line_id or instance.line_id
        if not client_id or not line_id:
            raise BlockError("initiative needs a client and a line")
        client = await self._store.get_client(client_id)
        if client is None:
            raise BlockError(f"client {client_id!r} never wrote to linedesk: the channel refuses a first message")
        if client.unreachable:
            raise BlockError(f"client {client_id!r} blocked the bot")
        if self._config.line(line_id) is None:
            raise BlockError(f"unknown line {line_id!r}")
        try:
            session = await self._sessions.open_outbound(line_id, client)
        except Refusal as err:
            raise BlockError(err.reason) from err
        return await self._say(session, client, text, instance)

    async def _status(self, instance: InstanceRecord, text: str) -> BlockOutcome:
        session, client = await self._session_and_client(instance)
        outbox = [
            self._courier.client_entry(
                client, ClientStatusCard(**to_client(client, session), instance_id=instance.id, text=text)
            )
        ]
        outbox += self._courier.desk_entries(
            session, StatusCard(**to_desk(session), instance_id=instance.id, process=instance.process_name, text=text)
        )
        return BlockOutcome(result=text, outbox=outbox)

    async def _create_item(self, instance: InstanceRecord, args: dict[str, Any], task_key: str) -> BlockOutcome:
        app = str(args.get("app") or "").strip()
        if not app:
            raise BlockError("create_item needs an 'app' input")
        done = await self._store.get_ref(RefSpace.ITEM_BY_TASK, task_key)
        if done is not None:
            return BlockOutcome(result=int(done["number"]))
        fields = {k: v for k, v in args.items() if k != "app"}
        item = await self._store.create_item(
            Item(
                app=app,
                number=0,
                fields=_jsonable(fields),
                instance_id=instance.id,
                session=instance.session,
                created_at=self._clock.now(),
            )
        )
        await self._store.set_ref(RefSpace.ITEM_BY_TASK, task_key, {"app": app, "number": item.number})
        return BlockOutcome(result=item.number)

    async def _close_session(self, instance: InstanceRecord) -> BlockOutcome:
        session, _ = await self._session_and_client(instance)
        if session.status != SessionStatus.CLOSED:
            await self._sessions.close(session.number, by=f"process “{instance.process_name}”")
        return BlockOutcome()

    async def _http_call(self, args: dict[str, Any], task_key: str) -> BlockOutcome:
        """Call an allowed host; 5xx and unreachable hosts are retried; the reply's JSON is the result.
        The result is remembered per task run, so a replay after a crash does not call twice."""
        done = await self._store.get_ref(RefSpace.HTTP_BY_TASK, task_key)
        if done is not None:
            return BlockOutcome(result=done.get("result"))
        if self._http is None:
            raise BlockError("the http block has no HTTP client here")
        url = str(args.get("url") or "")
        refusal = http_refusal(url, self._config.processes.http_allow)
        if refusal is not None:
            raise BlockError(f"http: {refusal}")
        method = str(args.get("method") or "POST").upper()
        reply = await self._http_reply(self._http, method, url, args.get("body"))
        if reply.status >= 400:
            raise BlockError(f"http: {method} {url} answered HTTP {reply.status}: {reply.body[:200]}")
        if reply.status >= 300:
            raise BlockError(
                f"http: {method} {url} answered a redirect (HTTP {reply.status}); redirects are "
                "not followed, since their target may be outside processes.http_allow: "
                "call the final URL"
            )
        try:
            result = json.loads(reply.body) if reply.body.strip() else None
        except ValueError:
            raise BlockError(f"http: {method} {url} did not answer JSON: {reply.body[:200]!r}") from None
        await self._store.set_ref(RefSpace.HTTP_BY_TASK, task_key, {"result": result})
        return BlockOutcome(result=result)

    async def _http_reply(self, http: HttpCaller, method: str, url: str, body: Any) -> HttpReply:
        """One reply below HTTP 500: a 5xx or a host that cannot be reached is tried again, HTTP_ATTEMPTS
        times in all, `http_backoff` seconds apart, then twice as long."""

        async def once() -> HttpReply:
            try:
                reply = await http.call(method, url, body, HTTP_TIMEOUT, HTTP_MAX_BODY)
            except (TimeoutError, OSError) as err:
                raise _Unanswered(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__) from err
            if reply.status >= 500:
                raise _Unanswered(f"HTTP {reply.status}")
            return reply

        try:
            return await Backoff(first=self._http_backoff, attempts=HTTP_ATTEMPTS).call(_Unanswered, once)
        except _Unanswered as err:
            raise BlockError(f"http: {method} {url} failed {HTTP_ATTEMPTS} times ({err})") from None
        except ReplyTooLarge:
            raise BlockError(
                f"http: {method} {url} answered more than {HTTP_MAX_BODY:,} bytes "
                f"({HTTP_MAX_BODY / 1_000_000:g} MB), the most the http block reads"
            ) from None


class _Unanswered(Exception):
    """A try of the http block worth another one: a 5xx, or no answer at all."""


def _text(args: dict[str, Any]) -> str:
    text = args.get("text")
    if text is None or str(text) == "":
        raise BlockError("the block needs a non-empty 'text' input")
    return str(text)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(fields, default=str))
    return result
