"""A task's form opened in time: Slack's `trigger_id` lives 3 s from the click (SPEC §13).

What comes before a form — starting a process whose first steps call a slow server, taking a task whose
instance is busy — may take longer. `FormOpener.open` waits `FORM_BUDGET` for it: in time, the form opens
directly (`views.open`); otherwise a "Starting…" modal opens at once with the trigger, and when the work is
done that same view (its id and hash) becomes the form (`views.update`) — or, when there is no form for the
operator, a short note saying what happened (nothing to fill in, the failure, the refusal). A submitted
updated view is an ordinary `task_form` submission.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import views
from core.errors import Refusal

log = logging.getLogger(__name__)

FORM_BUDGET = 1.0
"""Seconds after the click the form may take before a "Starting…" modal opens instead (Slack allows 3; the other
2 s are for the click to reach linedesk and the modal to reach Slack, on a busy machine or a slow network)."""
STARTING = "Starting…"


@dataclass(frozen=True)
class Prepared:
    """What the modal shows once the work before it is done: the form, or (no form) a note under a title."""

    title: str
    form: dict[str, Any] | None = None
    note: str = ""


class FormOpener:
    def __init__(self, budget: float = FORM_BUDGET):
        self._budget = budget

    async def open(
        self, client: AsyncWebClient, trigger_id: str | None, waiting: str, work: Coroutine[Any, Any, Prepared]
    ) -> Prepared:
        """Run `work` and show its form with the click's `trigger_id`, in time whatever the work takes
        (`waiting`: the "Starting…" modal's text). The work's exception (a `Refusal`) is raised as it is."""
        job = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({job}, timeout=self._budget)
        if done or not trigger_id:
            prepared = await job
            if prepared.form is not None and trigger_id:
                await client.views_open(trigger_id=trigger_id, view=prepared.form)
            return prepared
        try:
            opened = (await client.views_open(trigger_id=trigger_id, view=views.note_modal(STARTING, waiting)))["view"]
        except SlackApiError as err:  # the click was already too old: the task card's button opens the form
            log.warning("the Starting… modal did not open: %s", err.response.get("error"))
            return await job
        view_id, hash_ = str(opened["id"]), str(opened["hash"])
        try:
            prepared = await job
        except Refusal as refusal:
            await _update(client, view_id, hash_, views.note_modal(STARTING, refusal.reason))
            raise
        except Exception:
            await _update(client, view_id, hash_, views.note_modal(STARTING, "Something went wrong; see the log."))
            raise
        await _update(client, view_id, hash_, prepared.form or views.note_modal(prepared.title, prepared.note))
        return prepared


async def _update(client: AsyncWebClient, view_id: str, hash_: str, view: dict[str, Any]) -> None:
    """The waiting modal becomes `view`; if the operator closed it meanwhile, the task card's button opens
    the form later."""
    try:
        await client.views_update(view_id=view_id, hash=hash_, view=view)
    except SlackApiError as err:
        log.info("the Starting… modal was not updated: %s", err.response.get("error"))
