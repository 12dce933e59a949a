"""`linedesk check-config` on `linedesk.ask` blocks: a question nobody could answer, empty, too many or too long
choices are named with their file and task; computed choices are left to the run (SPEC §14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.cli import main
from core.asks import MAX_CHOICES, MAX_LABEL, MAX_QUESTION
from tests.support.bpmn import block, write_process
from tests.support.cli import example_folder


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_folder(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ({"text": "Sure?"}, "no 'choices' and allow_text is false"),
        ({"text": "Sure?", "choices": "Yes,,No"}, "choice 2 of 'choices' has an empty label"),
        ({"text": "Sure?", "choices": ",".join(f"c{n}" for n in range(MAX_CHOICES + 1))}, "at most 10 fit"),
        ({"text": "Sure?", "choices": "Yes," + "x" * (MAX_LABEL + 1)}, f"at most {MAX_LABEL}"),
        ({"text": "Sure?", "choices": "Yes,Yes"}, "two choices have the same label"),
        ({"text": "Sure?", "choices": "Yes", "allow_text": "maybe"}, "'allow_text' must be true or false"),
        ({"choices": "Yes"}, "needs a non-empty 'text'"),
        ({"text": "?" * (MAX_QUESTION + 1), "choices": "Yes"}, f"at most {MAX_QUESTION}"),
    ],
)
def test_check_config_names_a_question_that_cannot_be_put(
    workdir: Path, capsys: pytest.CaptureFixture[str], inputs: dict[str, str], named: str
) -> None:
    write_process(workdir / "processes", "confirm.bpmn", "confirm", "Confirm", block("linedesk.ask", "ok", **inputs))
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "confirm.bpmn" in err and named in err, err


@pytest.mark.parametrize(
    "inputs",
    [
        {"text": "Sure?", "choices": "Yes, No"},
        {"text": "When?", "allow_text": "true"},
        {"text": "Pick one", "choices": "=options"},
        {"text": "Pick one", "choices": "{options}"},
    ],
)
def test_check_config_accepts_good_and_computed_questions(
    workdir: Path, capsys: pytest.CaptureFixture[str], inputs: dict[str, str]
) -> None:
    write_process(workdir / "processes", "confirm.bpmn", "confirm", "Confirm", block("linedesk.ask", "ok", **inputs))
    assert main(["check-config"]) == 0, capsys.readouterr().err
