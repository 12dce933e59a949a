"""Processes against a real SQLite store and the example catalog: no platform involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.blocks import BLOCKS, Blocks
from core.bpmn.catalog import load_catalog
from core.clock import ManualClock
from core.config import Config, load_config_text
from core.courier import Courier
from core.errors import Refusal
from core.events import EventBus
from core.inbound import ClientText
from core.model import Channel, InstanceStatus, OperatorStatus
from core.operators import Operators
from core.processes import Processes, ProcessParts
from core.sessions import SessionParts, Sessions
from core.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[slack]
bot_token = "xoxb-test"
signing_secret = "secret"
[processes]
dir = "{processes}"
[[lines]]
id = "support"
name = "Support"
telegram_token = "123:ABC"
slack_desk_channel = "C0DESK01"
[[operators]]
id = "anna"
name = "Anna"
slack_user = "U0ANNA01"
lines = ["support"]
admin = true
[[operators]]
id = "boris"
name = "Boris"
slack_user = "U0BORIS1"
lines = ["sales"]
"""


class Core:
    def __init__(self, config: Config, store: SqliteStore, clock: ManualClock):
        self.store = store
        self.courier = Courier(store, config, clock)
        self.operators = Operators(store, config, clock)
        self.sessions = Sessions(SessionParts(store, config, clock, EventBus(), self.courier, self.operators))
        catalog = load_catalog(config.processes.dir, BLOCKS)
        blocks = Blocks(store, config, clock, self.courier, self.sessions)
        self.processes = Processes(ProcessParts(store, config, clock, self.courier, self.operators), catalog, blocks)


@pytest.fixture
async def core(tmp_path: Path):
    text = CONFIG.replace("{processes}", str(ROOT / "processes")).replace('lines = ["sales"]', 'lines = ["support"]')
    config = load_config_text(text, base_dir=tmp_path, environ={})
    store = SqliteStore(tmp_path / "linedesk.db")
    await store.open()
    yield Core(config, store, ManualClock())
    await store.close()


async def ivan_writes(core: Core, text: str = "Hello, my washing machine is broken") -> int:
    session = await core.sessions.client_text(
        ClientText(line_id="support", channel=Channel.TELEGRAM, user_id="501", chat_id="501", name="Ivan", text=text)
    )
    return session.number


async def test_start_runs_until_the_form_then_finishes_on_submit(core: Core) -> None:
    number = await ivan_writes(core)
    await core.operators.set_status("anna", OperatorStatus.ONLINE)
    record = await core.processes.start_manual(number, "handle_request", "anna")
    assert record.status == InstanceStatus.WAITING
    assert record.waiting_for == "user_task" and record.current_task == "register"
    assert record.assignee == "anna"
    task = await core.processes.open_task(record.id)
    assert task is not None and [f.id for f in task.fields] == ["phone", "kind", "urgent"]

    bad = await core.processes.submit(record.id, task.task_id, "anna", {"phone": "", "kind": "nope"})
    assert set(bad.errors) == {"phone", "kind"}

    done = await core.processes.submit(
        record.id, task.task_id, "anna", {"phone": "+7 900 000-00-00", "kind": "repair", "urgent": "true"}
    )
    assert done.errors == {}
    assert done.instance.status == InstanceStatus.WAITING and done.instance.waiting_for == "client_message"
    variables = await core.processes.variables(record.id)
    assert variables["request_no"] == 1 and variables["urgent"] is True and variables["client_name"] == "Ivan"
    items = await core.store.list_items("requests")
    assert [i.fields["phone"] for i in items] == ["+7 900 000-00-00"]
    stats = await core.store.outbox_stats(0)
    assert stats["pending"] >= 4  # greeting, card, mirror, announce, reply, status …


async def test_offline_operator_is_refused_and_nothing_starts(core: Core) -> None:
    number = await ivan_writes(core)
    with pytest.raises(Refusal) as refusal:
        await core.processes.start_manual(number, "handle_request", "anna")
    assert refusal.value.code == "offline"
    assert await core.store.list_instances() == []


async def test_double_click_starts_one_instance(core: Core) -> None:
    number = await ivan_writes(core)
    await core.operators.set_status("anna", OperatorStatus.ONLINE)
    await core.processes.start_manual(number, "handle_request", "anna")
    with pytest.raises(Refusal) as refusal:
        await core.processes.start_manual(number, "handle_request", "anna")
    assert refusal.value.code == "double_click"
    assert len(await core.store.list_instances()) == 1
