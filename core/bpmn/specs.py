"""SpiffWorkflow, taught linedesk's dialect of Camunda 7 BPMN.

- A service task `camunda:type="external" camunda:topic="linedesk.…"` becomes a
  `BlockTask`: a manual task the engine stops at, so that the (async) block runner
  performs the block outside the synchronous engine and then completes it — the
  Camunda "external task" pattern.
- User task forms are read from `camunda:formData` whether or not a `camunda:formKey`
  is present (Camunda Modeler omits it for generated forms; Spiff's parser would drop the form).
- linedesk's own attributes (assignee, topic, inputs, resultVariable) are kept in the
  task spec's `extensions["linedesk"]`, which Spiff serialises with the instance.
"""

from __future__ import annotations

from typing import Any, ClassVar

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import ManualTask as _SpiffManualTask
from SpiffWorkflow.bpmn.specs.defaults import CallActivity, EventSubprocess, ManualTask, StartEvent
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.camunda.specs.user_task import Form, UserTask

from core.bpmn.calls import LinedeskCallActivity, LinedeskCallActivityParser
from core.bpmn.decisions import DecisionTask, DecisionTaskParser
from core.bpmn.event_subs import EventStartParser, EventSubprocessAwareParser, LinedeskEventSubprocess
from core.bpmn.starts import plain_start_events

_CAMUNDA = "{" + CAMUNDA_MODEL_NS + "}"


class BlockTask(ManualTask):
    """A service task performed by a linedesk block (see core/blocks.py)."""


def _linedesk_attrs(node: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for name in ("assignee", "topic", "type", "resultVariable"):
        value = node.get(_CAMUNDA + name)
        if value is not None:
            attrs[name] = value
    inputs: list[list[str]] = []
    for param in node.iter(_CAMUNDA + "inputParameter"):
        inputs.append([param.get("name") or "", param.text or ""])
    if inputs:
        attrs["inputs"] = inputs
    return attrs


class _ExtensionsMixin:
    node: Any

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)  # type: ignore[misc]
        extensions["linedesk"] = _linedesk_attrs(self.node if node is None else node)
        return extensions


class BlockTaskParser(_ExtensionsMixin, CamundaTaskParser):
    pass


class FormUserTaskParser(_ExtensionsMixin, UserTaskParser):
    def get_form(self) -> Form:
        form: Form = super().get_form()
        if form.fields:
            return form
        # Spiff returns an empty form when camunda:formKey is absent; parse the fields anyway.
        try:
            self.node.attrib[_CAMUNDA + "formKey"] = self.node.get(_CAMUNDA + "formKey") or ""
            return super().get_form()
        finally:
            if self.node.get(_CAMUNDA + "formKey") == "":
                del self.node.attrib[_CAMUNDA + "formKey"]


class LinedeskParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, Any]] = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (BlockTaskParser, BlockTask),
        full_tag("userTask"): (FormUserTaskParser, UserTask),
        full_tag("callActivity"): (LinedeskCallActivityParser, LinedeskCallActivity),
        full_tag("subProcess"): (EventSubprocessAwareParser, CallActivity),
        full_tag("startEvent"): (EventStartParser, StartEvent),
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
    }

    def add_bpmn_xml(self, bpmn: Any, filename: str | None = None) -> None:
        for tag in ("timeDuration", "timeDate", "timeCycle"):
            for node in bpmn.iter(full_tag(tag)):
                node.text = camunda_timer_expression(node.text or "")
        plain_start_events(bpmn)
        super().add_bpmn_xml(bpmn, filename)


def camunda_timer_expression(text: str) -> str:
    """Camunda writes timers as ISO-8601 literals ("PT5M", "2026-01-01T09:00:00Z") or as
    `${expression}`; SpiffWorkflow evaluates them as Python. Translate the first into a
    string literal and unwrap the second."""
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1].strip()
    if text.startswith(("'", '"')):
        return text
    return repr(text)


def make_serializer() -> BpmnWorkflowSerializer:
    config = dict(CAMUNDA_CONFIG)
    config[BlockTask] = config[_SpiffManualTask]
    config[LinedeskCallActivity] = config[CallActivity]
    config[DecisionTask] = config[BusinessRuleTask]
    config[LinedeskEventSubprocess] = config[EventSubprocess]
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
