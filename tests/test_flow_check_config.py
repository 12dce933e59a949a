"""check-config on flow elements and start events (SPEC §11): what it refuses, naming file, line and element,
and what it notes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bots.cli import main
from tests.support.bpmn import block, script
from tests.support.cli import EXAMPLE_ENV, example_folder
from tests.support.flow_bpmn import (
    call,
    decide,
    error_ref,
    event_sub_process,
    message_start,
    model,
    sub_process,
    timer_cycle,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "flow"
ENV = EXAMPLE_ENV


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example's config and processes, copied (as tests/test_cli.py's `workdir`)."""
    return example_folder(tmp_path, monkeypatch)


def _check(folder: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> tuple[int, str, str]:
    for name, text in files.items():
        (folder / "processes" / name).write_text(text)
    code = main(["check-config"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_call_activity_to_a_process_not_in_the_catalog_is_named(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _check(
        folder, capsys, {"caller.bpmn": model("caller", "Caller", call("nowhere", [], [], name="Ask the CRM"))}
    )
    assert code == 1
    assert "caller.bpmn:" in err and '[main_2] "Ask the CRM"' in err
    assert "calls process 'nowhere', which is not in the catalog" in err


def test_a_call_activity_with_a_computed_source_expression_is_named(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    callee = model("callee", "Callee", script("x = 1"))
    caller = model("caller", "Caller", call("callee", [{"sourceExpression": "${a + 1}", "target": "b"}], []))
    code, _, err = _check(folder, capsys, {"callee.bpmn": callee, "caller.bpmn": caller})
    assert code == 1 and "sourceExpression '${a + 1}': only a variable" in err


def test_a_business_rule_task_without_its_decision_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _check(
        folder, capsys, {"rules.bpmn": model("rules", "Rules", decide("pricing", "price", name="Price it"))}
    )
    assert code == 1
    assert '[main_2] "Price it"' in err and "no DMN decision 'pricing' in the catalog folder" in err
    shutil.copy(FIXTURES / "discount.dmn", folder / "processes" / "Sales" / "discount.dmn")
    code, _, err = _check(folder, capsys, {"rules.bpmn": model("rules", "Rules", decide("discount", "d"))})
    assert code == 0, err


def test_a_decision_table_check_config_cannot_read_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (FIXTURES / "discount.dmn").read_text().replace("<text>[100..1000[</text>", "<text>[100..</text>")
    (folder / "processes" / "bad.dmn").write_text(text)
    code, _, err = _check(folder, capsys, {})
    assert code == 1 and "bad.dmn:" in err and "[discount]" in err and "UnaryTests_2b" in err


def test_signal_starts_and_bad_timers_are_refused_other_message_starts_are_noted(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signal = model(
        "signalled",
        "Signalled",
        block("linedesk.status", text="x"),
        start_definition='<bpmn:signalEventDefinition signalRef="Signal_1" />',
    )
    bad_timer = model("late", "Late", block("linedesk.status", text="x"), start_definition=timer_cycle("every day"))
    by_error = model("by_error", "By error", script("x = 1"), start_definition=error_ref())
    files = {"signalled.bpmn": signal, "late.bpmn": bad_timer, "by_error.bpmn": by_error}
    code, _, err = _check(folder, capsys, files)
    assert code == 1
    assert "signalled.bpmn:" in err and "signal start event: use a none start, a timer start or a message start" in err
    assert "by_error.bpmn:" in err and "error start events belong in event sub-processes" in err
    (folder / "processes" / "by_error.bpmn").unlink()
    assert "late.bpmn:" in err and "'every day' is neither R/… (ISO-8601) nor a cron expression" in err

    (folder / "processes" / "signalled.bpmn").unlink()
    messages = '  <bpmn:message id="M1" name="order.placed" />\n  <bpmn:message id="M2" name="session.closed" />\n'
    files = {
        "late.bpmn": model("late", "Late", block("linedesk.status", text="x"), start_definition=timer_cycle("R/P1D")),
        "api.bpmn": model("api", "By API", script("x = 1"), start_definition=message_start("M1"), definitions=messages),
        "bye.bpmn": model(
            "bye", "Goodbye", script("x = 1"), start_definition=message_start("M2"), definitions=messages
        ),
    }
    code, out, err = _check(folder, capsys, files)
    assert code == 0, err
    assert "process late: timer start event (timeCycle R/P1D): starts on schedule, no session" in out
    assert "message start 'order.placed': started through REST (§12)" in out
    assert "process bye: message start 'session.closed': auto-started on session.closed on every line" in out


def test_event_sub_processes_linedesk_cannot_trigger_are_named(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = event_sub_process(error_ref(), script("x = 1"), tag="deep")
    inner = model("inner", "Inner", sub_process("Outer", script("y = 1")), extras="")
    inner = inner.replace("</bpmn:subProcess>", nested + "</bpmn:subProcess>", 1)
    by_message = model(
        "by_message",
        "By message",
        script("x = 1"),
        extras=event_sub_process('<bpmn:messageEventDefinition messageRef="Message_client" />', script("z = 1")),
    )
    code, _, err = _check(folder, capsys, {"inner.bpmn": inner, "by_message.bpmn": by_message})
    assert code == 1
    assert "inner.bpmn:" in err and "[deep_sub] event sub-processes run at a process's top level only" in err
    assert "by_message.bpmn:" in err and "an event sub-process with a message start is not supported" in err


def test_call_activities_that_call_back_are_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {
        "ping.bpmn": model("ping", "Ping", call("pong", [], [], name="To pong")),
        "pong.bpmn": model("pong", "Pong", script("x = 1"), call("ping", [], [], name="To ping")),
    }
    code, _, err = _check(folder, capsys, files)
    assert code == 1
    assert "ping.bpmn:" in err and "[main_2] \"To pong\" calls process 'pong', which calls back into this one" in err
