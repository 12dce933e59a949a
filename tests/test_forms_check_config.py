"""`check-config` names every form linedesk cannot show (SPEC §11): a missing `.form` file, an unknown form id,
a form with a component linedesk does not know or a pattern that could run for ever, an embedded formKey."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bots.cli import main
from tests.support.bpmn import process, start, user_task
from tests.support.cli import EXAMPLE_ENV, example_folder

ROOT = Path(__file__).resolve().parents[1]
FORMS = ROOT / "tests" / "fixtures" / "forms"
ENV = EXAMPLE_ENV


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_folder(tmp_path, monkeypatch)


def form(form_id: str, *components: dict[str, object]) -> str:
    return json.dumps({"components": list(components), "type": "default", "id": form_id, "schemaVersion": 11})


def test_check_config_accepts_camunda_forms_that_exist(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = workdir / "processes"
    shutil.copy(FORMS / "request.form", folder / "Sales" / "request.form")  # anywhere in the catalog folder
    (folder / "ok.bpmn").write_text(process("with_form", "With form", user_task("Ask", form_ref="Form_request")))
    assert main(["check-config"]) == 0, capsys.readouterr().err


def test_check_config_names_each_form_it_cannot_show(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = workdir / "processes"
    (folder / "odd.form").write_text(form("Form_odd", {"type": "dynamiclist", "id": "List_1", "key": "rows"}))
    (folder / "slow.form").write_text(
        form("Form_slow", {"type": "textfield", "key": "x", "label": "X", "validate": {"pattern": "^(a+)+$"}})
    )
    (folder / "forms.bpmn").write_text(
        process(
            "bad_forms",
            "Bad forms",
            user_task("Missing id", form_ref="Form_nowhere"),
            user_task("Missing file", form_key="camunda-forms:deployment:nowhere.form"),
            user_task("Odd", form_ref="Form_odd"),
            user_task("Slow", form_key="camunda-forms:deployment:slow.form"),
            start_event=start(form_key="embedded:app:forms/start.html"),
        )
    )
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert (
        "forms.bpmn:5: [start] camunda:formKey 'embedded:app:forms/start.html' is an embedded, app or external "
        "form: linedesk cannot show it" in err
    )
    assert (
        "forms.bpmn:6: [step1] \"Missing id\" camunda:formRef 'Form_nowhere': no .form file with this id in the "
        "process folder" in err
    )
    assert (
        "[step2] \"Missing file\" camunda:formKey 'camunda-forms:deployment:nowhere.form': no file 'nowhere.form'"
        in err
    )
    assert "[step3] \"Odd\" odd.form: component List_1 of type 'dynamiclist' is not supported" in err
    assert "[step4] \"Slow\" slow.form: component x: pattern '^(a+)+$' nests quantifiers" in err


def test_check_config_notes_assignees_and_candidates_nobody_here_is(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Literal names linedesk does not know are notes, not errors: at run time the task falls back (§11)."""
    path = workdir / "processes" / "people.bpmn"
    path.write_text(
        process(
            "people",
            "People",
            user_task("Known", assignee="anna"),
            user_task("Expression", assignee="${initiator}"),
            user_task("Demo", assignee="demo"),
            user_task("Users", candidate_users="boris, ghost"),
            user_task("Groups", candidate_groups="approvers,sales,ghosts"),
        )
    )
    assert main(["check-config"]) == 0, capsys.readouterr().err
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"note: {path}")]
    assert [note.split("] ", 1)[1] for note in notes] == [
        "\"Demo\" camunda:assignee: 'demo' is no operator in the config: at run time the task goes to the "
        "session's assignee, else to any operator of the line",
        "\"Users\" camunda:candidateUsers: 'ghost' is no operator in the config: at run time the task goes to "
        "the session's assignee, else to any operator of the line",
        "\"Groups\" camunda:candidateGroups: 'ghosts' is no group in the config: at run time the task goes to "
        "the session's assignee, else to any operator of the line",
    ]
