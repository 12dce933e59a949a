"""The admin CLI against real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bots.cli import main
from tests.support.cli import EXAMPLE_ENV, example_folder

ROOT = Path(__file__).resolve().parents[1]
ENV = EXAMPLE_ENV


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_folder(tmp_path, monkeypatch)


def test_check_config_accepts_the_example(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    assert "OK:" in capsys.readouterr().out


def test_check_config_reports_config_and_bpmn_problems_with_file_and_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "linedesk.toml"
    config.write_text(config.read_text().replace('name = "Support"', 'name = "Support"\ncolour = "red"', 1))
    (workdir / "processes" / "broken.bpmn").write_text("<bpmn:definitions")
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "linedesk.toml:" in err and "lines[0].colour" in err
    config.write_text(config.read_text().replace('\ncolour = "red"', ""))
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "broken.bpmn:1:" in err and "not valid XML" in err


def test_check_config_names_an_autostart_rule_with_a_missing_process(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "processes" / "Sales" / "Leads" / "create_lead.bpmn").unlink()
    assert main(["check-config"]) == 1
    assert "autostart[0].process: no process 'create_lead'" in capsys.readouterr().err


def test_missing_variable_is_named(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    assert main(["check-config"]) == 1
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err


def test_processes_and_sessions_commands(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processes"]) == 0
    out = capsys.readouterr().out
    assert out.index("Company") < out.index("Sales\n") < out.index("Sales · Leads")
    assert "handle_request" in out and "create_lead" in out
    assert main(["sessions", "--status", "queued"]) == 0
    assert "no sessions" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("channels", "fragment"),
    [
        ('slack_desk_channels = ["C0DESK02"]', "sets both slack_desk_channel and slack_desk_channels"),
        ("slack_desk_channels = []", "an empty list"),
    ],
)
def test_check_config_refuses_both_desk_channel_keys_and_an_empty_list(
    workdir: Path, capsys: pytest.CaptureFixture[str], channels: str, fragment: str
) -> None:
    config = workdir / "linedesk.toml"
    text = config.read_text()
    if "[]" in channels:  # the list alone
        text = text.replace('slack_desk_channel = "C0DESK01"', channels, 1)
    else:
        text = text.replace('slack_desk_channel = "C0DESK01"', f'slack_desk_channel = "C0DESK01"\n{channels}', 1)
    config.write_text(text)
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "lines[0].slack_desk_channels" in err and "'support'" in err and fragment in err
    config.write_text(text.replace(channels, 'slack_desk_channels = ["C0DESK01", "C0DESK02"]'))
    config.write_text(config.read_text().replace('slack_desk_channel = "C0DESK01"\n', "", 1))
    assert main(["check-config"]) == 0, capsys.readouterr().err


JUEL_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="juel_check" name="JUEL check" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="Review" camunda:assignee="${reviewer.}">
      <bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f1" sourceRef="review" targetRef="route" />
    <bpmn:exclusiveGateway id="route" default="small"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>big</bpmn:outgoing><bpmn:outgoing>small</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="big" name="Big amount" sourceRef="route" targetRef="tell">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${amount &gt; )}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="route" targetRef="tell" />
    <bpmn:serviceTask id="tell" name="Tell" camunda:type="external" camunda:topic="linedesk.reply">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="text">Total: ${order.total()}</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>big</bpmn:incoming><bpmn:incoming>small</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="tell" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_check_config_names_juel_syntax_errors_with_file_line_and_element(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = workdir / "processes" / "juel_check.bpmn"
    model.write_text(JUEL_MODEL)
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert (
        "juel_check.bpmn:15: [big] condition of “Big amount”: JUEL: unexpected ')' at column 12 in ${amount > )}"
    ) in err
    assert "juel_check.bpmn:7: [review] camunda:assignee of “Review”: JUEL: unexpected '}' at column 12" in err
    assert (
        "juel_check.bpmn:20: [tell] input parameter 'text' of “Tell”: JUEL: method calls and functions are not"
        " supported (order.total(…)) in Total: ${order.total()}"
    ) in err
    fixed = JUEL_MODEL.replace("${reviewer.}", "${reviewer}").replace("${amount &gt; )}", "#{amount gt 1000}")
    model.write_text(fixed.replace("${order.total()}", "${order.total}"))
    assert main(["check-config"]) == 0, capsys.readouterr().err


def test_check_config_notes_an_older_template_that_is_juel_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Request #{request_no}" was a '#' and a {name} template; it is JUEL now (Camunda's deferred syntax):
    check-config says so, with the way to keep the '#'."""
    processes = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", processes)  # the config's auto-start rules name the shipped processes
    (processes / "handle_request.bpmn").write_text(
        (ROOT / "processes" / "handle_request.bpmn").read_text().replace("#${request_no}", "#{request_no}")
    )
    shutil.copy(ROOT / "linedesk.example.toml", tmp_path / "linedesk.toml")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert main(["check-config"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "#{request_no} is a JUEL expression" in line]
    assert len(notes) == 3 and all("write #${request_no}" in note for note in notes)
