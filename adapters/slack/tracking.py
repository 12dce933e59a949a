"""Bolt runs a listener on after its ack(); this keeps count of those still running, and of work
handed to the background, so that `idle()` (tests, the demo, shutdown) can wait for them."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]


class ListenerTracker:
    def __init__(self) -> None:
        self._inflight = 0
        self._background: set[asyncio.Future[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def track(self, listener: Listener) -> Listener:
        """Wrap a listener (keeping its signature, which Bolt reads to inject arguments)."""

        @functools.wraps(listener)
        async def tracked(**kwargs: Any) -> None:
            self._inflight += 1
            self._idle.clear()
            try:
                await listener(**kwargs)
            except SlackApiError as err:  # e.g. a notice to a channel the app cannot post in
                log.warning(
                    "Slack listener %s: Slack refused a call: %s",
                    getattr(listener, "__name__", listener),
                    err.response.get("error") if err.response is not None else err,
                )
            except Exception:
                # logged here, not raised to Bolt: after ack() Bolt would reset the ack and Slack would get
                # its answer only at its 3 s timeout (a failed ephemeral notice must not cost the ack)
                log.exception("Slack listener %s failed", getattr(listener, "__name__", listener))
            finally:
                self._inflight -= 1
                self._settle()

        return tracked

    def keep(self, job: asyncio.Future[Any], what: str) -> None:
        """Hold a reference to background work and log its failure."""
        self._background.add(job)
        self._idle.clear()

        def done(task: asyncio.Future[Any]) -> None:
            self._background.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("%s failed", what, exc_info=task.exception())
            self._settle()

        job.add_done_callback(done)

    def _settle(self) -> None:
        if self._inflight == 0 and not self._background:
            self._idle.set()

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    async def idle(self) -> None:
        while self.busy:
            if self._background:
                await asyncio.gather(*list(self._background), return_exceptions=True)
            await self._idle.wait()
