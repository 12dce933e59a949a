"""Camunda Forms (`.form` files of the Modeler's form editor, SPEC §11): every component kind rendered as a Slack
modal and as Telegram prompts, validated on the server; a start event's Camunda Form by `camunda-forms:` formKey."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandboxes.rig import ANNA, IVAN, Rig
from tests.support.bpmn import process, script, start, user_task
from tests.support.flows import run_for_ivan
from tests.support.rigs import MakeRig
from tests.support.telegram_desk import buttons, click, last, rows, session_with_anna_online, topic, writes

FORMS = Path(__file__).resolve().parents[1] / "fixtures" / "forms"
REQUEST_FORM = (FORMS / "request.form").read_text(encoding="utf-8")
START_FORM = (FORMS / "start.form").read_text(encoding="utf-8")
KEYS = ["name", "code", "details", "amount", "urgent", "mailto", "product", "language", "visit", "call_at"]
REQUEST = process(
    "request",
    "Request",
    user_task("Request details", form_ref="Form_request"),
    script("reply(repr([" + ", ".join(KEYS) + "]))"),
)
ORDER = process(
    "order",
    "Order",
    script("reply(f'{topic}:{qty}')"),
    start_event=start(form_key="camunda-forms:deployment:forms/start.form"),
)
FILES = {"request.bpmn": REQUEST, "order.bpmn": ORDER, "forms/request.form": REQUEST_FORM, "start.form": START_FORM}


def failed(fid: str, constraint: str, hint: str) -> str:
    return f"Invalid value submitted for form field '{fid}': validation of {constraint} failed ({hint})."


def modal(rig: Rig) -> dict[str, Any]:
    shown = rig.slack.modal(ANNA.slack_user)
    assert shown is not None, "Anna has no modal open"
    return shown


async def test_every_component_is_a_block_kit_element_and_is_validated_on_the_server(make_rig: MakeRig) -> None:
    rig = await make_rig(files=FILES)
    await run_for_ivan(rig, "Request")
    blocks = modal(rig)["blocks"]
    assert blocks[1]["type"] == "section"
    assert blocks[1]["text"]["text"] == "# Service request\n\nFill in what the client asked for."
    inputs = {b["block_id"]: b for b in blocks if b["type"] == "input"}
    assert list(inputs) == KEYS
    kinds = {key: block["element"]["type"] for key, block in inputs.items()}
    assert kinds == {
        "name": "plain_text_input",
        "code": "plain_text_input",
        "details": "plain_text_input",
        "amount": "number_input",
        "urgent": "radio_buttons",
        "mailto": "checkboxes",
        "product": "radio_buttons",
        "language": "static_select",
        "visit": "datepicker",
        "call_at": "datetimepicker",
    }
    assert [k for k, b in inputs.items() if not b["optional"]] == ["name", "amount", "product"]
    name, details, amount = inputs["name"]["element"], inputs["details"]["element"], inputs["amount"]["element"]
    assert (name["min_length"], name["max_length"]) == (2, 20)
    assert details["multiline"] is True and details["initial_value"] == "none"
    assert (amount["is_decimal_allowed"], amount["min_value"], amount["max_value"]) == (True, "0", "1000")
    assert [o["value"] for o in inputs["mailto"]["element"]["options"]] == ["approver", "manager", "regional-manager"]
    assert [o["text"]["text"] for o in inputs["product"]["element"]["options"]] == ["Washer", "Dryer"]
    assert inputs["language"]["element"]["initial_option"]["value"] == "english"
    assert inputs["visit"]["label"]["text"] == "Visit day"

    bad = await rig.submit(
        ANNA,
        {
            "name": {"value": "A"},
            "code": {"value": "X-12"},
            "amount": {"value": "1000.5"},
            "mailto": {"value": ["approver", "boss"]},
            "call_at": {"value": "soon"},
        },
    )
    assert bad.json["response_action"] == "errors"
    assert bad.json["errors"] == {
        "name": failed("name", "minlength(2)", "at least 2 characters"),
        "code": failed("code", "pattern(^C-[0-9]+$)", "must match ^C-[0-9]+$"),
        "amount": failed("amount", "max(1000)", "at most 1000"),
        "mailto": "Choose one of: Approver, Manager, Regional manager.",
        "product": "This field is required.",
        "call_at": "Enter a date and time as YYYY-MM-DD HH:MM.",
    }
    long_name = await rig.submit(ANNA, {"name": {"value": "x" * 21}, "amount": {"value": "-0.5"}})
    assert long_name.json["errors"]["name"] == failed("name", "maxlength(20)", "at most 20 characters")
    assert long_name.json["errors"]["amount"] == failed("amount", "min(0)", "at least 0")

    good = await rig.submit(
        ANNA,
        {
            "name": {"value": "x" * 20},
            "code": {"value": "C-123"},
            "amount": {"value": "1000"},
            "urgent": {"value": "true"},
            "mailto": {"value": ["approver", "manager"]},
            "product": {"value": "dryer"},
            "visit": {"value": "2026-12-31"},
            "call_at": {"value": 1798761600},
        },
    )
    assert good.status == 200 and good.text == ""
    expected = ["x" * 20, "C-123", "none", 1000, True, ["approver", "manager"], "dryer", "english", "2026-12-31"]
    assert rig.client_chat(IVAN)[-1] == repr([*expected, "2027-01-01T00:00:00Z"])


async def test_a_start_event_shows_its_camunda_form_by_form_key(make_rig: MakeRig) -> None:
    rig = await make_rig(files=FILES)
    record = await run_for_ivan(rig, "Order")
    assert record.current_task == "start"
    inputs = {b["block_id"]: b for b in modal(rig)["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["topic", "qty"] and inputs["qty"]["element"]["initial_value"] == "1"
    refused = await rig.submit(ANNA, {"topic": {"value": "Hose"}, "qty": {"value": "6"}})
    assert refused.json["errors"] == {"qty": failed("qty", "max(5)", "at most 5")}
    await rig.submit(ANNA, {"topic": {"value": "Hose"}, "qty": {"value": "5"}})
    assert rig.client_chat(IVAN)[-1] == "Hose:5"


async def prompt(rig: Rig) -> dict[str, Any]:
    found = [m for m in await topic(rig) if "📝" in m.get("text", "") and rows(m)]
    assert found, "no form prompt in the topic"
    return found[-1]


async def test_a_camunda_form_is_asked_field_by_field_in_the_topic(make_rig: MakeRig) -> None:
    rig = await make_rig(files=FILES)
    await session_with_anna_online(rig)
    await writes(rig, ANNA, "/startprocess")
    await click(rig, ANNA, await last(rig, "▶ Start a process for session #1"), "Request")
    first = await prompt(rig)
    assert first["text"].startswith("📝 Request · Request details · 1/10\nℹ # Service request")
    assert "Limits: at least 2 characters, at most 20 characters" in first["text"]
    await writes(rig, ANNA, "Ivan")
    await writes(rig, ANNA, "C-")
    assert (await prompt(rig))["text"].startswith("⚠ " + failed("code", "pattern(^C-[0-9]+$)", "must match ^C-[0-9]+$"))
    await writes(rig, ANNA, "C-7")
    await click(rig, ANNA, await prompt(rig), "Use default: none")
    await writes(rig, ANNA, "2000")
    assert "validation of max(1000) failed" in (await prompt(rig))["text"]
    await writes(rig, ANNA, "12.5")
    await click(rig, ANNA, await prompt(rig), "Yes")
    mailto = await prompt(rig)
    assert "Options: Approver, Manager, Regional manager" in mailto["text"]
    await writes(rig, ANNA, "Manager, Approver")
    product = await prompt(rig)
    assert list(buttons(product)) == ["Washer", "Dryer", "✖ Cancel"]
    await click(rig, ANNA, product, "Washer")
    await click(rig, ANNA, await prompt(rig), "German")
    await writes(rig, ANNA, "2026-05-01")
    call = await prompt(rig)
    assert "Reply with a date and time as YYYY-MM-DD HH:MM (UTC)." in call["text"]
    await writes(rig, ANNA, "2026-05-02 10:30")
    expected = ["Ivan", "C-7", "none", 12.5, True, ["manager", "approver"], "washer", "german", "2026-05-01"]
    assert rig.client_chat(IVAN)[-1] == repr([*expected, "2026-05-02T10:30:00Z"])
