"""Several media into a busy Telegram desk (SPEC §13), through HTTP against the sandboxes with their limits on:
the client's own photos that waited behind the group's limit go as one `copyMessages` after one line each
(sender, time), and files from Slack as one `sendMediaGroup` — every file once, in order, each desk copy linked
so that edits find it. Real time: the group's minute is spent first, so each busy test waits about a minute.
A desk that keeps up copies each photo as itself; a client's album is copied as an album after its lines."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.links import LinkKind, session_message
from sandboxes.limits import PLATFORM_LIMITS
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, Rig
from tests.support.busy_desks import clients, group_calls, session_of, spend_group_minute, thread_reply_now, wait_for
from tests.support.rigs import store_rig

pytestmark = pytest.mark.timeout(180)

PHOTOS = 6
MERGED_LINE = r"\[\d\d:\d\d:\d\d\] {name}: {text}"


@pytest.fixture(params=["sqlite", "redis"])
async def busy_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with store_rig(request.param, tmp_path, limits=PLATFORM_LIMITS) as stage:
        yield stage


@pytest.fixture
async def sqlite_busy_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with store_rig("sqlite", tmp_path, limits=PLATFORM_LIMITS) as stage:
        yield stage


async def linked_copy(rig: Rig, session: int, message_id: int) -> dict[str, Any]:
    assert rig.desk is not None
    link = await rig.desk.store.link_of(LinkKind.TELEGRAM_DESK_COPY, session_message(session, message_id))
    assert link is not None, f"message {message_id} of #{session} has no desk copy"
    return link.data


async def test_a_burst_of_client_photos_into_a_busy_desk_is_one_copy_messages_in_order(busy_rig: Rig) -> None:
    rig = busy_rig
    people = clients(4)
    ivan = people[0]
    await spend_group_minute(rig, people)
    user = rig.telegram.user(ivan.telegram_user, ivan.name)
    sent: list[int] = []
    for n in range(PHOTOS):  # as fast as the webhook takes them, while the group's minute is spent
        record = rig.telegram.register_file(f"jpeg {n}".encode(), kind="photo")
        update = rig.telegram.media_update(SUPPORT_TOKEN, user, record, caption=f"angle {n}")
        sent.append(update["message"]["message_id"])
        assert (await rig.telegram.deliver(SUPPORT_TOKEN, update)).status == 200
    number = await session_of(rig, ivan)

    async def photos_shown() -> bool:
        return sum("photo" in m for m in await rig.topic(number)) >= PHOTOS

    waited = await wait_for(photos_shown, 120, "the photos in the topic")
    await asyncio.sleep(1.5)  # anything posted twice would come now
    shown = await rig.topic(number)
    copies = [m for m in shown if "photo" in m]
    assert [m["caption"] for m in copies] == [f"angle {n}" for n in range(PHOTOS)]  # each once, in order
    [copy_call] = [c for c in group_calls(rig) if c.method == "copyMessages"]
    assert copy_call.params["message_ids"] == sent and copy_call.params["from_chat_id"] == ivan.telegram_user
    assert not [c for c in group_calls(rig) if c.method == "copyMessage"]
    # one line each before them: who sent it and when
    [header] = [m for m in shown if "angle 0" in m.get("text", "")]
    assert header["message_id"] < copies[0]["message_id"]
    rows = [row for row in header["text"].splitlines() if "angle" in row]
    assert len(rows) == PHOTOS
    for n, row in enumerate(rows):
        assert re.match(MERGED_LINE.format(name=ivan.name, text=f"angle {n} 📎 photo"), row), row
    for message_id, copy in zip(await client_messages(rig, number), copies, strict=True):
        assert (await linked_copy(rig, number, message_id))["message_id"] == copy["message_id"]
    print(f"BUSY telegram photos: {PHOTOS} photos in one copyMessages after {waited:.1f}s")
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


async def client_messages(rig: Rig, session: int) -> list[int]:
    """The ids of the session's photo messages, in order."""
    assert rig.desk is not None
    return [m.id for m in await rig.desk.store.list_messages(session) if m.attachments]


async def test_slack_files_into_a_busy_telegram_desk_go_as_one_media_group(sqlite_busy_rig: Rig) -> None:
    rig = sqlite_busy_rig
    people = clients(4)
    ivan = people[0]
    await rig.slash(ANNA, "/status", "online")
    await spend_group_minute(rig, people)
    number = await session_of(rig, ivan)
    pictures = [rig.slack.add_file(f"png {n}".encode(), f"{n}.png", user_id=ANNA.slack_user) for n in range(3)]
    manual = rig.slack.add_file(b"%PDF manual", "manual.pdf", user_id=ANNA.slack_user)
    await thread_reply_now(rig, ANNA, number, "Three angles", files=pictures[:2])
    await thread_reply_now(rig, ANNA, number, "One more", files=pictures[2:])
    await thread_reply_now(rig, ANNA, number, "And the manual", files=[manual])

    async def files_shown() -> bool:
        return sum("photo" in m or "document" in m for m in await rig.topic(number)) >= 4

    await wait_for(files_shown, 120, "the files in the topic")
    await asyncio.sleep(1.5)  # anything posted twice would come now
    shown = [m for m in await rig.topic(number) if "photo" in m or "document" in m]
    albums = [c for c in group_calls(rig) if c.method == "sendMediaGroup"]
    uploads = [c for c in group_calls(rig) if c.method in ("sendPhoto", "sendDocument")]
    assert len(albums) == 1 and len(albums[0].params["media"]) == 3, albums  # the photos together
    assert [c.method for c in uploads] == ["sendDocument"]  # a document alone is not an album
    assert [rig.telegram.state.files[m["photo"][-1]["file_id"]].read() for m in shown[:3]] == [
        b"png 0",
        b"png 1",
        b"png 2",
    ]
    assert len({m["media_group_id"] for m in shown[:3]}) == 1 and "document" in shown[3]
    captions = [m.get("caption") for m in shown]
    assert captions[1] is None and captions[0] and captions[2] and captions[3]
    for n, text in {0: "Three angles", 2: "One more", 3: "And the manual"}.items():
        assert re.fullmatch(rf"\[\d\d:\d\d:\d\d\] Anna → client: {text}", captions[n] or ""), captions[n]
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


async def test_photos_into_a_desk_that_keeps_up_are_each_copied_as_themselves(sqlite_busy_rig: Rig) -> None:
    rig = sqlite_busy_rig
    await rig.client_writes(IVAN, "Hello")
    user = rig.telegram.user(IVAN.telegram_user, IVAN.name)
    for n in range(3):  # each mirrored before the next is sent: nothing waits behind the group's limit
        record = rig.telegram.register_file(f"jpeg {n}".encode(), kind="photo")
        await rig.telegram.deliver(
            SUPPORT_TOKEN, rig.telegram.media_update(SUPPORT_TOKEN, user, record, caption=f"angle {n}")
        )
        await rig.settle()
    shown = [m for m in await rig.topic(1) if "photo" in m]
    assert [m["caption"] for m in shown] == [f"Ivan: angle {n}" for n in range(3)]
    assert [c.method for c in group_calls(rig) if c.method.startswith("copy")] == ["copyMessage"] * 3


async def test_a_client_album_is_copied_as_an_album_after_its_lines(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    user = rig.telegram.user(IVAN.telegram_user, IVAN.name)
    ids = []
    for n in range(3):
        photo = rig.telegram.register_file(f"photo {n}".encode(), kind="photo")
        content = {"photo": photo.content("photo")["photo"], "media_group_id": "album-1"}
        if n == 0:
            content["caption"] = "Three angles"
        update = rig.telegram.message_update(SUPPORT_TOKEN, user, content)
        ids.append(update["message"]["message_id"])
        await rig.telegram.deliver(SUPPORT_TOKEN, update)
    await rig.settle()
    [copy_call] = [c for c in group_calls(rig) if c.method == "copyMessages"]
    assert copy_call.params["message_ids"] == ids
    shown = await rig.topic(1)
    photos = [m for m in shown if "photo" in m]
    assert len(photos) == 3 and len({m["media_group_id"] for m in photos}) == 1  # still an album
    [lines] = [m for m in shown if "Three angles" in m.get("text", "")]
    assert lines["message_id"] < photos[0]["message_id"] and lines["text"].count("Ivan: ") == 3
