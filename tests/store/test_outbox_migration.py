"""The typed outbox's migration (SQLite migration 6, Redis layout 2), on stores as the untyped outbox left them.

Entries are written as linedesk stored them before the typed actions — an `action` name and a `payload`
dict in the entry's JSON, the payloads exactly as the courier and its callers built them (keys no deliverer
read included) — pending, delivered and dead. Opened by this version, every entry reads back as its typed
action, the pending ones are delivered in order, and what no deliverer knew is killed as before.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from core.errors import DeliveryError
from core.model import AuthorKind, OutboxEntry, OutboxStatus
from core.outbox import OutboxWorker
from core.outbox_actions import (
    ClientStatusCard,
    CopyFrom,
    DeleteText,
    Edit,
    EditText,
    Mirror,
    Notice,
    OpenSession,
    RefreshCard,
    SendText,
    StatusCard,
    TaskCard,
    ToClient,
    ToDesk,
    UnknownAction,
    unknown_action,
)
from core.record import Attachment
from core.store import RedisStore, SqliteStore, Store
from core.store.redis import DONE_KEEP_MS
from core.store.sqlite import MIGRATIONS

RedisFactory = Callable[[], Awaitable[RedisStore]]  # the `redis_stores` fixture of conftest.py

DESK = {"session": 7, "line_id": "support"}
CLIENT = {"line_id": "support", "client_id": "telegram:501", "chat_id": "501"}
PHOTO: dict[str, Any] = {
    "kind": "photo",
    "ref": "telegram:support:AgAD",
    "name": None,
    "mime": None,
    "size": 1024,
    "data": {},
}
TG_DESK, SLACK_DESK, TG_CLIENT = "telegram.desk:7", "slack.desk:7", "telegram.client:support:501"

# (route, conversation, action, payload, status) as the untyped outbox stored them, and the typed action read back
LEGACY: list[tuple[str, str, str, dict[str, Any], OutboxStatus, object]] = [
    ("telegram.desk", TG_DESK, "open_session", {**DESK}, OutboxStatus.DONE, OpenSession(session=7, line_id="support")),
    (
        "telegram.desk",
        TG_DESK,
        "mirror",
        {
            **DESK,
            "message_id": 3,
            "author_kind": "client",
            "author_name": "Ivan",
            "text": "my order",
            "internal": False,
            "source_ref": "telegram:support:501:77",
            "media_group": None,
            "reply_to": 2,
            "attachments": [PHOTO],
        },
        OutboxStatus.PENDING,
        Mirror(
            session=7,
            line_id="support",
            message_id=3,
            author_kind=AuthorKind.CLIENT,
            author_name="Ivan",
            text="my order",
            source_ref="telegram:support:501:77",
            attachments=[Attachment.model_validate(PHOTO)],
        ),
    ),
    (
        "telegram.desk",
        TG_DESK,
        "task_card",
        {
            **DESK,
            "instance_id": "i1",
            "task_id": "t-9",
            "task": "Check the refund",
            "process": "Refund",
            "assignee": "anna",
            "assignee_name": "Anna",
        },
        OutboxStatus.PENDING,
        TaskCard(
            session=7,
            line_id="support",
            instance_id="i1",
            task="Check the refund",
            process="Refund",
            assignee_name="Anna",
        ),
    ),
    (
        "telegram.desk",
        TG_DESK,
        "status_card",
        {**DESK, "instance_id": "i1", "process": "Refund", "text": "checking"},
        OutboxStatus.PENDING,
        StatusCard(session=7, line_id="support", instance_id="i1", process="Refund", text="checking"),
    ),
    (
        "slack.desk",
        SLACK_DESK,
        "edit",
        {**DESK, "message_id": 3, "text": "my order #12", "author_name": "Ivan"},
        OutboxStatus.DEAD,
        Edit(session=7, line_id="support", message_id=3, text="my order #12", author_name="Ivan"),
    ),
    (
        "slack.desk",
        SLACK_DESK,
        "refresh_card",
        {**DESK},
        OutboxStatus.PENDING,
        RefreshCard(session=7, line_id="support"),
    ),
    (
        "slack.desk",
        SLACK_DESK,
        "notice",
        {**DESK, "text": "▶ Refund started by Anna"},
        OutboxStatus.PENDING,
        Notice(session=7, line_id="support", text="▶ Refund started by Anna"),
    ),
    (
        "slack.desk",
        SLACK_DESK,
        "bogus",
        {**DESK, "text": "?"},
        OutboxStatus.PENDING,
        UnknownAction(action="bogus", payload={**DESK, "text": "?"}, problem="no such action", session=7),
    ),
    (
        "telegram.client",
        TG_CLIENT,
        "send_text",
        {
            **CLIENT,
            "session": 7,
            "text": "Hello!",
            "message_id": 4,
            "kind": "operator",
            "author_name": "Anna",
            "attachments": [PHOTO],
            "copy_from": {"chat_id": -100, "message_id": 55},
        },
        OutboxStatus.DONE,
        SendText(
            session=7,
            line_id="support",
            client_id="telegram:501",
            chat_id="501",
            text="Hello!",
            message_id=4,
            author_kind=AuthorKind.OPERATOR,
            author_name="Anna",
            attachments=[Attachment.model_validate(PHOTO)],
            copy_from=CopyFrom(chat_id=-100, message_id=55),
        ),
    ),
    (
        "telegram.client",
        TG_CLIENT,
        "send_text",
        {**CLIENT, "session": 7, "text": "Welcome", "message_id": None, "kind": "system"},
        OutboxStatus.PENDING,
        SendText(
            session=7,
            line_id="support",
            client_id="telegram:501",
            chat_id="501",
            text="Welcome",
            author_kind=AuthorKind.SYSTEM,
        ),
    ),
    (
        "telegram.client",
        TG_CLIENT,
        "edit_text",
        {
            **CLIENT,
            "session": 7,
            "message_id": 4,
            "text": "Hello again!",
            "kind": "operator",
            "author_name": "Anna",
            "attachments": [],
        },
        OutboxStatus.PENDING,
        EditText(
            session=7,
            line_id="support",
            client_id="telegram:501",
            chat_id="501",
            message_id=4,
            text="Hello again!",
            author_kind=AuthorKind.OPERATOR,
            author_name="Anna",
        ),
    ),
    (
        "telegram.client",
        TG_CLIENT,
        "status_card",
        {**CLIENT, "instance_id": "i1", "session": 7, "text": "checking"},
        OutboxStatus.PENDING,
        ClientStatusCard(
            session=7, line_id="support", client_id="telegram:501", chat_id="501", instance_id="i1", text="checking"
        ),
    ),
    (
        "telegram.client",
        TG_CLIENT,
        "delete_text",
        {**CLIENT, "session": 7, "message_id": 4},
        OutboxStatus.PENDING,
        DeleteText(session=7, line_id="support", client_id="telegram:501", chat_id="501", message_id=4),
    ),
]

BOGUS = next(n for n, legacy in enumerate(LEGACY, start=1) if legacy[2] == "bogus")


def legacy_doc(number: int, route: str, conversation: str, action: str, payload: dict[str, Any], status: str) -> str:
    """An entry's JSON as the untyped OutboxEntry dumped it (`model_dump_json`)."""
    finished = status != "pending"
    return json.dumps(
        {
            "id": number,
            "conversation": conversation,
            "route": route,
            "action": action,
            "payload": payload,
            "status": status,
            "attempts": 1 if finished else 0,
            "due_at": 100.0 + number,
            "created_at": 100.0 + number,
            "last_error": "Telegram refuses: Forbidden" if status == "dead" else None,
        }
    )


class Recorder:
    """A deliverer as the real ones `match`: the actions of its side, and the rest killed as unknown."""

    def __init__(self, side: type[ToDesk] | type[ToClient]) -> None:
        self.side = side
        self.delivered: list[object] = []

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        if not isinstance(entry.action, self.side):
            raise unknown_action(entry.action, "desk" if self.side is ToDesk else "client")
        self.delivered.append(entry.action)


async def check_upgraded(store: Store) -> None:
    """Every entry reads back typed; the pending ones are delivered in each conversation's order; the unknown
    one dies as the deliverers always killed it."""
    for number, (_route, _conversation, _action, _payload, status, typed) in enumerate(LEGACY, start=1):
        got = await store.outbox_get(number)
        assert got is not None and got.id == number
        assert got.action == typed and got.status == status
    worker = OutboxWorker(store, ManualClock(1000.0))
    recorders = {
        "telegram.desk": Recorder(ToDesk),
        "slack.desk": Recorder(ToDesk),
        "telegram.client": Recorder(ToClient),
    }
    dead: list[tuple[int, str, str]] = []

    async def on_dead(entry: OutboxEntry, err: DeliveryError) -> None:
        dead.append((entry.id, entry.action.kind, str(err)))

    worker.on_dead(on_dead)
    for route, recorder in recorders.items():
        worker.register(route, recorder)
    await worker.drain()
    for route, recorder in recorders.items():
        assert recorder.delivered == [
            typed
            for r, _c, _a, _p, status, typed in LEGACY
            if r == route and status == OutboxStatus.PENDING and not isinstance(typed, UnknownAction)
        ]
    assert dead == [(BOGUS, "unknown", "unknown desk action 'bogus'")]
    for number, (*_, status, _typed) in enumerate(LEGACY, start=1):
        got = await store.outbox_get(number)
        assert got is not None
        if number == BOGUS:
            assert got.status == OutboxStatus.DEAD
        else:  # the pending ones delivered, the others as they were
            assert got.status == (OutboxStatus.DONE if status == OutboxStatus.PENDING else status)
    assert (await store.outbox_stats(1000.0))["pending"] == 0


async def test_sqlite_entries_of_the_untyped_outbox_are_typed_and_delivered(tmp_path: Path) -> None:
    class Before(SqliteStore):
        migrations = tuple(m for m in MIGRATIONS if m[0] < 6)

    path = tmp_path / "old.db"
    old = Before(path)
    await old.open()
    assert await old.schema_version() == 5
    await old.close()
    with sqlite3.connect(path) as db:
        for number, (route, conversation, action, payload, status, _typed) in enumerate(LEGACY, start=1):
            # as the untyped store's _enqueue (then _finish, for delivered and dead ones) wrote them
            db.execute(
                "INSERT INTO outbox (id, conversation, status, due_at, created_at, data) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    number,
                    conversation,
                    status.value,
                    100.0 + number,
                    100.0 + number,
                    legacy_doc(
                        0 if status == OutboxStatus.PENDING else number,
                        route,
                        conversation,
                        action,
                        payload,
                        status.value,
                    ),
                ),
            )
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.schema_version() == MIGRATIONS[-1][0] == 10
        with sqlite3.connect(path) as db:
            for (data,) in db.execute("SELECT data FROM outbox"):
                doc = json.loads(data)
                assert "payload" not in doc and isinstance(doc["action"], dict) and doc["action"]["kind"]
        await check_upgraded(store)
    finally:
        await store.close()
    again = SqliteStore(path)  # a second opening changes nothing
    await again.open()
    try:
        got = await again.outbox_get(2)
        assert got is not None and got.action == LEGACY[1][5] and got.status == OutboxStatus.DONE
    finally:
        await again.close()


async def test_redis_entries_of_the_untyped_outbox_are_typed_and_delivered(redis_stores: RedisFactory) -> None:
    first = await redis_stores()
    r, k = first._r, first._k
    await r.delete(k("schema"))  # a store of the untyped outbox: layout 0 (its quiet index has nothing to add)
    for number, (route, conversation, action, payload, status, _typed) in enumerate(LEGACY, start=1):
        # as the untyped store's _enqueue (then its finish script, for delivered and dead ones) left them
        doc = legacy_doc(number, route, conversation, action, payload, status.value)
        created = 100.0 + number
        if status == OutboxStatus.PENDING:
            await r.set(k("outbox", "entry", number), doc)
            await r.zadd(k("outbox", "conv", conversation), {str(number): number})
            await r.zadd(k("outbox", "ready"), {conversation: created}, nx=True)
            await r.zadd(k("outbox", "pending"), {str(number): created})
        elif status == OutboxStatus.DONE:
            await r.set(k("outbox", "entry", number), doc, px=DONE_KEEP_MS)
        else:
            await r.set(k("outbox", "entry", number), doc)
            await r.zadd(k("outbox", "dead"), {str(number): created})
    await r.set(k("seq", "outbox"), len(LEGACY) + 2)  # the last two numbers' entries expired
    upgraded: RedisStore = await redis_stores()  # the next linedesk to open the store upgrades it
    assert await upgraded._r.get(k("schema")) == "6"
    for number in range(1, len(LEGACY) + 1):
        stored = await upgraded._r.get(k("outbox", "entry", number))
        assert stored is not None
        doc = json.loads(stored)
        assert "payload" not in doc and isinstance(doc["action"], dict) and doc["action"]["kind"]
    assert 0 < await upgraded._r.pttl(k("outbox", "entry", 1)) <= DONE_KEEP_MS  # a delivered entry still expires
    assert await upgraded._r.pttl(k("outbox", "entry", 2)) == -1
    await check_upgraded(upgraded)
