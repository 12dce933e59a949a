"""`LINEDESK_LOG_FORMAT`: text or JSON lines that name the session and process instance they are about, and
never show a secret of the config (issue 8, point 3)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bots.logs import MASK, SLACK_CLIENT_LOGGERS, SPIFF_LOGGER, setup_logging
from sandboxes.rig import BOT_TOKEN, IVAN, SIGNING_SECRET, SUPPORT_TOKEN, WEBHOOK_SECRET, Rig
from tests.support.bpmn import script
from tests.support.flows import open_session_with_anna_online, pick
from tests.support.rigs import MakeRig

SECRETS = (SUPPORT_TOKEN, BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    kept = {name: logging.getLogger(name).level for name in (SPIFF_LOGGER, *SLACK_CLIENT_LOGGERS)}
    yield
    for name, was in kept.items():
        logging.getLogger(name).setLevel(was)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


async def a_process_runs(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await pick(rig, "Handle request")
    await rig.settle()
    logging.getLogger("adapters.telegram").warning("calling https://api.telegram.org/bot%s/getMe", SUPPORT_TOKEN)
    try:
        raise RuntimeError(f"Slack said no to {BOT_TOKEN} (signing secret {SIGNING_SECRET}, {WEBHOOK_SECRET})")
    except RuntimeError:
        logging.getLogger("core.outbox").exception("a failure with secrets in it")


async def test_json_lines_name_the_session_and_instance_and_hide_secrets(rig: Rig, restore_logging: None) -> None:
    stream = io.StringIO()
    config = rig.load_config().model_copy(update={"log_format": "json"})
    setup_logging(config, stream=stream)
    await a_process_runs(rig)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message", "session", "instance"} <= set(line) for line in lines)
    started = next(line for line in lines if "started by anna (manual)" in line["message"])
    assert started["session"] == 1 and started["instance"] and started["logger"] == "core.processes"
    failure = next(line for line in lines if line["message"] == "a failure with secrets in it")
    assert failure["session"] is None and failure["instance"] is None  # written outside any session's work
    text = stream.getvalue()
    assert not any(secret in text for secret in SECRETS)
    assert text.count(MASK) >= 4
    assert "RuntimeError" in failure["exception"] and MASK in failure["exception"]


async def test_text_lines_say_what_they_are_about(rig: Rig, restore_logging: None) -> None:
    stream = io.StringIO()
    setup_logging(rig.load_config(), stream=stream)
    await a_process_runs(rig)
    text = stream.getvalue()
    started = next(line for line in text.splitlines() if "started by anna (manual)" in line)
    assert " INFO core.processes [session=1 instance=" in started
    assert not any(secret in text for secret in SECRETS)
    assert f"/bot{MASK}/getMe" in text


async def test_json_lines_hide_secrets_that_json_escaping_would_change(
    make_rig: MakeRig, restore_logging: None
) -> None:
    """A secret with `"` or `\\` in it is masked before the line is JSON-escaped (escaped, it no longer matched)."""
    token = 'admin"token\\with-a-quote-and-a-backslash'
    rig = await make_rig(("x", "X", [script("x = 1")]), admin_token=token)
    stream = io.StringIO()
    setup_logging(rig.load_config().model_copy(update={"log_format": "json"}), stream=stream)
    logging.getLogger("bots.http").warning("a request with Authorization: Bearer %s", token)
    try:
        raise RuntimeError(f"the token was {token}")
    except RuntimeError:
        logging.getLogger("bots.http").exception("a failure with the token in it")

    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert token not in text and json.dumps(token)[1:-1] not in text
    assert any(line["message"] == f"a request with Authorization: Bearer {MASK}" for line in lines)
    failure = next(line for line in lines if line["message"] == "a failure with the token in it")
    assert f"the token was {MASK}" in failure["exception"]


async def test_spiffworkflow_task_lines_stay_out_of_the_info_log(rig: Rig, restore_logging: None) -> None:
    """SpiffWorkflow logs every task state change at INFO; linedesk's INFO log shows only its warnings (§16)."""
    stream = io.StringIO()
    setup_logging(rig.load_config().model_copy(update={"log_format": "json"}), stream=stream)
    await a_process_runs(rig)
    logging.getLogger("spiff.task").warning("a SpiffWorkflow warning")
    logging.getLogger("spiff.workflow").error("a SpiffWorkflow error")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any("started by anna (manual)" in line["message"] for line in lines)  # linedesk's own INFO lines stay
    spiff = [(line["level"], line["message"]) for line in lines if line["logger"].startswith("spiff")]
    assert spiff == [("WARNING", "a SpiffWorkflow warning"), ("ERROR", "a SpiffWorkflow error")]


async def test_spiffworkflow_task_lines_show_when_linedesk_runs_at_debug(rig: Rig, restore_logging: None) -> None:
    stream = io.StringIO()
    setup_logging(rig.load_config(), stream=stream, level=logging.DEBUG)
    await a_process_runs(rig)
    assert " INFO spiff.task" in stream.getvalue() and "State changed to" in stream.getvalue()


async def test_slack_sdk_builds_its_debug_lines_only_when_linedesk_runs_at_debug(
    rig: Rig, restore_logging: None
) -> None:
    """slack_sdk formats a request's and a response's debug lines whenever its logger's own level is at most DEBUG
    (NOTSET by default); at INFO linedesk sets it, and the Slack desk still works."""
    stream = io.StringIO()
    setup_logging(rig.load_config(), stream=stream)
    assert all(logging.getLogger(name).level == logging.INFO for name in SLACK_CLIENT_LOGGERS)
    await a_process_runs(rig)
    assert "Sending a request" not in stream.getvalue() and await rig.desk_thread(1)
    setup_logging(rig.load_config(), stream=stream, level=logging.DEBUG)
    assert all(logging.getLogger(name).level == logging.DEBUG for name in SLACK_CLIENT_LOGGERS)
    await rig.client_writes(IVAN, "one more")
    await rig.settle()
    assert "Sending a request - url: POST" in stream.getvalue()
