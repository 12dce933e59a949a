"""In-memory retries with exponential backoff, on tenacity: one policy type for every place linedesk
waits out a failure in the same process (a store away for a moment, a host that does not answer, a
locked SQLite file). The outbox is not one of them: its schedule is stored with each entry.

A policy waits `first` seconds after the first failed try, then twice as long after each further one,
never more than `cap`; it gives up after `attempts` tries, or once `within` seconds have passed since
the first try (whichever comes first; neither: it tries forever). Giving up re-raises the last error.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    stop_never,
    wait_exponential,
)
from tenacity.retry import retry_base
from tenacity.stop import stop_base

BeforeSleep = Callable[[RetryCallState], None]
Errors = type[BaseException] | tuple[type[BaseException], ...]
R = TypeVar("R")


@dataclass(frozen=True)
class Backoff:
    first: float
    """Seconds to wait after the first failed try; doubled after each further one."""
    cap: float = math.inf
    """The longest wait between two tries."""
    attempts: int | None = None
    """Tries in all (the first one included); None: no limit."""
    within: float | None = None
    """Seconds since the first try after which no further try is made; None: no limit."""

    def wait(self) -> wait_exponential:
        """The wait after a failed try, as a tenacity strategy (also usable on its own)."""
        return wait_exponential(multiplier=self.first, max=self.cap)

    def delay(self, failures: int) -> float:
        """Seconds waited after the `failures`-th failed try in a row (1 for the first)."""
        return min(self.cap, self.first * 2.0 ** min(failures - 1, 1000))

    def stop(self) -> stop_base:
        stops: list[stop_base] = []
        if self.attempts is not None:
            stops.append(stop_after_attempt(self.attempts))
        if self.within is not None:
            stops.append(stop_after_delay(self.within))
        return stop_any(*stops) if stops else stop_never

    def retrying(
        self,
        errors: Errors,
        *,
        when: Callable[[BaseException], bool] | None = None,
        before_sleep: BeforeSleep | None = None,
    ) -> AsyncRetrying:
        """`async for attempt in policy.retrying(StoreError): with attempt: ...`: the block is tried again
        after a wait while it raises one of `errors` (for which `when`, if given, is true); any other
        exception goes through at once."""
        retry: retry_base = retry_if_exception_type(errors)
        if when is not None:
            retry = retry & retry_if_exception(when)
        return AsyncRetrying(wait=self.wait(), stop=self.stop(), retry=retry, before_sleep=before_sleep, reraise=True)

    async def call(
        self,
        errors: Errors,
        op: Callable[[], Awaitable[R]],
        *,
        when: Callable[[BaseException], bool] | None = None,
        before_sleep: BeforeSleep | None = None,
    ) -> R:
        """`await op()`, tried again as `retrying` says. The first try is made without building the retry
        (a tenacity run costs about as much as a SQLite write): its failure, if any, becomes the run's first
        attempt, so the waits and the number of tries are the policy's."""
        try:
            return await op()
        except errors as err:
            if when is not None and not when(err):
                raise
            failed: list[BaseException] = [err]
        async for attempt in self.retrying(errors, when=when, before_sleep=before_sleep):
            with attempt:
                if failed:
                    raise failed.pop()
                return await op()
        raise AssertionError("unreachable: tenacity raises the last error when it gives up")  # pragma: no cover


def next_wait(state: RetryCallState) -> float:
    """The seconds about to be waited (in `before_sleep`)."""
    return state.next_action.sleep if state.next_action is not None else 0.0


def error(state: RetryCallState) -> BaseException | None:
    """The failure just caught (in `before_sleep`)."""
    return state.outcome.exception() if state.outcome is not None else None
