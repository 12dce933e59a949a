"""A refund process whose gateway decides with JUEL (`${amount > 1000}`, `#{not approved}`): shared by the
engine and the end-to-end JUEL tests."""

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
