"""The corpus of public Camunda 7 models (tests/fixtures/camunda, origins in ORIGINS.md): for every model, what
linedesk does with it today, exactly. `linedesk check-config` either refuses it, naming file, line, element and
what to do instead, or accepts it; an accepted model is run end to end over HTTP — from a session, or through
the Camunda REST API (§12) where it starts by a message or waits for workers — so no model passes check-config
and then fails unnoticed at run time."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import aiohttp
import pytest
from camunda.client.external_task_client import ExternalTaskClient

from bots.cli import main
from core.model import InstanceRecord, InstanceStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, DESK_CHANNEL, Rig
from tests.support.cli import EXAMPLE_ENV, example_folder
from tests.support.flows import open_session_with_anna_online, run_for_ivan

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "camunda"
ENV = EXAMPLE_ENV
ADMIN_TOKEN = "corpus-admin-token"

JAVA = "Java has no place here: use an external topic"
SCRIPT = "rewrite it in Python or as an external task (§12)"
FORM = "linedesk cannot show it: use generated fields (formData) or a Camunda Form (.form)"
CALL = "which is not in the catalog (no executable process with that id)"
JUEL_CALL = "JUEL: method calls and functions are not supported"
DMN = "in the catalog folder (decisions: none)"
ERROR_VARIABLES = "on an error event: linedesk does not set them"
MESSAGE_EVENT_SUB = "an event sub-process with a message start is not supported"
CONDITIONAL = "conditional events do not exist in linedesk"
NOT_EXECUTABLE = 'no executable process: tick "Executable" on the pool'
LISTENER = "listeners do not run here; draw a Python script task"
MAPPING = "is not applied here: set the variables in a Python script task"

REFUSED: dict[str, list[tuple[int, str, str]]] = {
    "platform_error_boundary_subprocess": [(20, "BoundaryEvent_1", ERROR_VARIABLES)],
    "platform_cam_9934": [(10, "SubProcess_0uvmiqn", MESSAGE_EVENT_SUB)],
    "ex_embedded_bpmn_events": [
        (4, "StartEvent_1", FORM),
        (8, "Task_16y91ka", FORM),
    ],
    "ex_embedded_react": [(4, "StartEvent_1", FORM), (8, "Task_1a9adlo", FORM)],
    "ex_embedded_spring_rest_loan": [(11, "ServiceTask_1", JAVA)],
    "ex_job_announcement": [
        (24, "mail", JAVA),
        (31, "publication", CALL),
        (40, "review", JUEL_CALL),
        (54, "correct", JUEL_CALL),
    ],
    "ex_job_announcement_publication": [
        (9, "publish_announcement_website", JAVA),
        (23, "publish_announcement_twitter", JAVA),
        (42, "publish_announcement_facebook", JAVA),
    ],
    "ex_loan_granting": [(5, "Task_1lvjtd4", SCRIPT)],
    "ex_order_handling": [(36, "BoundaryEvent_1y1bvad", CONDITIONAL)],
    "ex_parse_bpmn": [(13, "serviceTask", JAVA), (45, "scriptTask", SCRIPT), (51, "endEvent", JAVA)],
    "ex_rest_service": [(7, "ServiceTask_1", JAVA), (7, "ServiceTask_1", SCRIPT)],
    "ex_servlet_pa": [(7, "ServiceTask_1", JAVA)],
    "ex_shared_main": [(9, "CallActivity_0ahffuc", CALL)],
    "ex_spin_dataformat": [(9, "ScriptTask_1", SCRIPT)],
    "ex_spin_plugin": [(12, "Activity_0x1k9u4", JAVA)],
    "ex_spring_resolve_bean": [(6, "servicetask1", JAVA)],
    "ex_twitter": [
        (4, "service_task_send_rejection_notification", JAVA),
        (46, "service_task_publish_on_twitter", JAVA),
        (59, "start_event_new_tweet", FORM),
        (68, "user_task_review_tweet", FORM),
    ],
    "ex_xslt_script": [
        (4, "StartEvent_1", LISTENER),
        (12, "ScriptTask_1", SCRIPT),
        (12, "ScriptTask_1", MAPPING),
        (22, "EndEvent_1", LISTENER),
    ],
    "modeler_c7_service_task": [(7, "ServiceTask_1", JAVA)],
    "modeler_collaboration_not_executable": [(7, "Process_1tp2lk4", NOT_EXECUTABLE)],
    "modeler_complex": [(99, "sid-67C91933-43BF-4B55-A9FA-BB741C03A8C4", NOT_EXECUTABLE)],
    "modeler_e2e_complex": [(10, "Process_1", NOT_EXECUTABLE)],
    "platform_invoice_v2": [
        (30, "approveInvoice", FORM),
        (30, "approveInvoice", LISTENER),
        (30, "approveInvoice", LISTENER),
        (30, "approveInvoice", JUEL_CALL),
        (56, "prepareBankTransfer", FORM),
        (56, "prepareBankTransfer", JUEL_CALL),
        (66, "assignApprover", DMN),
        (70, "StartEvent_1", FORM),
        (79, "ServiceTask_1", JAVA),
        (83, "reviewInvoice", CALL),
    ],
    "platform_timer_boundary_output": [(11, "wait", MAPPING)],
    "platform_review_invoice": [
        (13, "assignReviewer", FORM),
        (17, "reviewInvoice", FORM),
        (17, "reviewInvoice", JUEL_CALL),
    ],
}


class Rest(Enum):
    WORKERS = "workers serve its external tasks (fetchAndLock / complete)"
    MESSAGE = "POST /engine-rest/message reaches its waiting catch events"
    MESSAGE_START = "POST /engine-rest/message starts it (a message start event) in session #1"


@dataclass(frozen=True)
class Run:
    """An accepted model, run from a session: the name in the picker, what Anna submits task by task, the
    variables the instance ends with; `rest`: what §12 does to it (workers serve its external tasks, a message
    reaches its catch events, or a message starts it in session #1 instead of the picker)."""

    name: str
    forms: list[dict[str, str]] = field(default_factory=list)
    variables: dict[str, object] = field(default_factory=dict)
    rest: Rest | None = None
    notes: tuple[str, ...] = ()


ACCEPTED: dict[str, Run] = {
    "platform_parallel_before_and_in_subprocess": Run("Process1", forms=[{}, {}, {}]),
    "platform_terminate_end": Run("Default Process", forms=[{}, {}]),
    "platform_two_end_events": Run("process"),
    "platform_exclusive_catch_concurrent": Run(
        "exclusive",
        rest=Rest.MESSAGE,
        notes=(
            "[intermediateCatchEvent1] \"intermediateThrowEvent1\" message catch 'testMessage1': waits for POST",
            "[intermediateCatchEvent2] \"intermediateThrowEvent2\" message catch 'testMessage1': waits for POST",
        ),
    ),
    "platform_assert_external_task": Run(
        "Test Process",
        rest=Rest.WORKERS,
        notes=tuple(f"[ExternalTask_{n}] served by external workers: topic External_{n}" for n in range(1, 5)),
    ),
    "ex_junit5_test_process": Run("testProcess", forms=[{}]),
    "ex_shared_sub": Run("Sub-Process", forms=[{}]),
    "ex_tenant1_schema": Run("tenant1-process", forms=[{}]),
    "ex_wildfly_waiting_state": Run("waitingProcess", forms=[{}]),
    "modeler_c7_user_task_form": Run(
        "Process_1", forms=[{"invoiceNumber": "INV-7"}], variables={"invoiceNumber": "INV-7"}
    ),
    "modeler_collaboration_executable": Run("Process_09h5p6u"),
    "platform_collaboration_plane": Run("Default Initiating Process"),
    "ex_migrate_on_deployment": Run(
        "Example Process",
        forms=[{}],
        variables={"initiator": "anna"},
    ),
    "ex_webapp_ee_sample": Run(
        "Sample",
        forms=[{}],
        notes=("[UserTask_1] \"do something\" camunda:assignee: 'demo' is no operator in the config",),
    ),
    "ex_camunda_forms_invoice": Run(
        "Camunda Forms Quickstart",
        forms=[  # the invoice number must match the form's pattern ^C-[0-9]+$, "approved" (true|false)
            {"creditor": "ACME", "amount": "30", "invoiceNumber": "C-1"},
            {"creditor": "ACME", "amount": "30", "invoiceNumber": "C-1", "approved": "true", "approvedBy": "anna"},
        ],
        variables={"creditor": "ACME", "invoiceNumber": "C-1", "approvedBy": "anna"},
        notes=("[UserTask_1] \"Approve Invoice\" camunda:assignee: 'demo' is no operator in the config",),
    ),
    "ex_message_start": Run(
        "Message_Start_Process",
        forms=[{}],
        rest=Rest.MESSAGE_START,
        notes=("[StartEvent_1] message start 'instantiationMessage': started through REST (§12)",),
    ),
}


def test_the_corpus_is_whole_and_every_model_has_an_outcome() -> None:
    models = sorted(p.stem for p in CORPUS.glob("*.bpmn"))
    assert len(models) >= 25
    assert sorted([*REFUSED, *ACCEPTED]) == models
    origins = (CORPUS / "ORIGINS.md").read_text()
    for model in models:
        assert re.search(
            rf"^\| `{model}.bpmn` \| [\w./-]+ \| [0-9a-f]{{40}} \| \S+ \| (Apache-2.0|MIT) \|", origins, re.M
        )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_folder(tmp_path, monkeypatch)


@pytest.mark.parametrize("model", sorted(REFUSED))
def test_check_config_refuses_with_file_line_element_and_hint(
    model: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = workdir / "processes" / "camunda" / f"{model}.bpmn"
    target.parent.mkdir()
    shutil.copy(CORPUS / f"{model}.bpmn", target)
    assert main(["check-config"]) == 1
    lines = capsys.readouterr().err.splitlines()
    found = []
    for line in lines:
        match = re.match(rf"^{re.escape(str(target))}:(\d+): \[([^\]]+)\]", line)
        assert match, f"a problem without file, line and element: {line}"
        found.append((int(match[1]), match[2], line))
    expected = REFUSED[model]
    assert sorted((n, e) for n, e, _ in found) == sorted((n, e) for n, e, _ in expected)
    unmatched = [line for _, _, line in found]
    for line_no, element, hint in expected:  # each expected problem is one line of the output, in any order
        said = next((x for x in unmatched if f":{line_no}: [{element}]" in x and hint in x), None)
        assert said is not None, f"line {line_no} [{element}]: no problem saying {hint!r} in {unmatched}"
        unmatched.remove(said)


@pytest.mark.parametrize("model", sorted(ACCEPTED))
def test_check_config_accepts(model: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = workdir / "processes" / "camunda" / f"{model}.bpmn"
    target.parent.mkdir()
    shutil.copy(CORPUS / f"{model}.bpmn", target)
    for form in CORPUS.glob("*.form"):  # Camunda Forms, found anywhere in the catalog folder
        shutil.copy(form, target.parent / form.name)
    assert main(["check-config"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert len(notes) == len(ACCEPTED[model].notes)
    for note, expected in zip(notes, ACCEPTED[model].notes, strict=True):
        assert note.startswith(f"note: {target}:") and expected in note
    assert "OK:" in out


@pytest.fixture
async def corpus_rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    model = request.param
    folder = tmp_path / "processes"
    folder.mkdir()
    shutil.copy(CORPUS / f"{model}.bpmn", folder / f"{model}.bpmn")
    for form in CORPUS.glob("*.form"):
        shutil.copy(form, folder / form.name)
    rig = Rig(tmp_path, folder, limits=Limits.off(), admin_token=ADMIN_TOKEN)
    await rig.start()
    try:
        yield rig
    finally:
        await rig.stop()


def _params() -> list[object]:
    return [pytest.param(model, id=model) for model in sorted(ACCEPTED)]


async def _serve_workers(rig: Rig, instance_id: str) -> None:
    """A worker of every topic completes tasks until the instance has none left (parallel ones included)."""
    worker = ExternalTaskClient(
        "corpus", f"{rig.url}/engine-rest", {"auth_bearer": {"access_token": ADMIN_TOKEN}, "asyncResponseTimeout": 0}
    )
    topics = [f"External_{n}" for n in range(1, 5)]
    for _ in range(10):
        tasks = await asyncio.to_thread(worker.fetch_and_lock, topics)
        for task in tasks:
            assert task["processInstanceId"] == instance_id
            assert await asyncio.to_thread(worker.complete, task["id"], {task["topicName"]: "done"})
        await rig.settle()
        if not tasks:
            return


async def _message(rig: Rig, body: dict[str, object]) -> dict[str, object]:
    """POST /engine-rest/message with the result asked for; the one result."""
    body = {**body, "resultEnabled": True}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{rig.url}/engine-rest/message", json=body, headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        [result] = await r.json()
    await rig.settle()
    return dict(result)


async def _started(rig: Rig, run: Run) -> InstanceRecord:
    """The instance of session #1: from the picker, or by its message start event."""
    if run.rest != Rest.MESSAGE_START:
        return await run_for_ivan(rig, run.name)
    await open_session_with_anna_online(rig)
    result = await _message(rig, {"messageName": "instantiationMessage", "businessKey": "1"})
    assert result["resultType"] == "ProcessDefinition"
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    return record


@pytest.mark.parametrize("corpus_rig", _params(), indirect=True)
async def test_an_accepted_model_runs_end_to_end_from_a_session(
    corpus_rig: Rig, request: pytest.FixtureRequest
) -> None:
    model = request.node.callspec.id
    run = ACCEPTED[model]
    rig = corpus_rig
    record = await _started(rig, run)
    assert rig.desk is not None
    if run.rest == Rest.WORKERS:
        await _serve_workers(rig, record.id)
    if run.rest == Rest.MESSAGE:  # two catch events wait for one message: `all` reaches both, as in Camunda
        await _message(rig, {"messageName": "testMessage1", "businessKey": "1", "all": True})
    for values in run.forms:
        modal = rig.slack.modal(ANNA.slack_user)
        if modal is None:  # a task for nobody linedesk knows: it falls back to the line; Anna takes it
            await rig.click(ANNA, "task.take", record.id, channel_id=DESK_CHANNEL)
            modal = rig.slack.modal(ANNA.slack_user)
        assert modal is not None, "no form was opened"
        asked = {b["block_id"] for b in modal["blocks"] if b["type"] == "input"}
        assert asked == set(values), f"the form asks {sorted(asked)}"
        response = await rig.submit(ANNA, {k: {"value": v} for k, v in values.items()})
        assert response.status == 200
    await rig.settle()
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.status == InstanceStatus.COMPLETED, (record.status, record.error, record.waiting_for)
    variables = await rig.desk.processes.variables(record.id)
    assert {k: variables.get(k) for k in run.variables} == run.variables
    starter = "automation (rest)" if run.rest == Rest.MESSAGE_START else "Anna"
    assert any(f"started by {starter}" in text for text in await rig.desk_thread(1))
    assert not any("failed" in text for text in await rig.desk_thread(1))
