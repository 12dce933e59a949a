"""SpiffWorkflow, taught linedesk's dialect of Camunda 7 BPMN.

- A service task `camunda:type="external" camunda:topic="linedesk.…"` becomes a
  `BlockTask`: a manual task the engine stops at, so that the (async) block runner
  performs the block outside the synchronous engine and then completes it — the
  Camunda "external task" pattern.
- User task forms are read from `camunda:formData` whether or not a `camunda:formKey`
  is present (Camunda Modeler omits it for generated forms; Spiff's parser would drop the form).
- linedesk's own attributes (assignee, topic, inputs, resultVariable, initiator) and the fields of a
  task's or start event's form (formData or a Camunda Form, see form_fields.py) are kept in the task
  spec's `extensions["linedesk"]`, which Spiff serialises with the instance.
- A none start event with a form is a manual task: the engine stops there until its start form is
  submitted, so the form's values are variables before any other step runs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import ManualTask as _SpiffManualTask
from SpiffWorkflow.bpmn.specs.defaults import CallActivity, EventSubprocess, ManualTask, StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.camunda.specs.user_task import Form, UserTask

from core.bpmn.calls import LinedeskCallActivity, LinedeskCallActivityParser
from core.bpmn.camunda_forms import FormIndex, form_of
from core.bpmn.decisions import DecisionTask, DecisionTaskParser
from core.bpmn.event_subs import EventStartParser, EventSubprocessAwareParser, LinedeskEventSubprocess
from core.bpmn.form_fields import field_to_dict
from core.bpmn.juel import is_juel
from core.bpmn.normalize import normalize
from core.bpmn.starts import plain_start_events

_CAMUNDA = "{" + CAMUNDA_MODEL_NS + "}"


class BlockTask(ManualTask):
    """A service task performed by a linedesk block (see core/blocks.py)."""


def _linedesk_attrs(node: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for name in (
        "assignee",
        "candidateUsers",
        "candidateGroups",
        "dueDate",
        "topic",
        "type",
        "resultVariable",
        "initiator",
    ):
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


class _FormMixin(_ExtensionsMixin):
    process_parser: Any

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        forms = getattr(self.process_parser.parser, "forms", None)
        fields = form_of(self.node if node is None else node, forms)
        if fields is not None:
            extensions["linedesk"]["form"] = [field_to_dict(f) for f in fields]
        return extensions


class BlockTaskParser(_ExtensionsMixin, CamundaTaskParser):
    pass


class FormStartEventParser(_FormMixin, EventStartParser):
    """A none start event with a form (formData or a Camunda Form) waits for it as a manual task."""

    task: Any

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        on_process = self.node.getparent() is not None and self.node.getparent().tag == full_tag("process")
        none_event = isinstance(self.task.event_definition, NoneEventDefinition)
        if extensions["linedesk"].get("form") and none_event and on_process:  # not a sub-process's start
            self.task.manual = True
        return extensions


def is_start_form(spec: Any) -> bool:
    return isinstance(spec, StartEvent) and bool(spec.manual)


class FormUserTaskParser(_FormMixin, UserTaskParser):
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
        full_tag("startEvent"): (FormStartEventParser, StartEvent),
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
    }

    def __init__(self, forms: FormIndex | None = None) -> None:
        super().__init__()
        self.forms = forms

    def add_bpmn_xml(self, bpmn: Any, filename: str | None = None) -> None:
        normalize(bpmn)
        for tag in ("timeDuration", "timeDate", "timeCycle"):
            for node in bpmn.iter(full_tag(tag)):
                node.text = camunda_timer_expression(node.text or "")
        plain_start_events(bpmn)
        super().add_bpmn_xml(bpmn, filename)


def camunda_timer_expression(text: str) -> str:
    """Camunda writes timers as ISO-8601 literals ("PT5M", "2026-01-01T09:00:00Z") or with JUEL
    (`${delay}`, "PT${minutes}M"); SpiffWorkflow hands them to the script engine. Translate the first
    into a Python string literal; keep the second, which linedesk's script engine evaluates as JUEL."""
    text = text.strip()
    if is_juel(text):
        return text
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
