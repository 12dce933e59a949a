"""A hand-computed fixture of sessions and instances for the reports (SPEC §15), written straight into a
store, and the figures worked out by hand from it (`tests/store/test_report_store.py` and the report
surfaces check against these)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from core.model import InstanceRecord, InstanceStatus, Session, SessionStatus
from core.store import RedisStore, SqliteStore, Store
from tests.support.rigs import REDIS_URL, drop_redis_prefix, open_test_store

T0 = datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC).timestamp()
"""Monday 2026-11-02 00:00 UTC: the fixture's period is 2026-11-02 … 2026-11-04 (three days)."""
HOUR, DAY = 3600.0, 86400.0
SINCE, UNTIL = "2026-11-02", "2026-11-04"
NOW = T0 + 3 * DAY + HOUR


@dataclass(frozen=True)
class Fixture:
    """One session: opened `at` (after T0), answered and closed that many seconds after it opened."""

    line: str
    at: float
    assignee: str | None = None
    first: float | None = None
    closed: float | None = None
    rating: int | None = None
    status: SessionStatus | None = None


SESSIONS = (
    Fixture("support", 1 * HOUR, "anna", first=60, closed=600, rating=5),
    Fixture("support", 2 * HOUR, "anna", first=120, closed=1200, rating=4),
    Fixture("support", DAY + HOUR, "bob", first=300, closed=3600, rating=2),
    Fixture("support", DAY + 2 * HOUR, "bob", first=30, status=SessionStatus.ACTIVE),
    Fixture("support", 2 * DAY + HOUR, status=SessionStatus.QUEUED),
    Fixture("support", 2 * DAY + 3 * HOUR, status=SessionStatus.SPAM),
    Fixture("sales", HOUR, "carol", first=10, closed=100, rating=3),
    Fixture("support", -HOUR, "anna", first=5, closed=2 * HOUR, rating=1),  # opened before the period
)

# (line, trigger, status, started after T0)
INSTANCES: tuple[tuple[str, str, InstanceStatus, float], ...] = (
    ("support", "manual", InstanceStatus.RUNNING, HOUR + 100),
    ("support", "manual", InstanceStatus.FAILED, 2 * HOUR + 100),
    ("support", "session.created", InstanceStatus.COMPLETED, DAY + HOUR),
    ("sales", "session.created", InstanceStatus.COMPLETED, HOUR + 1),
    ("support", "manual", InstanceStatus.COMPLETED, -HOUR),  # before the period
)


def fixture_sessions() -> list[Session]:
    """`SESSIONS` as the store keeps them, numbered from 1."""
    made = []
    for n, f in enumerate(SESSIONS):
        opened = T0 + f.at
        made.append(
            Session(
                number=n + 1,
                line_id=f.line,
                client_id=f"telegram:{700 + n}",
                status=f.status or (SessionStatus.CLOSED if f.closed is not None else SessionStatus.ACTIVE),
                created_at=opened,
                updated_at=opened,
                assignee=f.assignee,
                first_response_at=opened + f.first if f.first is not None else None,
                closed_at=opened + f.closed if f.closed is not None else None,
                rating=f.rating,
                rated_at=opened + (f.closed or 0) + 30 if f.rating is not None else None,
            )
        )
    return made


async def write_fixture(store: Store) -> None:
    """The fixture's sessions (opened as linedesk opens them, then answered, closed and rated) and instances."""
    for session in fixture_sessions():
        opened = await store.create_session(
            session.model_copy(
                update={"number": 0, "assignee": None, "first_response_at": None, "closed_at": None, "rating": None}
            )
        )
        await store.save_session(session.model_copy(update={"number": opened.number}))
    for n, (line, trigger, state, at) in enumerate(INSTANCES):
        await store.commit_instance(
            InstanceRecord(
                id=f"fixture-{n}",
                process_id="handle_request",
                process_name='Handle "request"',
                line_id=line,
                trigger=trigger,
                status=state,
                state='{"status": "x", "trigger": "y", "line_id": "z"}',
                created_at=T0 + at,
            )
        )


async def fixture_store_url(tmp_path: Path, kind: str) -> str:
    """The hand-computed fixture written into a fresh store of `kind`, and that store's URL (for the CLI and
    the server); the Redis prefix is dropped by `drop_fixture_store`."""
    store = await open_test_store(tmp_path, kind)
    try:
        await write_fixture(store)
    finally:
        await store.close()
    if isinstance(store, RedisStore):
        return f"{REDIS_URL}?prefix={store.prefix}"
    assert isinstance(store, SqliteStore)
    return f"sqlite:///{store.path}"


async def drop_fixture_store(url: str) -> None:
    if url.startswith("redis"):
        await drop_redis_prefix(url.rsplit("prefix=", 1)[1])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, out: Path, size: tuple[int, int] = (1400, 1300)) -> Image.Image:
    """`page` as headless Chromium draws it (Debian's `chromium`), saved to `out` and opened with Pillow."""
    if CHROMIUM is None:
        pytest.skip("no chromium: apt-get install -y chromium")
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={out.parent / 'chromium-profile'}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={out}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(out).convert("RGB")


def colour_box(
    image: Image.Image, hex_colour: str, tolerance: int = 12
) -> tuple[int, tuple[int, int, int, int] | None]:
    """How many pixels are (nearly) `hex_colour`, and their bounding box."""
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    bands = [
        band.point(lambda v, t=t: 255 if abs(v - t) <= tolerance else 0)
        for band, t in zip(image.split(), target, strict=True)
    ]
    mask = ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])
    count = mask.histogram()[255]
    return count, mask.getbbox()
