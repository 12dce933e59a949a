"""Repository-wide test hooks.

Every Telegram sandbox created during a test registers itself; when the test ends, every Bot API
call recorded by those sandboxes is checked against the machine-readable Bot API spec
(``telegram_bot_api_spec.json``, see ``tests/support/telegram_spec.py``):

* the method exists in the spec, and the sandbox knew the bot token and the method (401/404 answers
  are reported: the product called something Telegram would refuse);
* every required parameter is present, no parameter is unknown to the method;
* structured parameters (``reply_markup``, ``entities``, ``reply_parameters``, …) conform to their
  spec types, recursively; inline buttons carry exactly one action and ``callback_data`` of 1-64
  bytes (UTF-8);
* length limits stated by the spec ("1-4096 characters after entities parsing", "0-1024
  characters", "1-128 characters", "0-2048 bytes" …) hold, characters counted as Telegram counts
  them (UTF-16 code units), after parse_mode/entities are applied.

A problem fails the test at teardown, naming the test, the method and the problem. Tests that make
wrong calls on purpose opt out with ``@pytest.mark.telegram_calls_unchecked``. The spec file is in
``tests/fixtures/reference``.

Every Slack sandbox is watched the same way for Block Kit's limits (``BlockKitLimits``), on everything
the product shows: ``chat.postMessage``, ``chat.postEphemeral``, ``chat.update``, posts to response
URLs, ``views.open/update/push/publish``, slash-command and interaction acks shown as ephemeral
messages, and views sent back in view-submission answers (``response_action`` update/push). Opt out
with ``@pytest.mark.slack_calls_unchecked``.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sandboxes.slack import SlackSandbox, SlackWorkspace
from sandboxes.telegram import TelegramSandbox
from tests.support.platform_checks import (
    SLACK_UNCHECKED_MARKER,
    UNCHECKED_MARKER,
    BlockKitLimits,
    SlackSeen,
    _report,
    _slack_report,
    call_checker,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{UNCHECKED_MARKER}: do not check this test's outgoing Telegram Bot API calls against the spec "
        "(for tests that make wrong calls on purpose)",
    )
    config.addinivalue_line(
        "markers",
        f"{SLACK_UNCHECKED_MARKER}: do not check the Block Kit of this test's Slack messages and views against "
        "Slack's limits (for tests that send oversized Block Kit on purpose)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.fixturenames.append("_tasks_printed_when_stuck")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With ``LINEDESK_TEST_NO_SKIPS=1`` (set by ``.ci/run``) a skipped test fails, its reason shown: CI has a
    Redis, the ``redis-server`` binary and every fixture, so a skip there means a test did not run that should."""
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if os.environ.get("LINEDESK_TEST_NO_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where every test must run (LINEDESK_TEST_NO_SKIPS=1): {reason}"


@pytest.fixture
async def _tasks_printed_when_stuck(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Shortly before pytest-timeout fails a hung async test, print where each of its asyncio tasks waits
    (the timeout's own traceback only shows the event loop's select)."""
    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(request.config.getini("timeout") or 0)
    if limit <= 0:
        yield
        return
    loop = asyncio.get_running_loop()

    def dump() -> None:
        out = sys.__stderr__ or sys.stderr
        tasks = asyncio.all_tasks(loop)
        print(
            f"\n=== {request.node.nodeid}: still running after {limit - 10:.0f}s; {len(tasks)} asyncio tasks ===",
            file=out,
        )
        for task in tasks:
            print(f"--- {task.get_name()}", file=out)
            task.print_stack(limit=8, file=out)
        out.flush()

    handle = loop.call_later(max(1.0, limit - 10), dump)
    try:
        yield
    finally:
        handle.cancel()


@pytest.fixture(autouse=True)
def _telegram_calls_follow_the_spec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check every Bot API call of every sandbox created during the test (see the module docstring)."""
    checker = call_checker()
    if request.node.get_closest_marker(UNCHECKED_MARKER) is not None:
        yield
        return
    sandboxes: list[TelegramSandbox] = []
    original_init = TelegramSandbox.__init__

    def registering_init(self: TelegramSandbox, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        sandboxes.append(self)

    monkeypatch.setattr(TelegramSandbox, "__init__", registering_init)
    yield
    findings = [
        (call, problems) for sandbox in sandboxes for call in sandbox.calls if (problems := checker.problems(call))
    ]
    if findings:
        pytest.fail(_report(request.node.nodeid, findings), pytrace=False)


@pytest.fixture(autouse=True)
def _slack_block_kit_within_limits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check the Block Kit of everything the product showed in any Slack sandbox of the test."""
    if request.node.get_closest_marker(SLACK_UNCHECKED_MARKER) is not None:
        yield
        return
    seen = SlackSeen([], [], [])
    original_init = SlackSandbox.__init__
    original_record = SlackWorkspace.record_ephemeral
    original_send = SlackSandbox.send

    def registering_init(self: SlackSandbox, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        seen.sandboxes.append(self)

    def recording_ephemeral(
        self: SlackWorkspace,
        user_id: str,
        text: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if kwargs.get("source", "ack") == "ack":
            seen.acks.append({"text": text, "blocks": copy.deepcopy(blocks)})
        return original_record(self, user_id, text, blocks, **kwargs)

    async def recording_send(self: SlackSandbox, *args: Any, **kwargs: Any) -> Any:
        response = await original_send(self, *args, **kwargs)
        body = response.json
        if isinstance(body, dict) and body.get("response_action") in ("update", "push"):
            seen.answered_views.append((str(body["response_action"]), copy.deepcopy(body.get("view"))))
        return response

    monkeypatch.setattr(SlackSandbox, "__init__", registering_init)
    monkeypatch.setattr(SlackWorkspace, "record_ephemeral", recording_ephemeral)
    monkeypatch.setattr(SlackSandbox, "send", recording_send)
    yield
    findings = seen.findings(BlockKitLimits())
    if findings:
        pytest.fail(_slack_report(request.node.nodeid, findings), pytrace=False)
