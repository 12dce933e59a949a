"""Who does a task (SPEC §11): `${initiator}`, candidate groups, names nobody knows (never stuck) — over HTTP
against the sandboxes."""

from __future__ import annotations

from sandboxes.rig import ANNA, CARL, DESK_CHANNEL, IVAN, Rig
from tests.support.bpmn import block, field, user_task
from tests.support.flows import pick, run_for_ivan
from tests.support.rigs import MakeRig


def task_card(texts: list[str], name: str) -> str:
    return next(t for t in texts if t.startswith(f"Task {name}"))


async def card_blocks(rig: Rig, name: str) -> str:
    """The task card's whole text as Slack shows it (its section)."""
    root = await rig.thread_root(1)
    for message in rig.slack.thread(DESK_CHANNEL, root["ts"]):
        if message.get("text", "").startswith(f"Task {name}"):
            return str(message["blocks"][0]["text"]["text"])
    raise AssertionError(f"no card of task {name}")


async def test_an_initiator_expression_gives_the_task_to_the_operator_who_started(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "mine",
            "Mine",
            [
                user_task("Check", field("ok", "boolean", required=True), assignee="${initiator}"),
                block("linedesk.reply", text="Checked: {ok}"),
            ],
        )
    )
    record = await run_for_ivan(rig, "Mine")
    assert record.assignee == "anna" and record.task_note is None
    assert "for Anna" in task_card(await rig.desk_thread(1), "Check")
    assert rig.slack.modal(ANNA.slack_user) is not None  # her own task: its form opened at once
    await rig.submit(ANNA, {"ok": {"value": "true"}})
    assert rig.client_chat(IVAN)[-1] == "Checked: True"


async def test_a_candidate_group_lets_its_members_take_the_task_and_refuses_others(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "approve",
            "Approve",
            [
                user_task("Approve", field("ok", "boolean", required=True), candidate_groups="approvers"),
                block("linedesk.reply", text="Approved: {ok}"),
            ],
        )
    )
    record = await run_for_ivan(rig, "Approve")
    assert record.assignee is None and record.candidates == ["carl"]
    card = task_card(await rig.desk_thread(1), "Approve")
    assert "for Carl" in card
    assert rig.slack.modal(ANNA.slack_user) is None

    await rig.click(ANNA, "task.take", record.id, channel_id=DESK_CHANNEL)
    assert "This task is for Carl: only they may take it." in rig.ephemeral(ANNA)[-1]["text"]
    await rig.slash(CARL, "/status", "online")
    await rig.click(CARL, "task.take", record.id, channel_id=DESK_CHANNEL)
    assert rig.slack.modal(CARL.slack_user) is not None
    await rig.submit(CARL, {"ok": {"value": "true"}})
    assert rig.client_chat(IVAN)[-1] == "Approved: True"


async def test_an_unknown_assignee_falls_back_to_the_sessions_assignee_with_a_note(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "demo_task",
            "Demo task",
            [
                user_task("Review", field("ok", "boolean", required=True), assignee="demo"),
                block("linedesk.reply", text="Reviewed: {ok}"),
            ],
        )
    )
    await rig.client_writes(IVAN, "Hello")
    await rig.slash(ANNA, "/status", "online")
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.take", "1", channel_id=DESK_CHANNEL, message_ts=root["ts"])
    await pick(rig, "Demo task")
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.assignee == "anna"
    assert record.task_note == "assigned to Anna: 'demo' is not an operator here"
    assert "assigned to Anna: 'demo' is not an operator here" in await card_blocks(rig, "Review")
    await rig.submit(ANNA, {"ok": {"value": "false"}})
    assert rig.client_chat(IVAN)[-1] == "Reviewed: False"


async def test_an_assignee_of_another_line_and_no_session_assignee_leave_the_task_to_the_line(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(
        (
            "for_boris",
            "For Boris",
            [user_task("Quote", field("ok", "boolean", required=True), assignee="boris")],
        )
    )
    record = await run_for_ivan(rig, "For Boris")  # nobody took the session
    assert record.assignee is None and record.candidates == []
    assert record.task_note == "for any operator of the line: Boris does not work line 'support'"
    card = await card_blocks(rig, "Quote")
    assert "for any online operator of the line" in card and "Boris does not work line 'support'" in card
    await rig.click(ANNA, "task.take", record.id, channel_id=DESK_CHANNEL)
    assert rig.slack.modal(ANNA.slack_user) is not None
