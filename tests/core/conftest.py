"""Fixtures of the core tests: `kit`, the session services on a real SQLite store and a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.store.sqlite import SqliteStore
from tests.support.sessions_kit import KIT_CONFIG, Kit


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    store = SqliteStore(tmp_path / "linedesk.db")
    await store.open()
    yield Kit(store, ManualClock(), KIT_CONFIG, tmp_path)
    await store.close()
