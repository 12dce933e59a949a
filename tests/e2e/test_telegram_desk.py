"""The operators' side of the Telegram desk, end to end over HTTP against the Telegram sandbox:
a forum topic per session, replies and notes, /status, the card's buttons, /startprocess and its
picker (groups, pages, payload sizes, tampering), forms asked in the topic field by field
(re-asked, cancelled, reopened, across a restart), task cards of auto-started instances,
/close, /autostart, and the command menus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.telegram.desk.picker_keyboard import PickProcess, process_key
from adapters.telegram.desk.topic_forms import FORM_REF, FormButton
from core.autostart import EVENTS, RuleAuthor
from core.model import InstanceStatus, SessionStatus
from sandboxes.rig import ANNA, BORIS, CARL, IVAN, OLGA, SALES_TOKEN, SUPPORT_TOKEN, TELEGRAM_DESK, Person, Rig
from tests.support.bpmn import block, field, user_task, write_process
from tests.support.rigs import MakeRig
from tests.support.telegram_desk import (
    MALLORY,
    button,
    buttons,
    card,
    click,
    general,
    last,
    picker,
    press,
    rows,
    session_with_anna_online,
    topic,
    topic_texts,
    writes,
)


# --- people acting in the desk group ---------------------------------------------------------------
def tg_user(rig: Rig, person: Person) -> dict[str, Any]:
    return rig.telegram.user(person.telegram_user, person.name)


async def thread_of(rig: Rig, session: int = 1) -> int:
    return await rig.topic_thread(session)


async def prompt(rig: Rig, session: int = 1) -> dict[str, Any]:
    """The form prompt that still has buttons (the current question)."""
    found = [
        m
        for m in await topic(rig, session)
        if "📝" in m.get("text", "") and rows(m) and any(data.startswith("fm:") for data in buttons(m).values())
    ]
    assert found, f"no open form prompt in {await topic_texts(rig, session)}"
    return found[-1]


def picker_layout(message: dict[str, Any]) -> list[tuple[str, str]]:
    """("title" | "process" | "nav", text) per row, as the operator sees the keyboard."""
    layout = []
    for row in rows(message):
        data = row[0]["callback_data"]
        kind = "title" if data.startswith("pt:") else "process" if data.startswith("pp:") else "nav"
        layout.append((kind, " ".join(b["text"] for b in row)))
    return layout


def all_callback_data(rig: Rig) -> list[str]:
    return [
        b["callback_data"]
        for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)
        for row in rows(m)
        for b in row
        if "callback_data" in b
    ]


async def instances(rig: Rig) -> list[Any]:
    assert rig.desk is not None
    return await rig.desk.store.list_instances()


async def start_from_picker(rig: Rig, process_name: str, person: Person = ANNA) -> dict[str, Any]:
    await writes(rig, person, "/startprocess")
    shown = await picker(rig)
    return await click(rig, person, shown, process_name)


# --- the tests ---------------------------------------------------------------------------------------
async def test_operator_works_a_session_in_its_topic(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    assert [t["name"] for t in rig.telegram.topics(TELEGRAM_DESK)] == ["#1 Ivan"]
    first = await card(rig)
    assert [b["text"] for b in rows(first)[0]] == ["Take", "Start process", "Close"]
    assert "Ivan: Hello, my washing machine is broken" in await topic_texts(rig)

    answer = await click(rig, ANNA, first, "Take")
    assert answer["show_alert"] and "offline" in answer["text"]
    await writes(rig, ANNA, "/status online", session=None)
    assert general(rig)[-1]["text"] == "Your status is now online."
    answer = await click(rig, ANNA, await card(rig), "Take")
    assert answer == {**answer, "text": "You took session #1.", "show_alert": False}
    assert "🟢 active · Anna" in (await card(rig))["text"]
    assert "✋ Anna took the session." in await topic_texts(rig)

    await writes(rig, ANNA, "Hi Ivan, what is your phone number?")
    assert rig.client_chat(IVAN)[-1] == "Anna\nHi Ivan, what is your phone number?"  # signed with her name
    await writes(rig, ANNA, "// he sounds upset")
    assert not any(t.endswith("// he sounds upset") for t in rig.client_chat(IVAN))  # signed or not
    assert rig.desk is not None
    messages = await rig.desk.store.list_messages(1)
    assert [(m.text, m.internal) for m in messages if m.author_id == "anna"] == [
        ("Hi Ivan, what is your phone number?", False),
        ("// he sounds upset", True),
    ]

    await writes(rig, CARL, "Carl here, I can help")  # Carl is on the line but offline
    assert not any(t.endswith("Carl here, I can help") for t in rig.client_chat(IVAN))  # signed or not
    reply = (await topic(rig))[-1]
    assert (
        reply["text"] == "Not sent to the client: You are offline: you cannot reply to the client. "
        "Type /status online first."
    )
    assert reply["reply_to_message"]["text"] == "Carl here, I can help"


async def test_startprocess_picks_handle_request_and_asks_its_form_in_the_topic(rig: Rig) -> None:
    await session_with_anna_online(rig)
    await writes(rig, ANNA, "/startprocess")
    shown = await picker(rig)
    assert picker_layout(shown) == [
        ("title", "📂 Company"),
        ("process", "Handle request"),
        ("title", "📂 Sales"),
        ("process", "Send a quote"),
        ("title", "📂 Sales · Leads"),
        ("process", "Create a lead"),
    ]
    toast = await click(rig, ANNA, shown, "📂 Sales · Leads")
    assert toast["text"] == "Sales · Leads" and not toast["show_alert"]
    assert await instances(rig) == []

    rig.telegram.clear_calls()
    answer = await click(rig, ANNA, shown, "Handle request")
    assert answer["text"] == "▶ Handle request started." and not answer["show_alert"]
    [record] = await instances(rig)
    assert record.status == InstanceStatus.WAITING and record.current_task == "register"
    assert record.started_by == "anna" and record.trigger == "manual"
    # started before the form: the instance was stored before the first question was posted
    asked = next(c for c in rig.telegram.calls_of("sendMessage", SUPPORT_TOKEN) if "📝" in c.params["text"])
    assert record.created_at <= asked.time
    texts = await topic_texts(rig)
    assert "▶ Handle request started by Anna" in texts
    assert not [t for t in texts if t.startswith("▶ Start a process")]  # the picker has gone
    assert [c.params["message_id"] for c in rig.telegram.calls_of("deleteMessage")] == [shown["message_id"]]
    question = await prompt(rig)
    assert question["text"].splitlines()[:3] == [
        "📝 Handle request · Register the request · 1/3",
        "Client's phone (required)",
        "Reply with the text. /cancel stops; the task stays open.",
    ]
    assert list(buttons(question)) == ["✖ Cancel"]  # required, no default: no Skip

    await writes(rig, ANNA, "+7 900 123-45-67")
    assert "+7 900 123-45-67" not in rig.client_chat(IVAN)  # an answer, not a message to the client
    kind = await prompt(rig)
    assert kind["text"].splitlines()[1:3] == ["Kind of request", "Default: Repair"]
    assert list(buttons(kind)) == ["Repair", "Installation", "Consultation", "Use default: Repair", "✖ Cancel"]
    answered = [t for t in await topic_texts(rig) if t.startswith("✔ ")]
    assert answered == ["✔ Client's phone: +7 900 123-45-67"]

    await writes(rig, ANNA, "rent")  # not an option: asked again with the reason
    again = await prompt(rig)
    assert again["message_id"] != kind["message_id"]
    assert again["text"].splitlines()[0] == "⚠ Choose one of: Repair, Installation, Consultation."
    assert rows(next(m for m in await topic(rig) if m["message_id"] == kind["message_id"])) == []

    toast = await click(rig, ANNA, again, "Installation")
    assert toast["text"] == "Kind of request: Installation"
    urgent = await prompt(rig)
    assert list(buttons(urgent)) == ["Yes", "No", "Use default: No", "✖ Cancel"]
    assert rows(urgent)[0] == [
        {"text": "Yes", "callback_data": button(urgent, "Yes")},
        {"text": "No", "callback_data": button(urgent, "No")},
    ]
    stale = await press(rig, ANNA, again, button(again, "Repair"))  # a question already answered
    assert stale == {**stale, "text": "This question was already answered.", "show_alert": True}
    await click(rig, ANNA, urgent, "Yes")

    assert rig.client_chat(IVAN)[-3:] == [
        "Your request #1 is registered",
        "Request #1: registered",
        "When would it suit you for the master to come?",
    ]
    assert "✔ Submitted: Register the request · Handle request" in await topic_texts(rig)
    assert rig.desk is not None
    variables = await rig.desk.processes.variables(record.id)
    assert (variables["phone"], variables["kind"], variables["urgent"]) == ("+7 900 123-45-67", "installation", True)
    assert (
        await rig.desk.store.get_ref(FORM_REF, f"{TELEGRAM_DESK}:{await thread_of(rig)}:{ANNA.telegram_user}") is None
    )
    await writes(rig, ANNA, "Thanks, Ivan!")  # the form is over: messages go to the client again
    assert rig.client_chat(IVAN)[-1] == "Anna\nThanks, Ivan!"


EVERYTHING = user_task(
    "Everything",
    field("name", "string", "Name", required=True),
    field("note", "string", "Note", default="none"),
    field("amount", "long", "Amount", required=True),
    field("paid", "boolean", "Paid", default="false"),
    field("kind", "enum", "Kind", options={"repair": "Repair", "sale": "Sale"}, required=True),
    field("when", "date", "When"),
)


async def test_every_field_type_is_asked_and_bad_input_is_asked_again(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "everything",
            "Everything",
            [
                EVERYTHING,
                block(
                    "linedesk.reply",
                    text="={'name': name, 'note': note, 'amount': amount, 'paid': paid, 'kind': kind, 'when': when}",
                ),
            ],
        )
    )
    await session_with_anna_online(rig)
    await start_from_picker(rig, "Everything")
    assert list(buttons(await prompt(rig))) == ["✖ Cancel"]
    await writes(rig, ANNA, "Ivan Petrov")
    note = await prompt(rig)
    assert list(buttons(note)) == ["Use default: none", "✖ Cancel"]
    await click(rig, ANNA, note, "Use default: none")

    amount = await prompt(rig)
    assert "Reply with a whole number." in amount["text"]
    await writes(rig, ANNA, "abc")
    again = await prompt(rig)
    assert again["text"].startswith("⚠ Enter a whole number.\n📝 Everything · Everything · 3/6\nAmount (required)")
    await writes(rig, ANNA, "12.5")
    assert (await prompt(rig))["text"].startswith("⚠ Enter a whole number.")
    await writes(rig, ANNA, "1200")

    paid = await prompt(rig)
    forged = FormButton(action="o", field=3, option=7, task=FormButton.unpack(button(paid, "Yes")).task).pack()
    assert (await press(rig, ANNA, paid, forged))["show_alert"]  # no option 7: refused, still asked
    assert (await click(rig, ANNA, paid, "Use default: No"))["text"] == "Paid: No"

    kind = await prompt(rig)
    assert list(buttons(kind)) == ["Repair", "Sale", "✖ Cancel"]
    forged_skip = FormButton(action="s", field=4, option=0, task=FormButton.unpack(button(kind, "Sale")).task)
    refused = await press(rig, ANNA, kind, forged_skip.pack())
    assert refused == {**refused, "text": "This field is required.", "show_alert": True}
    await click(rig, ANNA, kind, "Repair")

    when = await prompt(rig)
    assert "Reply with a date as YYYY-MM-DD." in when["text"] and "Skip" in buttons(when)
    await writes(rig, ANNA, "31/12/2026")
    assert (await prompt(rig))["text"].startswith("⚠ Enter a date as YYYY-MM-DD.")
    await writes(rig, ANNA, "2026-12-31")

    assert rig.client_chat(IVAN)[-1] == str(
        {"name": "Ivan Petrov", "note": "none", "amount": 1200, "paid": False, "kind": "repair", "when": "2026-12-31"}
    )
    assert [t for t in await topic_texts(rig) if t.startswith("✔ ")] == [
        "✔ Name: Ivan Petrov",
        "✔ Note: none",
        "✔ Amount: 1200",
        "✔ Paid: No",
        "✔ Kind: Repair",
        "✔ When: 2026-12-31",
        "✔ Submitted: Everything · Everything",
    ]


async def test_a_chain_of_tasks_for_the_same_operator_goes_on_in_the_topic(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "two_steps",
            "Two steps",
            [
                user_task("Address", field("city", "string", required=True)),
                user_task("Time", field("hour", "long", required=True)),
                block("linedesk.reply", text="See you in {city} at {hour}:00"),
            ],
        )
    )
    await session_with_anna_online(rig)
    await start_from_picker(rig, "Two steps")
    await writes(rig, ANNA, "Kazan")
    assert "✔ Submitted: Address · Two steps" in await topic_texts(rig)
    assert (await prompt(rig))["text"].startswith("📝 Two steps · Time · 1/1\nhour (required)")
    await writes(rig, ANNA, "10")
    assert rig.client_chat(IVAN)[-1] == "See you in Kazan at 10:00"


async def test_cancel_leaves_the_task_open_and_open_form_asks_it_again(rig: Rig) -> None:
    await session_with_anna_online(rig)
    await start_from_picker(rig, "Handle request")
    await writes(rig, ANNA, "+7 900 000-00-00")
    kind = await prompt(rig)
    await writes(rig, ANNA, "/cancel")
    assert (await topic(rig))[-1]["text"] == (
        "Form cancelled. The task stays open: use Open form on its card to fill it in."
    )
    assert rows(next(m for m in await topic(rig) if m["message_id"] == kind["message_id"])) == []
    [record] = await instances(rig)
    assert record.status == InstanceStatus.WAITING and record.current_task == "register"
    await writes(rig, ANNA, "Sorry, one moment please")  # no form any more: this goes to the client
    assert rig.client_chat(IVAN)[-1] == "Anna\nSorry, one moment please"
    await writes(rig, ANNA, "/cancel")
    assert (await topic(rig))[-1]["text"] == "You have no form open in this topic."

    task_card = await last(rig, "📝 Register the request · Handle request — for Anna")
    answer = await click(rig, ANNA, task_card, "Open form")
    assert answer["text"] == "📝 Register the request: answer below."
    assert (await prompt(rig))["text"].startswith("📝 Handle request · Register the request · 1/3")
    await writes(rig, ANNA, "+7 900 111-11-11")
    await click(rig, ANNA, await prompt(rig), "Repair")
    cancelled = await click(rig, ANNA, await prompt(rig), "✖ Cancel")
    assert cancelled["text"] == "Form cancelled: the task stays open."
    await click(rig, ANNA, task_card, "Open form")
    await writes(rig, ANNA, "+7 900 222-22-22")
    await click(rig, ANNA, await prompt(rig), "Use default: Repair")
    await click(rig, ANNA, await prompt(rig), "No")
    assert rig.client_chat(IVAN)[-3] == "Your request #1 is registered"
    assert rig.desk is not None
    assert (await rig.desk.processes.variables(record.id))["phone"] == "+7 900 222-22-22"


async def test_the_form_conversation_survives_a_restart(any_store_rig: Rig) -> None:
    rig = any_store_rig
    await session_with_anna_online(rig)
    await start_from_picker(rig, "Handle request")
    await writes(rig, ANNA, "+7 900 333-33-33")
    kind = await prompt(rig)
    assert rig.desk is not None
    stored = await rig.desk.store.get_ref(FORM_REF, f"{TELEGRAM_DESK}:{await thread_of(rig)}:{ANNA.telegram_user}")
    assert stored is not None and stored["queue"] == [1, 2] and stored["values"] == {"phone": "+7 900 333-33-33"}
    await rig.restart()
    await click(rig, ANNA, kind, "Consultation")
    await writes(rig, ANNA, "yes")  # a boolean may also be typed
    assert rig.client_chat(IVAN)[-3] == "Your request #1 is registered"
    [record] = await instances(rig)
    assert rig.desk is not None
    variables = await rig.desk.processes.variables(record.id)
    assert (variables["phone"], variables["kind"], variables["urgent"]) == ("+7 900 333-33-33", "consultation", True)


async def test_the_picker_pages_beyond_30_processes(make_rig: MakeRig, tmp_path: Path) -> None:
    folder = tmp_path / "processes"
    for i in range(20):
        write_process(
            folder,
            f"c{i:02}.bpmn",
            f"company_{i:02}",
            f"Company process {i:02}",
            block("linedesk.reply", text=f"company {i}"),
        )
    for i in range(15):
        write_process(
            folder,
            f"Field/f{i:02}.bpmn",
            f"field_{i:02}",
            f"Field process {i:02}",
            block("linedesk.reply", text=f"field {i}"),
        )
    rig = await make_rig()
    await session_with_anna_online(rig)
    await writes(rig, ANNA, "/startprocess")
    shown = await picker(rig)
    assert "Page 1 of 2." in shown["text"]
    first = picker_layout(shown)
    assert [text for kind, text in first if kind == "process"] == (
        [f"Company process {i:02}" for i in range(20)] + [f"Field process {i:02}" for i in range(10)]
    )
    assert [text for kind, text in first if kind == "title"] == ["📂 Company", "📂 Field"]
    assert first[-1] == ("nav", "▶")

    answer = await click(rig, ANNA, shown, "▶")
    assert answer["text"] == "" and not answer["show_alert"]
    turned = await picker(rig)
    assert turned["message_id"] == shown["message_id"]  # edited in place
    assert "Page 2 of 2." in turned["text"]
    assert picker_layout(turned) == [("title", "📂 Field")] + [
        ("process", f"Field process {i:02}") for i in range(10, 15)
    ] + [("nav", "◀")]
    await click(rig, ANNA, turned, "Field process 12")
    [record] = await instances(rig)
    assert record.process_id == "field_12" and record.status == InstanceStatus.COMPLETED
    assert rig.client_chat(IVAN)[-1] == "field 12"
    assert all(len(data.encode()) <= 64 for data in all_callback_data(rig))


LONG_ID = "process_with_a_very_long_identifier_" + "x" * 24


async def test_every_payload_fits_64_bytes_even_for_a_60_character_process_id(make_rig: MakeRig) -> None:
    assert len(LONG_ID) == 60
    rig = await make_rig(
        (
            LONG_ID,
            "A long one",
            [
                user_task(
                    "Pick",
                    field(
                        "choice",
                        "enum",
                        options={f"option_{i}_" + "y" * 40: f"Option {i}" for i in range(3)},
                        required=True,
                    ),
                ),
                block("linedesk.reply", text="chose {choice}"),
            ],
        )
    )
    await session_with_anna_online(rig)
    await writes(rig, ANNA, "/startprocess")
    shown = await picker(rig)
    data = button(shown, "A long one")
    assert PickProcess.unpack(data) == PickProcess(session=1, process=process_key(LONG_ID))
    await click(rig, ANNA, shown, "A long one")
    [record] = await instances(rig)
    assert record.process_id == LONG_ID
    await writes(rig, ANNA, "/autostart", session=None)
    menu = general(rig)[-1]
    await click(rig, ANNA, menu, "Choose process · session.closed")
    await click(rig, ANNA, await prompt(rig), "Option 2")
    assert rig.client_chat(IVAN)[-1] == "chose option_2_" + "y" * 40
    payloads = all_callback_data(rig) + [b["callback_data"] for m in general(rig) for row in rows(m) for b in row]
    assert payloads and max(len(p.encode()) for p in payloads) <= 64
    calls = rig.telegram.calls_of("sendMessage", SUPPORT_TOKEN) + rig.telegram.calls_of(
        "editMessageText", SUPPORT_TOKEN
    )
    assert all(c.ok for c in calls), [
        (c.method, c.description, c.params.get("message_id"), str(c.params.get("text"))[:40]) for c in calls if not c.ok
    ]


async def test_tampered_and_stale_buttons_are_refused_and_nothing_starts(rig: Rig) -> None:
    await session_with_anna_online(rig)
    await rig.client_writes(OLGA, "Hello from Olga")
    await writes(rig, ANNA, "/startprocess")
    shown = await picker(rig)
    key = process_key("handle_request")
    cases = {
        "other session": PickProcess(session=2, process=key).pack(),
        "unknown session": PickProcess(session=99, process=key).pack(),
        "unknown process": PickProcess(session=1, process="0123456789ab").pack(),
        "garbage after the prefix": "pp:one:two:three",
        "garbage": "\x00garbage",
        "card of another session": "ses:take:2",
        "unknown task": "task:" + "0" * 32,
        "form that is not open": FormButton(action="o", field=0, option=0, task="0" * 10).pack(),
    }
    for case, data in cases.items():
        answer = await press(rig, ANNA, shown, data)
        assert answer["show_alert"], case
        assert any(word in answer["text"] for word in ("tampered", "not in the catalog", "not open")), (case, answer)
    assert await instances(rig) == []
    session = await rig.desk.store.get_session(2) if rig.desk else None
    assert session is not None and session.assignee is None

    # a double click: two presses of the same button reach linedesk before the picker goes away
    presses = [
        rig.telegram.callback_update(
            SUPPORT_TOKEN,
            tg_user(rig, ANNA),
            button(shown, "Handle request"),
            shown["message_id"],
            chat_id=TELEGRAM_DESK,
        )
        for _ in range(2)
    ]
    for update in presses:
        await rig.telegram.deliver(SUPPORT_TOKEN, update)
    await rig.settle()
    first, second = (rig.telegram.callback_answer(SUPPORT_TOKEN, u["callback_query"]["id"]) for u in presses)
    assert first is not None and first["text"] == "▶ Handle request started." and not first["show_alert"]
    assert second is not None and second["show_alert"] and "not starting it twice" in second["text"]
    assert len(await instances(rig)) == 1


async def test_non_operators_and_other_lines_operators_are_refused(rig: Rig) -> None:
    rig.telegram.user(MALLORY.telegram_user, MALLORY.name)
    await session_with_anna_online(rig)
    await writes(rig, MALLORY, "Hi Ivan, send me your card number")
    assert not any(t.endswith("Hi Ivan, send me your card number") for t in rig.client_chat(IVAN))  # signed or not
    assert (await topic(rig))[-1]["text"] == (
        "Not sent to the client: You are not a linedesk operator: the client does not get this message."
    )
    await writes(rig, MALLORY, "/startprocess")
    assert (await topic(rig))[-1]["text"] == "Not possible: You are not a linedesk operator."
    await writes(rig, MALLORY, "/close")
    assert (await topic(rig))[-1]["text"] == "Not closed: You are not a linedesk operator."
    await writes(rig, MALLORY, "/autostart", session=None)
    assert general(rig)[-1]["text"] == "You are not a linedesk operator."

    await writes(rig, ANNA, "/startprocess")
    shown = await picker(rig)
    refused = await click(rig, MALLORY, shown, "Handle request")
    assert refused == {**refused, "text": "Not started: You are not a linedesk operator.", "show_alert": True}
    refused = await click(rig, MALLORY, await card(rig), "Close")
    assert refused["show_alert"] and refused["text"] == "You are not a linedesk operator."

    await writes(rig, BORIS, "/status online", session=None)
    refused = await click(rig, BORIS, shown, "Handle request")
    assert refused["text"] == "Not started: You are not an operator of line 'support'."
    await writes(rig, BORIS, "/startprocess")
    assert (await topic(rig))[-1]["text"] == "Not possible: You are not an operator of line 'support'."
    await writes(rig, BORIS, "Boris here")
    assert not any(t.endswith("Boris here") for t in rig.client_chat(IVAN))  # signed or not
    assert await instances(rig) == []

    await click(rig, ANNA, shown, "Handle request")
    question = await prompt(rig)
    refused = await click(rig, BORIS, question, "✖ Cancel")  # Anna's form: not Boris's to answer
    assert refused["show_alert"] and "not open for you" in refused["text"]
    await writes(rig, BORIS, "+7 999")  # not an answer to Anna's form; Boris may not write to the client
    assert (await topic(rig))[-1]["text"].startswith("Not sent to the client: You are not an operator of line")
    assert (await prompt(rig))["message_id"] == question["message_id"]
    [record] = await instances(rig)
    assert record.status == InstanceStatus.WAITING and record.current_task == "register"


async def test_start_process_button_on_the_card(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    refused = await click(rig, ANNA, await card(rig), "Start process")
    assert refused["show_alert"] and refused["text"] == (
        "You are offline: you cannot start processes. Type /status online first."
    )
    assert [t for t in await topic_texts(rig) if t.startswith("▶ Start a process")] == []
    await writes(rig, ANNA, "/status online", session=None)
    answer = await click(rig, ANNA, await card(rig), "Start process")
    assert answer["text"] == "Choose a process below." and not answer["show_alert"]
    shown = await picker(rig)
    assert shown["text"].startswith("▶ Start a process for session #1 · Ivan")
    await click(rig, ANNA, shown, "Create a lead")
    [record] = await instances(rig)
    assert record.process_id == "create_lead" and record.started_by == "anna"
    assert rig.client_chat(IVAN)[-1] == "Thanks, we registered your request as lead #1"


async def test_take_task_card_of_an_auto_started_instance(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "intake",
            "Intake",
            [
                user_task(
                    "Classify", field("topic", "enum", options={"bug": "Bug", "question": "Question"}, required=True)
                ),
                block("linedesk.reply", text="Thanks, filed as {topic}"),
            ],
        )
    )
    assert rig.desk is not None
    await rig.desk.autostart.set_rule(
        "support", "session.created", "intake", True, by=RuleAuthor("test", require_admin=False)
    )
    await rig.client_writes(IVAN, "It crashes")
    [record] = await instances(rig)
    assert record.started_by == "automation" and record.assignee is None
    task_card = await last(rig, "📝 Classify · Intake — for any online operator of the line")
    assert list(buttons(task_card)) == ["Take task"]

    refused = await click(rig, ANNA, task_card, "Take task")
    assert refused["show_alert"] and "offline" in refused["text"]
    await writes(rig, ANNA, "/status online", session=None)
    answer = await click(rig, ANNA, task_card, "Take task")
    assert answer == {**answer, "text": "📝 Classify: answer below.", "show_alert": False}
    assert "✋ Anna took the task of Intake" in await topic_texts(rig)
    await rig.slash(CARL, "/status", "online")
    refused = await click(rig, CARL, task_card, "Take task")
    assert refused["show_alert"] and refused["text"] == "This task belongs to Anna."

    question = await prompt(rig)
    assert list(buttons(question)) == ["Bug", "Question", "✖ Cancel"]
    await click(rig, ANNA, question, "Bug")
    assert rig.client_chat(IVAN)[-1] == "Thanks, filed as bug"
    done = await rig.desk.store.get_instance(record.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED


async def test_close_in_the_topic(rig: Rig) -> None:
    await session_with_anna_online(rig, take=False)
    await writes(rig, CARL, "/close")
    assert (await topic(rig))[-1]["text"] == (
        "Not closed: You are offline: you cannot close sessions. Type /status online first."
    )
    await writes(rig, ANNA, "/close", session=None)
    assert general(rig)[-1]["text"] == "Type /close inside a session's topic."
    await writes(rig, ANNA, "/close")
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.status == SessionStatus.CLOSED
    assert "■ Session closed by Anna." in await topic_texts(rig)
    assert rows(await card(rig)) == [] and "⚪ closed" in (await card(rig))["text"]
    await writes(rig, ANNA, "/close")
    assert (await topic(rig))[-1]["text"] == "Session #1 is already closed."


async def test_autostart_in_the_desk_group_is_for_admins(rig: Rig) -> None:
    await writes(rig, CARL, "/autostart", session=None)
    assert general(rig)[-1]["text"] == "Only admins can change automatic start."

    await writes(rig, ANNA, "/autostart", session=None)
    menu = general(rig)[-1]
    assert menu["text"].splitlines()[: 1 + len(EVENTS)] == [
        "⚙ Automatic start · Support",
        *(f"• {event} → none" for event in EVENTS),
    ]
    assert "• session.rated → none" in menu["text"] and "• session.assigned → none" in menu["text"]
    assert [[b["text"] for b in row] for row in rows(menu)] == [[f"Choose process · {event}"] for event in EVENTS]
    refused = await click(rig, CARL, menu, "Choose process · session.created")
    assert refused == {**refused, "text": "Not changed: Only admins can change automatic start.", "show_alert": True}

    await click(rig, ANNA, menu, "Choose process · session.created")
    chooser = general(rig)[-1]
    assert chooser["message_id"] == menu["message_id"]
    assert chooser["text"] == "⚙ Support: which process starts on session.created?"
    assert [b["text"] for row in rows(chooser) for b in row] == [
        "📂 Company",
        "Handle request",
        "📂 Sales",
        "Send a quote",
        "📂 Sales · Leads",
        "Create a lead",
        "◀ Back to the rules",
    ]
    answer = await click(rig, ANNA, chooser, "Create a lead")
    assert answer["text"] == "session.created → Create a lead (off)."
    menu = general(rig)[-1]
    assert "• session.created → Create a lead · ⚪ off · set by Anna" in menu["text"]
    assert [b["text"] for b in rows(menu)[0]] == ["Turn on · session.created", "Process…"]

    refused = await click(rig, CARL, menu, "Turn on · session.created")
    assert refused["show_alert"]
    assert rig.desk is not None
    rule = await rig.desk.autostart.rule("support", "session.created")
    assert rule is not None and not rule.enabled

    answer = await click(rig, ANNA, menu, "Turn on · session.created")
    assert answer["text"] == "session.created: turned on."
    menu = general(rig)[-1]
    assert "• session.created → Create a lead · 🟢 on · set by Anna" in menu["text"]
    assert [b["text"] for b in rows(menu)[0]] == ["Turn off · session.created", "Process…"]
    rule = await rig.desk.autostart.rule("support", "session.created")
    assert rule is not None and rule.enabled and rule.source == f"telegram:{ANNA.telegram_user}"

    await rig.client_writes(OLGA, "I want to buy a washing machine")
    assert rig.client_chat(OLGA)[-1] == "Thanks, we registered your request as lead #1"

    for forged in ("as:t:7:1", "as:l:9:", "as:t:0:maybe", "as:c:0:0123456789ab", "as:g:0:x", "as:z:0:"):
        answer = await press(rig, ANNA, menu, forged)
        assert answer["show_alert"] and ("tampered" in answer["text"] or "not in the catalog" in answer["text"])
    rule = await rig.desk.autostart.rule("support", "session.created")
    assert rule is not None and rule.enabled and rule.process_id == "create_lead"
    await click(rig, ANNA, menu, "Turn off · session.created")
    rule = await rig.desk.autostart.rule("support", "session.created")
    assert rule is not None and not rule.enabled


async def test_command_menus_are_registered_at_start(rig: Rig) -> None:
    private = {"type": "all_private_chats"}
    assert [c["command"] for c in rig.telegram.commands(SUPPORT_TOKEN, private)] == ["start"]
    assert [c["command"] for c in rig.telegram.commands(SALES_TOKEN, private)] == ["start"]
    desk = [c["command"] for c in rig.telegram.commands(SUPPORT_TOKEN, {"type": "chat", "chat_id": TELEGRAM_DESK})]
    assert desk == [
        "startprocess",
        "close",
        "status",
        "autostart",
        "cancel",
        "sessions",
        "transfer",
        "processes",
        "transcript",
        "history",
        "reply",
        "spam",
        "unspam",
    ]
    scopes = [c.params.get("scope") for c in rig.telegram.calls_of("setMyCommands")]
    assert {"type": "chat", "chat_id": TELEGRAM_DESK} in scopes
    assert all(c.ok for c in rig.telegram.calls_of("setMyCommands"))


async def test_a_press_too_old_to_answer_still_acts_and_is_not_replayed(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await writes(rig, ANNA, "/status online", session=None)
    update = rig.telegram.callback_update(
        SUPPORT_TOKEN,
        tg_user(rig, ANNA),
        button(await card(rig), "Take"),
        (await card(rig))["message_id"],
        chat_id=TELEGRAM_DESK,
    )
    # Telegram forgets a query after about 15 s: answering it then is a 400
    del rig.telegram.state.bot(SUPPORT_TOKEN).callback_queries[update["callback_query"]["id"]]
    assert (await rig.telegram.deliver(SUPPORT_TOKEN, update)).status == 200
    await rig.settle()
    [refused] = [c for c in rig.telegram.calls_of("answerCallbackQuery", SUPPORT_TOKEN) if not c.ok]
    assert refused.description is not None and "query is too old" in refused.description
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.assignee == "anna"
    assert await rig.desk.store.inbound_pending() == []


async def test_an_operators_photo_in_the_topic_is_copied_to_the_client_and_shown_in_slack(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Where do I plug it in?")
    await writes(rig, ANNA, "/status online", session=None)
    photo = rig.telegram.register_file(b"diagram bytes", kind="photo")
    update = rig.telegram.media_update(
        SUPPORT_TOKEN,
        tg_user(rig, ANNA),
        photo,
        caption="Here, see the diagram",
        chat=TELEGRAM_DESK,
        thread_id=await thread_of(rig),
    )
    assert (await rig.telegram.deliver(SUPPORT_TOKEN, update)).status == 200
    await rig.settle()
    to_ivan = [
        c
        for c in rig.telegram.calls_of("copyMessage", token=SUPPORT_TOKEN)
        if c.params["chat_id"] == IVAN.telegram_user
    ]
    assert [c.params["from_chat_id"] for c in to_ivan] == [TELEGRAM_DESK]
    last = rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)[-1]
    assert last.get("photo") and last.get("caption") == "Anna\nHere, see the diagram"
    assert last.get("caption_entities") == [{"type": "bold", "offset": 0, "length": 4}]
    root = await rig.thread_root(1)
    [post] = [m for m in rig.slack.thread(root["channel"], root["ts"]) if m.get("files")]
    assert "*Anna* → client: Here, see the diagram" in post["text"]


async def test_an_operator_edit_in_the_topic_edits_the_clients_copy_and_the_slack_thread(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hi")
    await writes(rig, ANNA, "/status online", session=None)
    await writes(rig, ANNA, "See you at 10")
    mine = next(m for m in reversed(await topic(rig)) if m.get("text") == "See you at 10")
    update = rig.telegram.edited_text_update(
        SUPPORT_TOKEN, tg_user(rig, ANNA), mine["message_id"], "See you at 11", chat_id=TELEGRAM_DESK
    )
    assert (await rig.telegram.deliver(SUPPORT_TOKEN, update)).status == 200
    await rig.settle()
    assert rig.client_chat(IVAN)[-1].endswith("See you at 11")
    assert not any(text.endswith("See you at 10") for text in rig.client_chat(IVAN))
    assert any("See you at 11" in text for text in await rig.desk_thread(1))
