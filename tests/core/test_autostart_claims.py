"""Auto-start claims: a start that fails for an unexpected reason does not burn its event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.autostart import Autostart
from core.blocks import BLOCKS
from core.bpmn.catalog import load_catalog
from core.clock import ManualClock
from core.config import load_config_text
from core.events import EventBus, SessionCreated
from core.model import Channel, Client, InstanceRecord, Session

ROOT = Path(__file__).resolve().parents[2]
CONFIG = f"""
[processes]
dir = "{ROOT / "processes"}"
[[lines]]
id = "support"
name = "Support"
telegram_token = "1:x"
  [[lines.autostart]]
  event = "session.created"
  process = "create_lead"
"""


class FlakyStarter:
    """The process side of auto-start, failing its first start the way a store outage would."""

    def __init__(self) -> None:
        self.catalog = load_catalog(ROOT / "processes", BLOCKS)
        self.started: list[str] = []
        self.fail_next = True

    async def start(
        self,
        process_id: str,
        session: Session | None,
        *,
        started_by: str,
        trigger: str,
        extra: dict[str, Any] | None = None,
    ) -> InstanceRecord:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("store went away")
        self.started.append(process_id)
        return InstanceRecord(id="i1", process_id=process_id)


async def test_a_failed_start_releases_its_claim_so_a_redelivery_starts_it(tmp_path: Path) -> None:
    from core.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "claims.db")
    await store.open()
    try:
        starter = FlakyStarter()
        autostart = Autostart(store, load_config_text(CONFIG, base_dir=tmp_path, environ={}), ManualClock(), starter)
        bus = EventBus()
        autostart.subscribe(bus)
        session = await store.create_session(Session(number=0, line_id="support", client_id="telegram:1"))
        client = Client(id="telegram:1", channel=Channel.TELEGRAM, external_id="1", name="Ivan", chat_id="1")
        event = SessionCreated(session=session, client=client)
        with pytest.raises(ConnectionError):
            await autostart._on_event(event)
        await bus.publish(event)  # delivered again
        await bus.publish(event)  # and again: now the claim holds
        assert starter.started == ["create_lead"]
    finally:
        await store.close()
