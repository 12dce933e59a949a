"""JUEL as Camunda Modeler writes it, run over HTTP against the sandboxes: an exclusive gateway on
`${amount > 1000}` / `${not approved}` takes the branch the form's values choose, an input parameter
is a JUEL text, and an unknown variable fails the instance naming the expression and the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model import InstanceStatus
from sandboxes.rig import ANNA, IVAN
from tests.support.flows import run_for_ivan
from tests.support.juel import MODEL
from tests.support.rigs import MakeRig


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
