"""Process instances and the outbox (an instance's commit enqueues its outbox entries)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redis.asyncio.client import Pipeline

from core.links import Link
from core.model import (
    InstanceRecord,
    InstanceStatus,
    OutboxEntry,
    OutboxStatus,
)
from core.record import STORED
from core.store.base import StoreError
from core.store.redis.connection import (
    DONE_KEEP_MS,
    WATCH_RETRIES,
    RedisBase,
    _num,
    _translated,
)
from core.store.redis.links import _link_args


class OutboxMixin(RedisBase):
    # --- process instances -----------------------------------------------------
    def _instance_indexes(self, i: InstanceRecord) -> list[str]:
        keys = [self._k("instances"), self._k("instances", "status", i.status.value)]
        if i.session is not None:
            keys.append(self._k("instances", "session", i.session))
        return keys

    @_translated
    async def due_instances(self, now: float, limit: int = 100) -> list[InstanceRecord]:
        ids = await self._r.zrangebyscore(self._k("instances", "wake"), "-inf", now, start=0, num=limit)
        found = await self._load(InstanceRecord, [self._k("instance", i) for i in ids])
        return [record for record in found if record is not None]

    @_translated
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return (await self._load(InstanceRecord, [self._k("instance", instance_id)]))[0]

    @_translated
    async def worker_waits(self, limit: int = 10_000) -> list[tuple[str, list[str]]]:
        """From an index the instance's commit keeps (ids by age, and their task ids), not the instances."""
        ids = [str(i) for i in await self._r.zrange(self._k("instances", "workers"), 0, limit - 1)]
        tasks = await self._r.hmget(self._k("instances", "worker_tasks"), ids) if ids else []
        return [(i, [str(t) for t in json.loads(found)]) for i, found in zip(ids, tasks, strict=True) if found]

    @_translated
    async def list_instances(
        self,
        *,
        status: Sequence[InstanceStatus] | None = None,
        session: int | None = None,
        limit: int = 100,
    ) -> list[InstanceRecord]:
        if limit <= 0 or (status is not None and not status):
            return []
        wanted = {InstanceStatus(s) for s in status} if status is not None else set(InstanceStatus)
        if session is not None:
            indexes = [self._k("instances", "session", session)]
        elif status is not None:
            indexes = [self._k("instances", "status", s.value) for s in sorted(wanted)]
        else:
            indexes = [self._k("instances")]

        def keep(i: InstanceRecord) -> bool:
            return i.status in wanted and (session is None or i.session == session)

        async def load(members: list[str]) -> list[InstanceRecord | None]:
            return await self._load(InstanceRecord, [self._k("instance", m) for m in members])

        return await self._newest(indexes, load, keep, limit)

    @_translated
    async def commit_instance(self, instance: InstanceRecord, outbox: Sequence[OutboxEntry] = ()) -> list[OutboxEntry]:
        entries = await self._number_entries(outbox)

        def body(pipe: Pipeline, old: str | None) -> None:
            stale = self._instance_indexes(InstanceRecord.model_validate_json(old, context=STORED)) if old else []
            pipe.set(self._k("instance", instance.id), instance.model_dump_json())
            self._reindex(pipe, instance.id, instance.created_at, stale, self._instance_indexes(instance))
            if instance.status == InstanceStatus.WAITING and instance.wake_at is not None:
                pipe.zadd(self._k("instances", "wake"), {instance.id: instance.wake_at})
            else:
                pipe.zrem(self._k("instances", "wake"), instance.id)
            if instance.status == InstanceStatus.WAITING and instance.worker_tasks:  # SPEC §12: `worker_waits`
                pipe.zadd(self._k("instances", "workers"), {instance.id: instance.created_at})
                pipe.hset(self._k("instances", "worker_tasks"), instance.id, json.dumps(instance.worker_tasks))
            else:
                pipe.zrem(self._k("instances", "workers"), instance.id)
                pipe.hdel(self._k("instances", "worker_tasks"), instance.id)
            self._enqueue(pipe, entries)

        await self._transaction(self._k("instance", instance.id), body)
        return entries

    # --- outbox -------------------------------------------------------------
    async def _number_entries(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        if not entries:
            return []
        last = int(await self._r.incrby(self._k("seq", "outbox"), len(entries)))
        first = last - len(entries) + 1
        return [e.model_copy(update={"id": first + n, "status": OutboxStatus.PENDING}) for n, e in enumerate(entries)]

    def _enqueue(self, pipe: Pipeline, entries: Iterable[OutboxEntry]) -> None:
        for e in entries:
            pipe.set(self._k("outbox", "entry", e.id), e.model_dump_json())
            pipe.zadd(self._k("outbox", "conv", e.conversation), {str(e.id): e.id})
            # only a conversation that had no pending entry gets its ready time from this one
            pipe.zadd(self._k("outbox", "ready"), {e.conversation: e.due_at}, nx=True)
            pipe.zadd(self._k("outbox", "pending"), {str(e.id): e.created_at})

    @_translated
    async def outbox_add(self, entries: Sequence[OutboxEntry], links: Sequence[Link] = ()) -> list[OutboxEntry]:
        numbered = await self._number_entries(entries)
        if numbered or links:
            async with self._r.pipeline(transaction=True) as pipe:
                self._enqueue(pipe, numbered)
                for link in links:
                    await self._link_in(pipe, link)
                await pipe.execute()
        return numbered

    @_translated
    async def outbox_claim(self, now: float, lease: float, limit: int = 50) -> list[OutboxEntry]:
        if limit <= 0:
            return []
        docs, retaken = await self._outbox_claim(
            keys=[self._k("outbox", "ready"), self._k("outbox", "leased")],
            args=[
                _num(now),
                _num(now + lease),
                limit,
                self._k("outbox", "conv", ""),
                self._k("outbox", "entry", ""),
            ],
        )
        entries = [
            OutboxEntry.model_validate_json(doc, context=STORED).model_copy(update={"retaken": bool(again)})
            for doc, again in zip(docs, retaken, strict=True)
        ]
        return sorted(entries, key=lambda e: e.id)

    @_translated
    async def outbox_followers(self, entry: OutboxEntry, limit: int) -> list[OutboxEntry]:
        ids = await self._r.zrangebyscore(
            self._k("outbox", "conv", entry.conversation), f"({entry.id}", "+inf", 0, limit
        )
        found = await self._load(OutboxEntry, [self._k("outbox", "entry", i) for i in ids])
        return [e for e in found if e is not None and e.status == OutboxStatus.PENDING]

    async def _finish(
        self, entry_id: int, change: Callable[[OutboxEntry], dict[str, Any]], links: Sequence[Link] = ()
    ) -> None:
        """Change a pending entry (compare-and-set); entries no longer pending are left alone. `links` are
        written in the same transaction as the first try (and alone when there is nothing to change)."""
        key = self._k("outbox", "entry", entry_id)
        for _ in range(WATCH_RETRIES):
            old = await self._r.get(key)
            entry = OutboxEntry.model_validate_json(old, context=STORED) if old is not None else None
            if old is None or entry is None or entry.status != OutboxStatus.PENDING:
                if links:
                    await self._links_alone(links)
                return
            new = entry.model_copy(update=change(entry))
            finished = new.status != OutboxStatus.PENDING
            c = entry.conversation
            keys = [
                key,
                self._k("outbox", "conv", c),
                self._k("outbox", "ready"),
                self._k("outbox", "pending"),
                self._k("outbox", "dead"),
                self._k("outbox", "leased"),
            ]
            args = [
                old,
                new.model_dump_json(),
                str(entry_id),
                c,
                "1" if finished else "0",
                "1" if new.status == OutboxStatus.DEAD else "0",
                DONE_KEEP_MS if new.status == OutboxStatus.DONE else 0,
                self._k("outbox", "entry", ""),
                _num(entry.created_at),
            ]
            if not links:
                if await self._outbox_finish(keys=keys, args=args):
                    return
                continue
            async with self._r.pipeline(transaction=True) as pipe:
                await self._outbox_finish(keys=keys, args=args, client=pipe)
                for link in links:
                    await self._link_in(pipe, link)
                finished, *_ = await pipe.execute()
            links = ()  # written
            if finished:
                return
        raise StoreError(f"outbox entry {entry_id} kept changing; gave up")

    @_translated
    async def outbox_extend(self, entry_ids: Sequence[int], now: float, until: float) -> None:
        if not entry_ids:
            return
        docs = await self._load(OutboxEntry, [self._k("outbox", "entry", i) for i in entry_ids])
        pairs = [
            value
            for e in docs
            if e is not None and e.status == OutboxStatus.PENDING
            for value in (str(e.id), e.conversation)
        ]
        if pairs:
            await self._outbox_extend_script(
                keys=[self._k("outbox", "ready")], args=[_num(until), _num(now), self._k("outbox", "conv", ""), *pairs]
            )

    async def _links_alone(self, links: Sequence[Link]) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            for link in links:
                await self._link_in(pipe, link)
            await pipe.execute()

    @_translated
    async def outbox_complete(self, entry_id: int, links: Sequence[Link] = ()) -> None:
        """One round trip, links included (one script writes them and turns the entry done); an entry whose JSON
        the script does not recognise takes the compare-and-set way."""
        keys = [
            self._k("outbox", "entry", entry_id),
            self._k("outbox", "ready"),
            self._k("outbox", "pending"),
            self._k("outbox", "dead"),
            self._k("outbox", "leased"),
        ]
        args: list[str | int] = [str(entry_id), self.prefix, DONE_KEEP_MS, len(links)]
        for link in links:
            args += [self._k("link", link.kind.value), self._k("link", link.kind.value, "to"), *_link_args(link)]
        done = await self._outbox_complete_script(keys=keys, args=args)
        if not done:
            await self._finish(entry_id, lambda e: {"status": OutboxStatus.DONE})

    @_translated
    async def outbox_reschedule(self, entry_id: int, due_at: float, error: str) -> None:
        await self._finish(entry_id, lambda e: {"due_at": due_at, "last_error": error, "attempts": e.attempts + 1})

    @_translated
    async def outbox_kill(self, entry_id: int, error: str) -> None:
        await self._finish(entry_id, lambda e: {"status": OutboxStatus.DEAD, "last_error": error})

    @_translated
    async def outbox_get(self, entry_id: int) -> OutboxEntry | None:
        return (await self._load(OutboxEntry, [self._k("outbox", "entry", entry_id)]))[0]

    @_translated
    async def outbox_stats(self, now: float) -> dict[str, float]:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.zcard(self._k("outbox", "pending"))
            pipe.zcard(self._k("outbox", "dead"))
            pipe.zrange(self._k("outbox", "pending"), 0, 0, withscores=True)
            pipe.zrange(self._k("outbox", "ready"), 0, 0, withscores=True)
            pending, dead, oldest, ready = await pipe.execute()
        return {
            "pending": float(pending),
            "dead": float(dead),
            "oldest_age": max(0.0, now - float(oldest[0][1])) if oldest else 0.0,
            "next_due": float(ready[0][1]) if ready else 0.0,
        }
