"""BPMN errors nobody caught (SPEC §11 "Flow"): as in Camunda, an error end or throw event without a
matching boundary event or error event sub-process ends the instance as failed, with its code shown."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
)


def uncaught_error(workflow: Any) -> str | None:
    """The first uncaught BPMN error thrown so far, described; it is taken off the workflow's event list."""
    for event in list(workflow.bpmn_events):
        definition = event.event_definition
        if isinstance(definition, (ErrorEventDefinition, EscalationEventDefinition)):
            workflow.bpmn_events.remove(event)  # thrown inside: never for the outside world
        if isinstance(definition, ErrorEventDefinition) and not _started_event_subprocess(workflow, definition):
            code = definition.code or "(no code)"
            name = f" “{definition.name}”" if definition.name and definition.name != definition.code else ""
            return f"BPMN error {code}{name} was not caught (no boundary event or event sub-process for it)"
    return None


def _started_event_subprocess(workflow: Any, definition: Any) -> bool:
    """Spiff lists an error as unhandled even when it started one of the process's event sub-processes."""
    for name in workflow.spec.start.trigger_specs:
        spec = workflow.subprocess_specs.get(name)
        if spec is not None and any(start.event_definition == definition for start in spec.bpmn_start_events):
            return True
    return False
