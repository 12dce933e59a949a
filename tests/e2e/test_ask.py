"""`linedesk.ask` (SPEC §14): a process asks the client with buttons (or for a typed answer) and waits —
on Telegram and in a Slack DM, on both stores, across a restart; stale, repeated and forged presses refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from adapters.telegram.asks import AskButton
from bots.app import Linedesk
from core.asks import MAX_CHOICES, REPLIES, Outcome, new_id
from core.model import InstanceStatus
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, PETRA, SUPPORT_TOKEN, WEBHOOK_SECRET, Rig, free_port
from tests.support.asks import (
    buttons,
    client_presses,
    processes_folder,
    slack_buttons,
    slack_client_clicks,
    slack_question,
    telegram_question,
)
from tests.support.bpmn import block, wait_client
from tests.support.flows import pick, run_for_ivan
from tests.support.rigs import store_rig

SIZE = (
    "size",
    "Pick a size",
    [
        block("linedesk.ask", result="size", text="Which size, {client_name}?", choices="S, M, L"),
        block("linedesk.reply", text="You chose {size}"),
    ],
)
TWO = (
    "two",
    "Two questions",
    [
        block("linedesk.ask", result="first", text="First: tea or coffee?", choices="Tea,Coffee"),
        block("linedesk.ask", result="second", text="Second: sugar?", choices="=['Yes', 'No']"),
        block("linedesk.reply", text="{first}, sugar: {second}"),
    ],
)
WHEN = (
    "when",
    "When",
    [
        block("linedesk.ask", result="when", text="When shall we call?", choices="Now", allow_text="true"),
        block("linedesk.reply", text="We call: {when}"),
        wait_client(),
        block("linedesk.reply", text="Noted: {client_message}"),
    ],
)
BROKEN = ("broken", "Broken", [block("linedesk.ask", result="x", text="Pick", choices="=['Fine', '']")])
LISTENER = ("listener", "Listener", [wait_client(), block("linedesk.reply", text="Heard: {client_message}")])


@pytest.fixture(params=["sqlite", "redis"])
async def ask_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    folder = processes_folder(tmp_path, SIZE, TWO, WHEN, LISTENER, BROKEN)
    async with store_rig(request.param, tmp_path, processes=folder) as stage:
        yield stage


async def test_telegram_client_clicks_a_choice_and_the_process_goes_on(ask_rig: Rig) -> None:
    rig = ask_rig
    record = await run_for_ivan(rig, "Pick a size")
    assert record.status == InstanceStatus.WAITING and (record.waiting_for or "").startswith("ask:")
    question = telegram_question(rig, IVAN, "Which size, Ivan?")
    assert [label for label, _ in buttons(question)] == ["S", "M", "L"]
    assert all(len(data.encode()) <= 64 for _, data in buttons(question))

    answer = await client_presses(rig, IVAN, question, buttons(question)[1][1])
    assert answer is not None and answer["text"] == REPLIES[Outcome.TAKEN]
    answered = telegram_question(rig, IVAN, "Which size, Ivan?")
    assert answered["text"] == "Which size, Ivan?\n\n✔ M" and "reply_markup" not in answered
    assert rig.client_chat(IVAN)[-1] == "You chose M"
    assert rig.desk is not None
    done = await rig.desk.store.get_instance(record.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED
    assert (await rig.desk.processes.variables(record.id))["size"] == "M"

    # operators see the question and the answer in the session's thread and topic
    thread = await rig.desk_thread(1)
    assert any("→ client: Which size, Ivan?" in line and "[M]" in line for line in thread)
    assert any("Pick a size · Ivan answered: M" in line for line in thread)
    topic = [m.get("text", "") for m in await rig.topic(1)]
    assert any("Which size, Ivan?" in text for text in topic)
    assert any("Ivan answered: M" in text for text in topic)


async def test_a_second_click_an_old_question_and_forged_buttons_change_nothing(ask_rig: Rig) -> None:
    rig = ask_rig
    record = await run_for_ivan(rig, "Two questions")
    first = telegram_question(rig, IVAN, "First:")
    [(_, tea), (_, coffee)] = buttons(first)
    ask_id = tea.split(":")[1]
    for forged in (f"ask:{ask_id}:7", f"ask:{'0' * 12}:0", f"ask:{ask_id}:-1"):
        refused = await client_presses(rig, IVAN, first, forged)
        assert refused is not None and refused["text"] == REPLIES[Outcome.INVALID] and refused["show_alert"]
    assert (await client_presses(rig, IVAN, first, coffee) or {})["text"] == REPLIES[Outcome.TAKEN]

    # the first question again (answered; the instance now asks the second): refused, nothing moves
    again = await client_presses(rig, IVAN, first, tea)
    assert again is not None and again["text"] == REPLIES[Outcome.CLOSED] and again["show_alert"]
    second = telegram_question(rig, IVAN, "Second:")
    assert [label for label, _ in buttons(second)] == ["Yes", "No"]
    await client_presses(rig, IVAN, second, buttons(second)[0][1])
    twice = await client_presses(rig, IVAN, second, buttons(second)[1][1])
    assert twice is not None and twice["text"] == REPLIES[Outcome.CLOSED]
    assert [t for t in rig.client_chat(IVAN) if "sugar:" in t] == ["Coffee, sugar: Yes"]
    assert rig.desk is not None
    assert (await rig.desk.processes.variables(record.id))["first"] == "Coffee"
    thread = await rig.desk_thread(1)
    assert len([line for line in thread if "answered:" in line]) == 2


async def test_a_cancelled_instance_refuses_the_click(ask_rig: Rig) -> None:
    rig = ask_rig
    await run_for_ivan(rig, "Pick a size")
    listing = (await rig.slash(ANNA, "/processes", "1")).json
    assert "*Pick a size* · waiting for the client's answer" in " ".join(
        b["text"]["text"] for b in listing["blocks"] if b["type"] == "section"
    )
    cancel = next(e for b in listing["blocks"] if b["type"] == "actions" for e in b["elements"] if "Cancel" in str(e))
    await rig.click(ANNA, cancel["action_id"], cancel["value"], channel_id=DESK_CHANNEL, container_ephemeral=True)
    assert "■ Pick a size cancelled by Anna" in await rig.desk_thread(1)
    question = telegram_question(rig, IVAN, "Which size")
    refused = await client_presses(rig, IVAN, question, buttons(question)[0][1])
    assert refused is not None and refused["text"] == REPLIES[Outcome.CLOSED]
    assert not any(t.startswith("You chose") for t in rig.client_chat(IVAN))


async def test_a_typed_answer_goes_to_the_question_only(ask_rig: Rig) -> None:
    rig = ask_rig
    listener = await run_for_ivan(rig, "Listener")
    await pick(rig, "When")
    assert rig.desk is not None
    [when] = [r for r in await rig.desk.store.list_instances(session=1) if r.process_id == "when"]
    await rig.client_writes(IVAN, "Tomorrow at 5")
    assert rig.client_chat(IVAN)[-1] == "We call: Tomorrow at 5"
    answered = telegram_question(rig, IVAN, "When shall we call?")
    assert answered["text"] == "When shall we call?\n\n✔ Tomorrow at 5" and "reply_markup" not in answered
    still = await rig.desk.store.get_instance(listener.id)
    assert still is not None and still.status == InstanceStatus.WAITING  # the answer was not also its message
    assert any("When · Ivan answered: Tomorrow at 5" in line for line in await rig.desk_thread(1))

    await rig.client_writes(IVAN, "Thanks")  # the next message goes to the waits as usual
    texts = rig.client_chat(IVAN)
    assert "Noted: Thanks" in texts and "Heard: Thanks" in texts
    done = await rig.desk.store.get_instance(when.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED


async def test_the_answer_after_a_restart(ask_rig: Rig) -> None:
    rig = ask_rig
    record = await run_for_ivan(rig, "Pick a size")
    await rig.restart()
    question = telegram_question(rig, IVAN, "Which size")
    answer = await client_presses(rig, IVAN, question, buttons(question)[2][1])
    assert answer is not None and answer["text"] == REPLIES[Outcome.TAKEN]
    assert rig.client_chat(IVAN)[-1] == "You chose L"
    assert rig.desk is not None
    done = await rig.desk.store.get_instance(record.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED


async def test_slack_dm_client_clicks_a_choice(ask_rig: Rig) -> None:
    rig = ask_rig
    await rig.slack_customer_writes(PETRA, "Hello, I need a shirt")
    await rig.slash(ANNA, "/status", "online")
    await pick(rig, "Pick a size")
    question = slack_question(rig, PETRA, "Which size, Petra?")
    found = slack_buttons(question)
    assert [b["text"]["text"] for b in found] == ["S", "M", "L"]
    await slack_client_clicks(rig, PETRA, question, found[0]["action_id"], found[0]["value"])
    answered = slack_question(rig, PETRA, "Which size, Petra?")
    assert answered["text"] == "Which size, Petra?\n\n✔ S" and slack_buttons(answered) == []
    assert rig.slack_customer_sees(PETRA)[-1] == "You chose S"
    assert any("Petra answered: S" in line for line in await rig.desk_thread(1))

    # the same button again, and a tampered value: told in an ephemeral message, nothing changes
    await slack_client_clicks(rig, PETRA, question, found[1]["action_id"], found[1]["value"])
    ask_id = found[0]["value"].split(":")[0]
    await slack_client_clicks(rig, PETRA, question, found[1]["action_id"], f"{ask_id}:9")
    told = [e.get("text") for e in rig.ephemeral(PETRA)]
    assert told[-2:] == [REPLIES[Outcome.CLOSED], REPLIES[Outcome.INVALID]]
    assert [t for t in rig.slack_customer_sees(PETRA) if t.startswith("You chose")] == ["You chose S"]


async def test_two_clicks_at_once_count_once(ask_rig: Rig) -> None:
    rig = ask_rig
    await rig.slack_customer_writes(PETRA, "Hello")
    await rig.slash(ANNA, "/status", "online")
    await pick(rig, "Pick a size")
    question = slack_question(rig, PETRA, "Which size")
    found = slack_buttons(question)
    await asyncio.gather(
        *(slack_client_clicks(rig, PETRA, question, b["action_id"], b["value"]) for b in (found[0], found[2]))
    )
    await rig.settle()
    chose = [t for t in rig.slack_customer_sees(PETRA) if t.startswith("You chose")]
    assert len(chose) == 1
    assert [e.get("text") for e in rig.ephemeral(PETRA)] == [REPLIES[Outcome.CLOSED]]
    assert len([line for line in await rig.desk_thread(1) if "answered:" in line]) == 1


async def test_a_question_that_cannot_be_put_fails_the_instance_with_its_reason(ask_rig: Rig) -> None:
    record = await run_for_ivan(ask_rig, "Broken")
    assert record.status == InstanceStatus.FAILED
    assert "choice 2 of 'choices' has an empty label" in (record.error or "")
    assert any("✖ Broken failed" in line and "empty label" in line for line in await ask_rig.desk_thread(1))


def test_telegram_callback_data_fits_64_bytes() -> None:
    assert len(AskButton(ask=new_id(), choice=MAX_CHOICES - 1).pack().encode()) <= 64


async def test_two_linedesks_on_one_redis_take_one_answer(tmp_path: Path) -> None:
    """Two presses of one question at once, each to another linedesk on the same Redis: one answer counts."""
    folder = processes_folder(tmp_path, SIZE)
    async with store_rig("redis", tmp_path, processes=folder) as rig:
        record = await run_for_ivan(rig, "Pick a size")
        second = Linedesk(rig.load_config(), outbox_poll=0.05, pacer=rig.pacer)
        runner = web.AppRunner(second.web_app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await second.start(transports=False)
        try:
            question = telegram_question(rig, IVAN, "Which size")
            user = rig.telegram.user(IVAN.telegram_user, IVAN.name)
            presses = [
                rig.telegram.callback_update(SUPPORT_TOKEN, user, data, question["message_id"])
                for _, data in buttons(question)[:2]
            ]
            urls = [rig.webhook_url(), f"http://127.0.0.1:{port}/telegram/support"]
            results = await asyncio.gather(
                *(
                    rig.telegram.post_update(url, press, WEBHOOK_SECRET)
                    for url, press in zip(urls, presses, strict=True)
                )
            )
            assert [status for status, _ in results] == [200, 200]
            for _ in range(3):
                await rig.settle()
                await second.settle()
            told = sorted(
                (rig.telegram.callback_answer(SUPPORT_TOKEN, p["callback_query"]["id"]) or {}).get("text", "")
                for p in presses
            )
            assert told == sorted([REPLIES[Outcome.TAKEN], REPLIES[Outcome.CLOSED]])
            assert len([t for t in rig.client_chat(IVAN) if t.startswith("You chose")]) == 1
            assert rig.desk is not None
            done = await rig.desk.store.get_instance(record.id)
            assert done is not None and done.status == InstanceStatus.COMPLETED
        finally:
            await second.stop()
            await runner.cleanup()
