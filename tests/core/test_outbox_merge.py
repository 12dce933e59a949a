"""Merging: what waited in a conversation behind its head goes with it as one delivery when the route
merges it — in order, never past an entry that waits or that does not merge — on both stores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.links import LinkKind, message_source
from core.model import OutboxEntry, OutboxStatus
from core.outbox import OutboxWorker
from core.outbox_actions import Notice
from core.pacing import Draw, Pacer, Rate
from tests.support.rigs import close_test_store, open_test_store


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        texts = []
        for e in [entry, *merged]:
            assert isinstance(e.action, Notice)
            texts.append(e.action.text)
        self.batches.append(texts)


def texts_merge(head: OutboxEntry, later: OutboxEntry) -> bool:
    return isinstance(later.action, Notice) and not later.action.text.startswith("alone")


def notice(text: str, conversation: str = "c", due_at: float = 0.0) -> OutboxEntry:
    return OutboxEntry(
        conversation=conversation, route="r", action=Notice(session=1, line_id="x", text=text), due_at=due_at
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_run_of_waiting_entries_goes_as_one_delivery_in_order(tmp_path: Path, kind: str) -> None:
    store = await open_test_store(tmp_path, kind)
    try:
        clock = ManualClock(100.0)
        pacer = Pacer({"chat": Rate(1, 0.05)})
        await pacer.acquire([Draw("chat", "x")])  # the desk is at its limit: every entry waits its turn
        worker = OutboxWorker(store, clock, pacer=pacer)
        batches = Batches()
        worker.register("r", batches, pace=lambda e: [Draw("chat", "x")], merge=texts_merge)
        added = await store.outbox_add(
            [
                *(notice(text) for text in ("a", "b", "c", "alone", "d")),
                notice("e", due_at=500.0),
                notice("other", conversation="d"),
            ]
        )
        await worker.run_once()
        await worker.run_once()
        await worker.run_once()
        assert sorted(batches.batches) == [["a", "b", "c"], ["alone", "d"], ["other"]]
        assert worker.delivered == 6 and worker.merged == 3
        # "e" waits until it is due: never merged past its time, and never before "d"
        assert (await store.outbox_get(added[5].id)).status == OutboxStatus.PENDING  # type: ignore[union-attr]
        clock.advance(500)
        await worker.run_once()
        assert batches.batches[-1] == ["e"]
        for entry in added:
            assert (await store.outbox_get(entry.id)).status == OutboxStatus.DONE  # type: ignore[union-attr]
    finally:
        await close_test_store(store, kind)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_what_did_not_wait_for_a_limit_goes_one_at_a_time(tmp_path: Path, kind: str) -> None:
    """Routes that do not merge, and a desk that keeps up (no entry waited for its turn), post each as itself."""
    store = await open_test_store(tmp_path, kind)
    try:
        worker = OutboxWorker(store, ManualClock(100.0))
        batches = Batches()
        worker.register("r", batches)
        worker.register("m", batches, merge=texts_merge)
        await store.outbox_add(
            [
                notice("a"),
                notice("b"),
                *(e.model_copy(update={"route": "m", "conversation": "m"}) for e in (notice("c"), notice("d"))),
            ]
        )
        await worker.drain()
        assert sorted(batches.batches) == [["a"], ["b"], ["c"], ["d"]]
    finally:
        await close_test_store(store, kind)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_an_entry_claimed_again_after_its_lease_ran_out_says_so(tmp_path: Path, kind: str) -> None:
    """A delivery that may have reached the platform before linedesk died is marked `retaken`; one that
    failed and was rescheduled (a result was recorded) is not."""
    store = await open_test_store(tmp_path, kind)
    try:
        [entry, other] = await store.outbox_add([notice("a"), notice("b", conversation="d")])
        [first, first_other] = await store.outbox_claim(now=100.0, lease=10.0)
        assert not first.retaken and not first_other.retaken
        await store.outbox_reschedule(other.id, due_at=100.0, error="429")
        again = await store.outbox_claim(now=111.0, lease=10.0)  # a's lease ran out with no result
        assert {(e.id, e.retaken) for e in again} == {(entry.id, True), (other.id, False)}
        assert "retaken" not in (await store.outbox_get(entry.id)).model_dump()  # type: ignore[union-attr]
        await store.outbox_complete(entry.id)
        [after] = await store.outbox_add([notice("c")])
        [claimed] = [e for e in await store.outbox_claim(now=200.0, lease=10.0) if e.id == after.id]
        assert not claimed.retaken
    finally:
        await close_test_store(store, kind)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_links_are_stored_with_the_entries_in_one_step(tmp_path: Path, kind: str) -> None:
    """A handled message's source link goes with its deliveries (a replay after a crash finds it handled
    exactly when they are stored)."""
    store = await open_test_store(tmp_path, kind)
    try:
        [entry] = await store.outbox_add([notice("a")], [message_source(1, 7, "telegram:support:501:42")])
        found = await store.link_to(LinkKind.MESSAGE_SOURCE, "telegram:support:501:42")
        assert found is not None and found.data == {"session": 1, "id": 7}
        assert (await store.outbox_get(entry.id)) is not None
        assert await store.outbox_add([], [message_source(1, 8, "telegram:support:501:43")]) == []
        assert await store.link_of(LinkKind.MESSAGE_SOURCE, "1:8") is not None
    finally:
        await close_test_store(store, kind)
