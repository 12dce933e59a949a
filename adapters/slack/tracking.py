"""How every Slack listener of linedesk runs: the desk, `/autostart`, the App Home and message events alike.

`SlackListeners.on(app.action, "id", listener, answer, operator=REQUIRED)` registers a listener. Then:

* **ack first, slow work after.** Bolt (without `process_before_response`) runs a listener on after its
  `ack()` has answered Slack; linedesk's listeners ack first and do their work after. Each run is tracked:
  `idle()` (the tests' `settle()`, the demo, shutdown) waits until every listener has finished. Work that
  may outlast Slack's 3 s — a form submission, whose answer depends on its result — goes through
  `within()`, the one way to hand work to the background: it waits at most `ACK_BUDGET` seconds, and
  otherwise the work goes on after the ack, still tracked, its failure logged.
* **Nothing raised after the ack reaches Bolt.** slack_bolt 1.30 (listener/asyncio_runner.py) would set
  `ack.response = None` again, and Slack would get its answer only at its 3 s timeout. A Web API error is
  logged as a warning, anything else with its traceback.
* **One handler for refusals.** A `Refusal` (core's "not allowed / not possible") raised by a listener or by
  its middleware reaches `on_error` (registered with `app.error`): the listener's `Answer` says how the
  person sees the reason — in the ack itself (a command's text, a form's field errors) and/or after it (an
  ephemeral message, `respond()`, the App Home again). Nothing about it is logged at ERROR. A refusal
  raised after the ack is passed to the same handler by the tracking wrapper, for the reason above.
* **The operator, looked up once.** With `operator=REQUIRED` (or `OPTIONAL`) a listener middleware resolves
  the Slack user's operator into `context["operator"]`; the listener receives it by naming a parameter
  `operator` (`None` for a stranger with `OPTIONAL`; a stranger is refused before the listener with
  `REQUIRED`, "You are not a linedesk operator.", through the listener's `Answer`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.kwargs_injection.async_utils import build_async_required_kwargs
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_bolt.util.utils import get_arg_names_of_callable
from slack_sdk.errors import SlackApiError

from adapters.slack import mrkdwn
from core.config import OperatorConfig
from core.errors import Refusal
from core.operators import Operators

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[..., Awaitable[Any]]
Body = dict[str, Any]

ACK_BUDGET = 2.0
"""Seconds a listener may wait for work before it acks and lets the work go on (Slack waits 3 s at most)."""


class Operator(Enum):
    """Whether a listener needs the Slack user to be an operator."""

    REQUIRED = "required"
    OPTIONAL = "optional"


REQUIRED, OPTIONAL = Operator.REQUIRED, Operator.OPTIONAL


@dataclass(frozen=True)
class Answer:
    """How a listener's refusal reaches the person: `in_ack(reason, body)` gives the ack's arguments (when the
    listener has not acked yet), `after(reason, body, context)` tells them after the ack. The reason is core's
    plain text, and may quote what someone typed (an event's name, a process id): unless `mrkdwn` is False
    (a modal's field errors are plain text) it reaches both already escaped for mrkdwn."""

    in_ack: Callable[[str, Body], dict[str, Any]] | None = None
    after: Callable[[str, Body, AsyncBoltContext], Awaitable[None]] | None = None
    mrkdwn: bool = True

    def shown(self, reason: str) -> str:
        return mrkdwn.escape(reason) if self.mrkdwn else reason


def in_ack(prefix: str = "") -> Answer:
    """A command's refusal: the text of its ack (only the person who typed it sees it)."""
    return Answer(in_ack=lambda reason, body: {"text": f"{prefix}{reason}"})


def not_operator() -> Refusal:
    return Refusal("You are not a linedesk operator.", "not_operator")


ANSWER = "linedesk_answer"
"""context key of the listener's `Answer`."""


class SlackListeners:
    """The Slack app's listeners: registration, tracking, the operator middleware and the refusal handler."""

    def __init__(self, app: AsyncApp, operators: Operators, events: AsyncApp | None = None):
        """`events`: the app stored events are dispatched to (`adapters.slack.events`); `app` by default."""
        self.app = app
        self.events = events or app
        self._operators = operators
        self._inflight = 0
        self._background: set[asyncio.Future[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        app.error(self.on_error)

    # --- registration --------------------------------------------------------------------------------------
    def on(
        self,
        route: Callable[..., Callable[..., Any]],
        constraint: Any,
        listener: Listener,
        answer: Answer | None = None,
        operator: Operator | None = None,
    ) -> None:
        """Register `listener` with `route` (`app.action`, `app.command`, `app.view`, `app.shortcut`,
        `app.event` of `self.app` or `self.events`) for `constraint`, tracked, with its `Answer` to refusals
        and, if `operator` is given, the operator middleware."""
        middleware = [] if answer is None and operator is None else [self._prepare(answer or Answer(), operator)]
        route(constraint, middleware=middleware)(self._tracked(listener))

    def _prepare(self, answer: Answer, operator: Operator | None) -> Callable[..., Awaitable[None]]:
        async def prepare(context: AsyncBoltContext, next_: Callable[[], Awaitable[None]]) -> None:
            context[ANSWER] = answer
            if operator is not None:
                found = self.operator(context.user_id)
                if found is None and operator is REQUIRED:
                    raise not_operator()
                context["operator"] = found
            await next_()

        return prepare

    def operator(self, slack_user: str | None) -> OperatorConfig | None:
        """The one look-up of a Slack user's operator for a request."""
        return self._operators.by_slack(slack_user or "")

    def _tracked(self, listener: Listener) -> Listener:
        """A listener Bolt calls with the request; the listener's own arguments are injected as Bolt would."""
        names = get_arg_names_of_callable(listener)
        name = getattr(listener, "__name__", repr(listener))

        async def tracked(request: AsyncBoltRequest) -> None:
            kwargs = build_async_required_kwargs(
                logger=log,
                required_arg_names=list(names),
                request=request,
                response=None,
                this_func=listener,
                next_keys_required=False,
            )
            await self._guarded(listener(**kwargs), name, request)

        tracked.__name__ = tracked.__qualname__ = name
        return tracked

    # --- running -------------------------------------------------------------------------------------------
    async def _guarded(self, work: Awaitable[Any], name: str, request: AsyncBoltRequest | None) -> None:
        self._inflight += 1
        self._idle.clear()
        try:
            try:
                await work
            except Refusal as refusal:
                if request is None:
                    raise
                await self.refuse(refusal, request.body, request.context)
        except SlackApiError as err:  # e.g. a notice to a channel the app cannot post in
            log.warning(
                "Slack listener %s: Slack refused a call: %s",
                name,
                err.response.get("error") if err.response is not None else err,
            )
        except Exception:
            # logged here, not raised to Bolt: after ack() Bolt would reset the ack (see the module's doc)
            log.exception("Slack listener %s failed", name)
        finally:
            self._inflight -= 1
            self._settle()

    async def within(self, seconds: float, work: Coroutine[Any, Any, T], what: str) -> T | None:
        """Wait up to `seconds` for `work`: its result (or its exception), or None when it goes on after the
        ack — tracked (`idle()` waits for it), its failure logged."""
        job = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({job}, timeout=seconds)
        if done:
            return job.result()
        self._keep(asyncio.ensure_future(self._guarded(job, what, None)))
        return None

    def _keep(self, job: asyncio.Future[Any]) -> None:
        self._background.add(job)
        self._idle.clear()

        def done(task: asyncio.Future[Any]) -> None:
            self._background.discard(task)
            self._settle()

        job.add_done_callback(done)

    # --- refusals ------------------------------------------------------------------------------------------
    async def on_error(self, error: Exception, body: Body, context: AsyncBoltContext) -> BoltResponse | None:
        """Bolt's global error handler: a refusal is answered as the listener's `Answer` says (what must come
        after the ack runs in the background, tracked); any other error is logged as Bolt would."""
        if not isinstance(error, Refusal):
            log.error("Slack request failed: %s", error, exc_info=error)
            return None
        await self._ack_refusal(error, body, context)
        self._keep(asyncio.ensure_future(self._guarded(self.refuse(error, body, context), "refusal", None)))
        return context.ack.response

    async def refuse(self, refusal: Refusal, body: Body, context: AsyncBoltContext) -> None:
        """Tell the person why: in the ack if it has not been sent, then after it."""
        await self._ack_refusal(refusal, body, context)
        answer: Answer = context.get(ANSWER) or Answer()
        if answer.after is not None:
            await answer.after(answer.shown(refusal.reason), body, context)

    @staticmethod
    async def _ack_refusal(refusal: Refusal, body: Body, context: AsyncBoltContext) -> None:
        ack = context.ack
        if ack is not None and ack.response is None:
            answer: Answer = context.get(ANSWER) or Answer()
            await ack(**(answer.in_ack(answer.shown(refusal.reason), body) if answer.in_ack else {}))

    # --- waiting -------------------------------------------------------------------------------------------
    def _settle(self) -> None:
        if self._inflight == 0 and not self._background:
            self._idle.set()

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    async def idle(self) -> None:
        """Wait until every listener and every piece of work handed to the background has finished."""
        while self.busy:
            if self._background:
                await asyncio.gather(*list(self._background), return_exceptions=True)
            await self._idle.wait()
