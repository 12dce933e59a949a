"""Forms as the engine reads them from a catalog: formData with ignored properties, a start form before any step,
and instances stored before linedesk kept the fields itself (they still read Spiff's formData)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.bpmn.catalog import load_catalog
from core.bpmn.engine import WorkflowRun
from tests.support.bpmn import field, process, script, start, user_task

WITH_PROPERTIES = field("a", "string", "A", required=True).replace(
    "<camunda:validation>",
    '<camunda:properties><camunda:property id="width" value="wide" /></camunda:properties><camunda:validation>',
)


def run_of(tmp_path: Path, xml: str) -> WorkflowRun:
    (tmp_path / "p.bpmn").write_text(xml)
    catalog = load_catalog(tmp_path, [])
    assert catalog.problems == []
    entry = catalog.get("p")
    assert entry is not None
    run = WorkflowRun.new(entry, {"started_by": "anna"})
    run.advance()
    return run


def test_field_properties_are_ignored(tmp_path: Path) -> None:
    run = run_of(tmp_path, process("p", "P", user_task("Ask", WITH_PROPERTIES)))
    [task] = run.ready_user_tasks()
    assert [(f.id, f.required) for f in task.fields] == [("a", True)]


def test_a_start_form_comes_before_any_step_and_its_values_are_variables(tmp_path: Path) -> None:
    xml = process("p", "P", script("seen = a + '!'"), start_event=start(field("a", "string"), initiator="who"))
    run = run_of(tmp_path, xml)
    [task] = run.ready_user_tasks()
    assert (task.bpmn_id, task.name, [f.id for f in task.fields]) == ("start", "Start form", ["a"])
    assert "seen" not in run.variables() and run.variables()["who"] == "anna"
    run.complete(task.task_id, {"a": "hi"})
    run.advance()
    assert run.completed and run.variables()["seen"] == "hi!"


def _strip_forms(node: Any) -> None:
    if isinstance(node, dict):
        linedesk = node.get("extensions", {}).get("linedesk") if isinstance(node.get("extensions"), dict) else None
        if isinstance(linedesk, dict):
            linedesk.pop("form", None)
        for value in node.values():
            _strip_forms(value)
    elif isinstance(node, list):
        for value in node:
            _strip_forms(value)


def test_an_instance_stored_before_fields_were_kept_reads_spiffs_form_data(tmp_path: Path) -> None:
    run = run_of(tmp_path, process("p", "P", user_task("Ask", field("n", "long", "N", required=True))))
    state = json.loads(run.dump())
    _strip_forms(state)
    old = WorkflowRun.load(json.dumps(state))
    [task] = old.ready_user_tasks()
    assert [(f.id, f.type, f.required) for f in task.fields] == [("n", "long", True)]
