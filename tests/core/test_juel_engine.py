"""JUEL where the engine meets it (SPEC §11): gateway conditions next to Python ones, timers with
`${…}`, the people of a user task and its due date, block inputs next to `=` and `{name}`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from core.blocks import BLOCKS, BlockError, render
from core.bpmn.catalog import load_catalog
from core.bpmn.engine import EngineError, WorkflowRun, resolve, resolve_names
from core.bpmn.specs import camunda_timer_expression
from tests.support.bpmn import Step, field, timer, user_task, write_process


def run_of(tmp_path: Path, *steps: Step, data: dict[str, Any]) -> WorkflowRun:
    write_process(tmp_path / "processes", "p.bpmn", "p", "P", *steps)
    catalog = load_catalog(tmp_path / "processes", BLOCKS)
    assert catalog.problems == []
    entry = catalog.get("p")
    assert entry is not None
    run = WorkflowRun.new(entry, data)
    run.advance()
    return run


def test_a_timer_written_with_juel_is_evaluated_over_the_variables(tmp_path: Path) -> None:
    run = run_of(tmp_path, timer(duration="PT${minutes}M"), data={"minutes": 5})
    wake_at = run.waiting().wake_at
    assert wake_at is not None
    assert 4.5 * 60 < wake_at - dt.datetime.now(dt.UTC).timestamp() <= 5 * 60


def test_timer_texts_stay_juel_or_become_python_literals() -> None:
    assert camunda_timer_expression(" ${delay} ") == "${delay}"
    assert camunda_timer_expression("PT${m}M") == "PT${m}M"
    assert camunda_timer_expression("PT5M") == "'PT5M'"


def test_the_people_of_a_user_task_and_its_due_date_are_resolved(tmp_path: Path) -> None:
    task = user_task("Review", field("ok", "boolean"), assignee="${reviewer}")
    task.xml = task.xml.replace(
        "<bpmn:userTask ",
        '<bpmn:userTask camunda:candidateUsers="${backup}, carl" camunda:candidateGroups="${teams}"'
        ' camunda:dueDate="${due}" ',
    )
    data = {"reviewer": "boris", "backup": "anna", "teams": ["support", "sales"], "due": "2026-12-31"}
    [view] = run_of(tmp_path, task, data=data).ready_user_tasks()
    assert (view.assignee, view.candidate_users, view.candidate_groups) == (
        "boris",
        ("anna", "carl"),
        ("support", "sales"),
    )
    assert view.due_date == "2026-12-31"


def test_resolving_an_attribute() -> None:
    assert resolve("demo", {}) == "demo" and resolve(None, {}) is None
    assert resolve("${starter}", {"starter": "anna"}) == "anna"
    assert resolve_names("anna, carl ,", {}) == ("anna", "carl")
    assert resolve_names("${empty x ? 'a' : x}", {"x": ["b", "c"]}) == ("b", "c")
    with pytest.raises(EngineError, match=r"unknown variable 'initiator' in \$\{initiator\}") as caught:
        resolve("${initiator}", {}, "task_1")
    assert caught.value.task == "task_1"


def test_block_inputs_are_juel_python_or_templates_by_their_syntax() -> None:
    data = {"name": "Ivan", "amount": 3}
    assert render("${amount * 2}", data) == 6
    assert render("Hi ${name}, #{amount + 1}", data) == "Hi Ivan, 4"
    assert render("Hi {name}", data) == "Hi Ivan"
    assert render("=amount * 2", data) == 6
    with pytest.raises(BlockError, match=r"JUEL: unknown variable 'nme' in Hi \$\{nme\}"):
        render("Hi ${nme}", data)


@pytest.mark.parametrize(("amount", "approved", "block"), [(1500, True, "big"), (5, False, "no"), (5, True, "ok")])
def test_a_gateway_mixes_juel_and_python_conditions(tmp_path: Path, amount: int, approved: bool, block: str) -> None:
    from tests.support.juel import MODEL

    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "refund.bpmn").write_text(MODEL.replace("#{not approved}", "not approved"))  # Python, as before
    entry = load_catalog(folder, BLOCKS).get("refund")
    assert entry is not None
    run = WorkflowRun.new(entry, {"client_name": "Ivan"})
    run.advance()
    [task] = run.ready_user_tasks()
    run.complete(task.task_id, {"amount": amount, "approved": approved})
    run.advance()
    assert [call.bpmn_id for call in run.ready_blocks()] == [block]
