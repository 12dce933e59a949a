"""JUEL as Camunda Modeler writes it, run over HTTP against the sandboxes: an exclusive gateway on
`${amount > 1000}` / `${not approved}` takes the branch the form's values choose, an input parameter
is a JUEL text, and an unknown variable fails the instance naming the expression and the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model import InstanceStatus
from sandboxes.rig import ANNA, IVAN
from tests.support.flows import run_for_ivan
from tests.support.rigs import MakeRig

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="refund" name="Refund" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="ask" name="Refund request">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="amount" label="Amount" type="long" />
        <camunda:formField id="approved" label="Approved" type="boolean" />
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="ask" />
    <bpmn:sequenceFlow id="f1" sourceRef="ask" targetRef="route" />
    <bpmn:exclusiveGateway id="route" name="Which way?" default="toOk">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>toBig</bpmn:outgoing><bpmn:outgoing>toNo</bpmn:outgoing><bpmn:outgoing>toOk</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="toBig" name="big" sourceRef="route" targetRef="big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${amount &gt; 1000}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toNo" name="refused" sourceRef="route" targetRef="no">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">#{not approved}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toOk" sourceRef="route" targetRef="ok" />
    <bpmn:serviceTask id="big" name="Big" camunda:type="external" camunda:topic="linedesk.reply">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="text"
          >${client_name}, ${amount} needs a manager (${amount * 2 div 4})</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>toBig</bpmn:incoming><bpmn:outgoing>e1</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="no" name="No" camunda:type="external" camunda:topic="linedesk.reply">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="text">Sorry {client_name}, refused</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>toNo</bpmn:incoming><bpmn:outgoing>e2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="ok" name="Ok" camunda:type="external" camunda:topic="linedesk.reply">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="text">${approved ? 'Refunded: ' : 'no'}${amount}</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>toOk</bpmn:incoming><bpmn:outgoing>e3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>e1</bpmn:incoming><bpmn:incoming>e2</bpmn:incoming>
      <bpmn:incoming>e3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="e1" sourceRef="big" targetRef="end" />
    <bpmn:sequenceFlow id="e2" sourceRef="no" targetRef="end" />
    <bpmn:sequenceFlow id="e3" sourceRef="ok" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def write_model(tmp_path: Path, text: str = MODEL) -> None:
    folder = tmp_path / "processes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "refund.bpmn").write_text(text)


@pytest.mark.parametrize(
    ("amount", "approved", "reply"),
    [
        ("1500", "true", "Ivan, 1500 needs a manager (750.0)"),
        ("200", "false", "Sorry Ivan, refused"),
        ("200", "true", "Refunded: 200"),
    ],
)
async def test_a_juel_gateway_takes_the_branch_the_form_chooses(
    make_rig: MakeRig, tmp_path: Path, amount: str, approved: str, reply: str
) -> None:
    write_model(tmp_path)
    rig = await make_rig()
    await run_for_ivan(rig, "Refund")
    done = await rig.submit(ANNA, {"amount": {"value": amount}, "approved": {"value": approved}})
    assert done.status == 200 and done.text == ""
    assert rig.client_chat(IVAN)[-1] == reply
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.status == InstanceStatus.COMPLETED


async def test_an_unknown_variable_fails_the_instance_naming_the_expression_and_the_variable(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    write_model(tmp_path, MODEL.replace("${amount &gt; 1000}", "${amout &gt; 1000}"))
    rig = await make_rig()
    await run_for_ivan(rig, "Refund")
    await rig.submit(ANNA, {"amount": {"value": "5"}, "approved": {"value": "true"}})
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.status == InstanceStatus.FAILED
    assert record.error == "JUEL: unknown variable 'amout' in ${amout > 1000}"
    thread = await rig.desk_thread(1)
    failed = "✖ Refund failed at “route”: JUEL: unknown variable 'amout' in ${amout &gt; 1000}"  # Slack escapes >
    assert failed in thread
    assert not any("needs a manager" in text or "Refunded" in text for text in rig.client_chat(IVAN))
