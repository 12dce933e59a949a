"""Ref spaces: the store's one-way keyed records (`Store.set_ref`) that are not platform links (`core.links`).

A ref is a small JSON document under (space, key), read only by its key: state kept between two events, memos
of a process step, caches. Each space is a member here, so a misspelt space is a type error rather than a ref
nobody reads. The values are the namespace strings the refs have always been stored under.
"""

from __future__ import annotations

from enum import StrEnum


class RefSpace(StrEnum):
    TELEGRAM_FORM = "telegram.form"
    """"<chat id>:<thread id>:<user id>" → an operator's form conversation in a desk topic (its questions,
    answers so far and where it stands; `adapters.telegram.desk.topic_forms`)."""
    LAST_ASSIGNED = "operator.last_assigned"
    """operator id → {"at", "seq"} of their last automatic assignment (round-robin ties; "seq" is a store
    counter, since two assignments can share a timestamp)."""
    SLACK_PERMALINK = "slack.permalink"
    """"<session number>" → {"url"}: a cache of the permalink of the session's root message in Slack (asking
    Slack costs a call per session on the home tab)."""
    ITEM_BY_TASK = "item_by_task"
    """a process task run's key → {"app", "number"} of the item its create_item block made: a replay after a
    crash does not make it twice."""
    HTTP_BY_TASK = "http_by_task"
    """a process task run's key → {"result"} of its http block's call: a replay after a crash does not call
    twice."""
    DESK_CHANNEL = "desk.channel"
    """"<session number>" → {"channel"}: the Slack desk channel chosen for the session's thread before it is
    posted (a line with several desk channels; `Store.choose_desk_channel`)."""
    TIMER_START = "process.timer_start"
    """process id → {"definition", "anchor", "last", "runs"}: a timer start event's schedule — the definition
    it was computed from, when linedesk first saw it, when it last started the process and how often
    (`core.processes.schedule`)."""
    EXTERNAL_TASK = "process.external_task"
    """external task id → an `core.workers.records.ExternalTask`: its topic and what workers did to it (lock,
    failures, retries); the lock itself is the store claim `external-task:<id>` held by the worker's id."""
    ASK = "process.ask"
    """an ask's id → the question a `linedesk.ask` block put to a client (`core.asks.AskRecord`): its buttons
    carry the id."""
    HOURS_WAIT = "session.hours_wait"
    """"<session number>" → {"line", "since"}: a session of an `auto_assign` line opened outside its business
    hours, waiting for them to be assigned (`core.sessions.service_levels`)."""
