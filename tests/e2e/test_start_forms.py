"""Start forms (formData on the none start event), `camunda:initiator`, and the field constraints of SPEC §11
(required, readonly, minlength, maxlength, min, max) — on both desks, over HTTP against the sandboxes."""

from __future__ import annotations

from typing import Any

from core.autostart import RuleAuthor
from core.model import InstanceStatus
from sandboxes.rig import ANNA, IVAN, Rig
from tests.support.bpmn import field, process, script, start, user_task
from tests.support.flows import run_for_ivan
from tests.support.rigs import MakeRig
from tests.support.telegram_desk import buttons, click, last, rows, session_with_anna_online, topic, writes

ORDER = process(
    "order",
    "Order",
    script("reply(f'{topic} x{qty} for {who}')"),
    start_event=start(
        field("topic", "string", "Topic", required=True),
        field("qty", "long", "Quantity", default="1", constraints={"min": "1", "max": "5"}),
        name="Order form",
        initiator="who",
    ),
)

LIMITS = user_task(
    "Limits",
    field("code", "string", "Code", constraints={"minlength": "2", "maxlength": "4"}),
    field("count", "long", "Count", constraints={"min": "-1", "max": "10"}),
    field("day", "date", "Day", constraints={"min": "2026-01-01", "max": "31/12/2026"}),
    field("plan", "string", "Plan", default="basic", constraints={"readonly": None}),
)
LIMITS_REPLY = script("reply(f'{code}|{count}|{day}|{plan}')")


def modal_inputs(rig: Rig) -> dict[str, dict[str, Any]]:
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None, "Anna has no modal open"
    return {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}


async def form_prompt(rig: Rig) -> dict[str, Any]:
    """The current form question in session #1's topic (the last prompt with form buttons)."""
    found = [m for m in await topic(rig) if "📝" in m.get("text", "") and rows(m)]
    assert found, "no form prompt in the topic"
    return found[-1]


# --- Slack ----------------------------------------------------------------------------------------------
async def test_a_start_form_is_the_first_modal_and_its_values_are_there_for_the_first_script(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(files={"order.bpmn": ORDER})
    record = await run_for_ivan(rig, "Order")
    assert "▶ Order started by Anna" in await rig.desk_thread(1)  # announced before the form is filled
    assert record.status == InstanceStatus.WAITING and record.current_task == "start"
    inputs = modal_inputs(rig)
    assert list(inputs) == ["topic", "qty"]
    assert inputs["qty"]["element"] == {
        "type": "number_input",
        "is_decimal_allowed": False,
        "min_value": "1",
        "max_value": "5",
        "initial_value": "1",
        "action_id": "value",
    }
    assert not any(" for anna" in t for t in rig.client_chat(IVAN))  # nothing ran before the start form

    bad = await rig.submit(ANNA, {"topic": {"value": ""}, "qty": {"value": "6"}})
    assert bad.json == {
        "response_action": "errors",
        "errors": {
            "topic": "This field is required.",
            "qty": "Invalid value submitted for form field 'qty': validation of max(5) failed (at most 5).",
        },
    }
    done = await rig.submit(ANNA, {"topic": {"value": "Drum"}, "qty": {"value": "5"}})
    assert done.status == 200 and done.text == ""
    assert rig.client_chat(IVAN)[-1] == "Drum x5 for anna"


async def test_an_auto_started_start_form_waits_for_an_operator_and_its_initiator_is_automation(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(files={"order.bpmn": ORDER})
    assert rig.desk is not None
    author = RuleAuthor("test", require_admin=False)
    await rig.desk.autostart.set_rule("support", "session.created", "order", True, by=author)
    await rig.client_writes(IVAN, "Hello")
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.waiting_for == "user_task" and record.current_task == "start" and record.assignee is None
    assert any(t.startswith("Task Order form") for t in await rig.desk_thread(1))
    await rig.slash(ANNA, "/status", "online")
    root = await rig.thread_root(1)
    await rig.click(ANNA, "task.take", record.id, channel_id=root["channel"], message_ts=root["ts"])
    await rig.submit(ANNA, {"topic": {"value": "Belt"}})
    assert rig.client_chat(IVAN)[-1] == "Belt x1 for automation"


async def test_each_constraint_is_refused_with_its_message_and_accepted_at_its_boundary(make_rig: MakeRig) -> None:
    rig = await make_rig(("limits", "Limits", [LIMITS, LIMITS_REPLY]))
    await run_for_ivan(rig, "Limits")
    inputs = modal_inputs(rig)
    assert inputs["code"]["element"]["min_length"] == 2 and inputs["code"]["element"]["max_length"] == 4
    assert inputs["count"]["element"]["min_value"] == "-1" and inputs["count"]["element"]["max_value"] == "10"
    assert "plan" not in inputs  # readonly: shown, not an input
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None
    shown = next(b for b in modal["blocks"] if b.get("block_id") == "readonly:plan")
    assert shown["text"]["text"] == "*Plan*\nbasic"

    def failed(fid: str, constraint: str, hint: str) -> str:
        return f"Invalid value submitted for form field '{fid}': validation of {constraint} failed ({hint})."

    low = await rig.submit(ANNA, {"code": {"value": "A"}, "count": {"value": "-2"}, "day": {"value": "2025-12-31"}})
    assert low.json["errors"] == {
        "code": failed("code", "minlength(2)", "at least 2 characters"),
        "count": failed("count", "min(-1)", "at least -1"),
        "day": failed("day", "min(2026-01-01)", "at least 2026-01-01"),
    }
    high = await rig.submit(
        ANNA,
        {
            "code": {"value": "ABCDE"},
            "count": {"value": "11"},
            "day": {"value": "2027-01-01"},
            "plan": {"value": "gold"},  # a tampered submission: the readonly field is no input of the modal
        },
    )
    assert high.json["errors"] == {
        "code": failed("code", "maxlength(4)", "at most 4 characters"),
        "count": failed("count", "max(10)", "at most 10"),
        "day": failed("day", "max(31/12/2026)", "at most 31/12/2026"),
        "plan": "Invalid value submitted for form field 'plan': validation of readonly failed (it cannot be changed).",
    }
    good = await rig.submit(ANNA, {"code": {"value": "ABCD"}, "count": {"value": "10"}, "day": {"value": "2026-12-31"}})
    assert good.text == ""
    assert rig.client_chat(IVAN)[-1] == "ABCD|10|2026-12-31|basic"


async def test_lower_boundaries_are_accepted_and_a_readonly_value_sent_unchanged_passes(make_rig: MakeRig) -> None:
    rig = await make_rig(("limits", "Limits", [LIMITS, LIMITS_REPLY]))
    await run_for_ivan(rig, "Limits")
    good = await rig.submit(
        ANNA,
        {"code": {"value": "AB"}, "count": {"value": "-1"}, "day": {"value": "2026-01-01"}, "plan": {"value": "basic"}},
    )
    assert good.text == ""
    assert rig.client_chat(IVAN)[-1] == "AB|-1|2026-01-01|basic"


# --- Telegram ---------------------------------------------------------------------------------------------
async def test_a_start_form_is_asked_in_the_topic_first_and_bad_answers_are_asked_again(make_rig: MakeRig) -> None:
    rig = await make_rig(files={"order.bpmn": ORDER})
    await session_with_anna_online(rig)
    await writes(rig, ANNA, "/startprocess")
    picker = await last(rig, "▶ Start a process for session #1")
    await click(rig, ANNA, picker, "Order")
    texts = [m.get("text", "") for m in await topic(rig)]
    announced = texts.index("▶ Order started by Anna")
    first = await form_prompt(rig)
    assert texts.index(first["text"]) > announced
    assert first["text"].startswith("📝 Order · Order form · 1/2\nTopic (required)")
    await writes(rig, ANNA, "Pump")
    qty = await form_prompt(rig)
    assert "Limits: min 1, max 5" in qty["text"] and "Use default: 1" in buttons(qty)
    await writes(rig, ANNA, "9")
    again = await form_prompt(rig)
    assert again["text"].startswith(
        "⚠ Invalid value submitted for form field 'qty': validation of max(5) failed (at most 5).\n📝 Order"
    )
    await writes(rig, ANNA, "0")
    assert "validation of min(1) failed" in (await form_prompt(rig))["text"]
    await writes(rig, ANNA, "1")
    assert rig.client_chat(IVAN)[-1] == "Pump x1 for anna"


async def test_constraints_in_the_topic_and_a_readonly_field_is_shown_not_asked(make_rig: MakeRig) -> None:
    rig = await make_rig(("limits", "Limits", [LIMITS, LIMITS_REPLY]))
    await session_with_anna_online(rig)
    await writes(rig, ANNA, "/startprocess")
    await click(rig, ANNA, await last(rig, "▶ Start a process for session #1"), "Limits")
    code = await form_prompt(rig)
    assert "🔒 Plan: basic" in code["text"] and code["text"].startswith("📝 Limits · Limits · 1/3")
    await writes(rig, ANNA, "ABCDE")
    assert (await form_prompt(rig))["text"].startswith(
        "⚠ Invalid value submitted for form field 'code': validation of maxlength(4) failed"
    )
    await writes(rig, ANNA, "AB")
    await writes(rig, ANNA, "-2")
    assert "validation of min(-1) failed" in (await form_prompt(rig))["text"]
    await writes(rig, ANNA, "-1")
    await writes(rig, ANNA, "2027-01-01")
    assert "validation of max(31/12/2026) failed" in (await form_prompt(rig))["text"]
    await writes(rig, ANNA, "2026-12-31")
    assert rig.client_chat(IVAN)[-1] == "AB|-1|2026-12-31|basic"
