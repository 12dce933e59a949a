"""`linedesk demo`: the scenario of SPEC §9 played against both sandboxes, in one process.

No tokens, no network, nothing written outside a temporary folder. Every step checks
what really happened (in the sandboxes' state and linedesk's store); the exit code is
0 only when every check passed.

The transcript tells the story step by step — who writes, who clicks, what each side sees,
what the process does — with each check's ✔/✘ and the step's time, then a summary. It is
coloured only on a terminal (`NO_COLOR` turns colour off, `FORCE_COLOR` on; see `color_enabled`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bots.app import Linedesk
from bots.demo_team import TEAM_CONFIG, report_act, team_act
from bots.init import package_processes_dir
from bots.transcript import Transcript, color_enabled, printable
from core.links import LinkKind
from core.model import InstanceStatus
from sandboxes.limits import TELEGRAM_GROUP_MESSAGES
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, OLGA, PETRA, SUPPORT_TOKEN, TELEGRAM_DESK, WEBHOOK_SECRET, Rig

_BOLD = re.compile(r"\*([^*\n]+)\*")

LIMITED_SETTLE = 90.0
"""How long the demo waits for linedesk to settle after each action: the sandboxes enforce the platforms'
limits, and a message Telegram refuses into a group already sent 20 that minute is retried up to a minute later."""


class _LimitedRig(Rig):
    """The rig with the platforms' rate limits on (the sandboxes' default), waiting out the retries they cause."""

    async def settle(self, timeout: float = LIMITED_SETTLE) -> None:
        await super().settle(timeout)


def _plain(text: str) -> str:
    """Slack mrkdwn as a person reads it: no *bold* stars, no `code` ticks."""
    return _BOLD.sub(r"\1", text).replace("`", "")


def _buttons(blocks: list[dict[str, Any]]) -> str:
    labels = [
        e["text"]["text"]
        for b in blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e.get("type") == "button"
    ]
    return " ".join(f"[{label}]" for label in labels)


def _card_text(message: dict[str, Any] | None) -> str:
    if not message:
        return "(missing)"
    text = message["blocks"][0]["text"]["text"].replace("*", "")
    return f"{text}\n{_buttons(message['blocks'])}"


async def _play(rig: Rig, show: Transcript) -> None:
    desk = rig.desk
    assert desk is not None
    seen_client: list[str] = []

    def client_news() -> list[str]:
        chat = rig.client_chat(IVAN)
        bot_texts = [m.get("text", "") for m in rig.bot_messages(IVAN)]
        fresh = [text for text in bot_texts if text not in seen_client]
        seen_client.extend(fresh)
        return fresh if chat else []

    # 1 ----------------------------------------------------------------------------------------
    show.step(
        "1",
        "Ivan writes to the Support bot on Telegram",
        "A client's first message opens a session: linedesk numbers it (#1), greets Ivan, and puts the "
        "session on both desks of the line — a card with a thread in the Slack channel, a topic in the "
        "Telegram group.",
    )
    show.line("Ivan writes", "Hello, my washing machine is broken", "→", "client")
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    for text in client_news():
        show.line("Ivan sees", text, "←", "client")
    session = await desk.store.get_session(1)
    root = await rig.thread_root(1)
    card = rig.slack.message(root["channel"], root["ts"])
    show.line("Slack #support-desk", _card_text(card), role="desk")
    for text in await rig.desk_thread(1):
        show.line("  in its thread", _plain(text), role="desk")
    topics = rig.telegram.calls_of("createForumTopic")
    show.line("Telegram desk group", f"new topic “{topics[0].params['name']}”" if topics else "(no topic)", role="desk")
    show.check(session is not None and session.status.value == "queued", "session #1 created, status queued")
    show.check("Hello! An operator will answer shortly." in seen_client, "greeting sent to Ivan")
    show.check(bool(card) and bool(topics), "thread in the Slack desk and topic in the Telegram desk")

    # 2 ----------------------------------------------------------------------------------------
    show.step(
        "2",
        "Anna is offline: Start process is refused",
        "Operators start the day offline. An offline operator can read the desk but not act: the click is "
        "refused with the reason, and only Anna sees it. She goes online with /status.",
    )
    show.line("Anna clicks", "[Start process] on the card of #1", "→", "operator")
    await rig.click(ANNA, "session.start_process", "1", channel_id=root["channel"], message_ts=root["ts"])
    refusal = rig.ephemeral(ANNA)[-1]["text"] if rig.ephemeral(ANNA) else ""
    show.line("Anna sees (only her)", refusal, role="operator")
    show.check("offline" in refusal and not await desk.store.list_instances(), "refused: offline, nothing started")
    show.line("Anna types", "/status online", "→", "operator")
    answer = await rig.slash(ANNA, "/status", "online")
    show.line("Anna sees (only her)", _plain(answer.text), role="operator")
    show.check((await desk.operators.state("anna")).status.value == "online", "Anna is online")

    # 3 ----------------------------------------------------------------------------------------
    show.step(
        "3",
        "Anna takes the session and answers in the Slack thread",
        "Take makes the session Anna's on every desk. What she writes in the thread goes to Ivan on "
        "Telegram, signed with her name.",
    )
    show.line("Anna clicks", "[Take]", "→", "operator")
    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    card = rig.slack.message(root["channel"], root["ts"])
    show.line("Slack card becomes", _card_text(card), role="desk")
    show.line("Anna writes in thread", "Hi Ivan! Let's register a repair request.", "→", "operator")
    await rig.thread_reply(ANNA, 1, "Hi Ivan! Let's register a repair request.")
    news = client_news()
    for text in news:
        show.line("Ivan sees", text, "←", "client")
    show.check("active · Anna" in _card_text(card), "card shows: active · Anna")
    show.check(
        any(t.endswith("Hi Ivan! Let's register a repair request.") and t.startswith("Anna") for t in news),
        "Ivan received Anna's answer on Telegram, signed with her name",
    )

    # 4 ----------------------------------------------------------------------------------------
    show.step(
        "4",
        "Anna starts “Handle request” from the session",
        "/startprocess offers every process of the catalog, grouped by scope (company, section, app). The "
        "click starts the instance at once; then its first task opens as a form for Anna. The process "
        "registers the request and talks back to Ivan: a reply and a live status card.",
    )
    show.line("Anna types", "/startprocess", "→", "operator")
    picker = await rig.slash(ANNA, "/startprocess")
    blocks = picker.json["blocks"] if isinstance(picker.json, dict) else []
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    for block in blocks:
        if block["type"] == "header":
            groups.append((block["text"]["text"], []))
        elif block["type"] == "actions" and groups:
            groups[-1][1].extend(e for e in block["elements"] if e["type"] == "button")
    width = max((len(title) for title, _ in groups), default=0)
    show.line(
        "Anna sees (only her)",
        "\n".join(
            f"{title:<{width}}  " + " ".join(f"[{b['text']['text']}]" for b in buttons) for title, buttons in groups
        ),
        role="operator",
    )
    show.check(
        [title for title, _ in groups] == ["Company", "Sales", "Sales · Leads"],
        "buttons grouped Company / Sales / Sales · Leads",
    )
    button = next((b for _, buttons in groups for b in buttons if b["text"]["text"] == "Handle request"), None)
    if button is None:
        show.check(False, "“Handle request” offered")
        return
    show.line("Anna clicks", "[Handle request]", "→", "operator")
    ephemeral = rig.ephemeral(ANNA)[-1]
    await rig.click(
        ANNA,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=ephemeral["ts"],
        container_ephemeral=True,
    )
    instances = await desk.store.list_instances(session=1)
    thread = await rig.desk_thread(1)
    show.line("Slack thread", next((t for t in thread if t.startswith("▶")), "(no announcement)"), role="desk")
    modal = rig.slack.modal(ANNA.slack_user)
    show.check(
        bool(instances) and instances[0].status == InstanceStatus.WAITING, "instance started at once, before the form"
    )
    if modal is None:
        show.check(False, "the first task opened as a modal")
        return
    fields = [
        f"{b['label']['text']}{'' if b.get('optional') else ' *'}" for b in modal["blocks"] if b["type"] == "input"
    ]
    show.line("Anna's form opens", f"“{modal['title']['text']}”: " + ", ".join(fields), role="bot")
    show.line("Anna fills it in", "phone +7 900 123-45-67, kind = Repair, urgent = Yes", "→", "operator")
    submitted = await rig.submit(
        ANNA, {"phone": {"value": "+7 900 123-45-67"}, "kind": {"value": "repair"}, "urgent": {"value": "true"}}
    )
    news = client_news()
    for text in news:
        show.line("Ivan sees", text, "←", "client")
    record = await desk.store.get_instance(instances[0].id)
    show.check(
        submitted.status == 200 and record is not None and record.status == InstanceStatus.WAITING,
        "form submitted, the process goes on",
    )
    show.check("Your request #1 is registered" in news, "Ivan received “Your request #1 is registered”")
    show.check("Request #1: registered" in news, "Ivan has a live status card “Request #1: registered”")

    # 5 ----------------------------------------------------------------------------------------
    show.step(
        "5",
        "The process waits for Ivan, then for a timer",
        "The process asked Ivan a question and waits for his next message. His answer moves it on: the "
        "status card becomes “in progress”, then a 3-second timer moves it to “done”. Ivan sees one card, "
        "edited in place.",
    )
    show.line("Ivan writes", "Tomorrow after 10, please", "→", "client")
    await rig.client_writes(IVAN, "Tomorrow after 10, please")
    show.line("Ivan's status card", _status_card(rig), role="client")
    show.line("Slack thread", _plain((await rig.desk_thread(1))[-1]), role="desk")
    waiting = await desk.store.get_instance(instances[0].id)
    show.check(waiting is not None and waiting.waiting_for == "timer", "answer received, the process waits on a timer")
    done = await _wait_for(desk, instances[0].id, InstanceStatus.COMPLETED, timeout=10)
    await rig.settle()
    show.line("… a few seconds later", _status_card(rig), role="client")
    cards = [m for m in rig.bot_messages(IVAN) if m.get("text", "").startswith("Request #1:")]
    show.check(done, "the timer fired and the process finished")
    show.check(
        len(cards) == 1 and cards[0]["text"] == "Request #1: done" and cards[0]["edit_count"] == 2,
        "one status card, edited in place: registered → in progress → done",
    )

    # 6 ----------------------------------------------------------------------------------------
    show.step(
        "6",
        "Admin Anna turns on an automatic start",
        "Only admins change automatic starts. The rule: when a session is created on the Support line, "
        "start “Create a lead”.",
    )
    show.line("Anna types", "/autostart support session.created create_lead on", "→", "operator")
    answer = await rig.slash(ANNA, "/autostart", "support session.created create_lead on")
    show.line("Anna sees (only her)", _plain(answer.text) if answer.text else str(answer.json), role="operator")
    rule = await desk.autostart.rule("support", "session.created")
    show.check(rule is not None and rule.enabled and rule.process_id == "create_lead", "the rule is on")

    # 7 ----------------------------------------------------------------------------------------
    show.step(
        "7",
        "Olga writes: the lead process starts by itself",
        "A new session on Support now starts “Create a lead” with nobody clicking: it stores lead #1 and "
        "thanks Olga. The desk sees everything the process does.",
    )
    show.line("Olga writes", "Hi! How much is a new dishwasher?", "→", "client")
    await rig.client_writes(OLGA, "Hi! How much is a new dishwasher?")
    for text in rig.client_chat(OLGA)[1:]:
        show.line("Olga sees", text, "←", "client")
    leads = await desk.store.list_items("leads")
    olga = await desk.store.list_sessions(line_id="support", limit=1)
    auto = await desk.store.list_instances(session=olga[0].number) if olga else []
    show.line(
        "Slack thread",
        "\n".join(_plain(t) for t in await rig.desk_thread(olga[0].number)) if olga else "(none)",
        role="desk",
    )
    show.check(bool(olga) and olga[0].number == 2, "session #2 opened")
    show.check(
        len(auto) == 1 and auto[0].trigger == "session.created" and auto[0].started_by == "automation",
        "the lead process started by itself",
    )
    show.check([item.number for item in leads] == [1], "item leads #1 created")
    show.check(
        "Thanks, we registered your request as lead #1" in rig.client_chat(OLGA),
        "Olga got “Thanks, we registered your request as lead #1”",
    )

    # 8 ----------------------------------------------------------------------------------------
    show.step(
        "8",
        "Petra writes to the app in a Slack DM",
        "Customers can write from Slack too: the Sales line takes direct messages to the app, and its "
        "sessions go to the #sales-desk channel.",
    )
    show.line("Petra writes (Slack)", "Hi, can I get an invoice for my last order?", "→", "client")
    await rig.slack_customer_writes(PETRA, "Hi, can I get an invoice for my last order?", "Petra Novak")
    for text in rig.slack_customer_sees(PETRA):
        show.line("Petra sees", text, "←", "client")
    petra = await desk.store.list_sessions(line_id="sales", limit=1)
    if petra:
        root = await rig.thread_root(petra[0].number)
        card = rig.slack.message(root["channel"], root["ts"])
        show.line("Slack #sales-desk", _card_text(card), role="desk")
    show.check(
        bool(petra) and petra[0].number == 3 and petra[0].client_id == f"slack:{PETRA.slack_user}",
        "session #3 opened on the Sales line, its card on the sales desk",
    )
    show.check(
        "Hello! An operator will answer shortly." in rig.slack_customer_sees(PETRA), "Petra got the greeting in her DM"
    )

    # the Telegram desk -------------------------------------------------------------------------
    await _room_in_the_telegram_desk(rig, show)
    await _telegram_desk(rig, show)
    await _duplicates_and_forgeries(rig, show)
    await team_act(rig, show)
    await report_act(rig, show)


async def _duplicates_and_forgeries(rig: Rig, show: Transcript) -> None:
    """Step 9, then the Telegram desk's topic of session #1 as a whole."""
    desk = rig.desk
    assert desk is not None
    # 9 ----------------------------------------------------------------------------------------
    show.step(
        "9",
        "A duplicate update and a forged request change nothing",
        "Telegram may deliver the same update twice; linedesk handles it once. A request that claims to "
        "come from Slack but is not signed with the app's secret is refused.",
    )
    user = rig.telegram.user(IVAN.telegram_user, "Ivan")
    update = rig.telegram.text_update(SUPPORT_TOKEN, user, "Is the master coming today?")
    first = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
    again = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
    await rig.settle()
    copies = [t for t in await rig.desk_thread(1) if "Is the master coming today?" in t]
    show.line(
        "Telegram delivers",
        f"update {update['update_id']} (Ivan: “Is the master coming today?”) twice: HTTP {first[0]}, HTTP {again[0]}",
        "→",
        "desk",
    )
    show.check(len(copies) == 1, "one message in the desk, not two")
    body, content_type = rig.slack.payloads.slash_command("/status", "offline", ANNA.slack_user, DESK_CHANNEL)
    forged = await rig.slack.send(rig.slack_url, body, content_type, signature="v0=" + "0" * 64)
    show.line("A forger sends", f"“/status offline” as Anna, badly signed: HTTP {forged.status}", "→", "other")
    show.check(
        forged.status == 401 and (await desk.operators.state("anna")).status.value == "online",
        "the forgery is refused and changes nothing",
    )
    await rig.settle()
    refused = rig.telegram.refusals.total + rig.slack.refusals.total
    show.check(refused == 0, f"the platforms' rate limits held all along: {refused} × 429 from Telegram and Slack")

    link = await desk.store.link_of(LinkKind.SESSION_TOPIC, "1")
    topic = link.data if link else None
    thread_id = topic["thread_id"] if topic else None
    topic_texts = [m.get("text") or "" for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK, thread_id)]
    show.step(
        "",
        "The Telegram desk: topic “#1 Ivan” at the end",
        "Everything about session #1, as the operators in the Telegram group see it: the card, Ivan's "
        "messages, Anna's answers, what the processes did.",
    )
    for text in topic_texts:
        if text:
            show.quote(text)


async def _room_in_the_telegram_desk(rig: Rig, show: Transcript) -> None:
    """Telegram takes 20 messages a minute into a group, and the desk has had its 20: the form the next step
    fills in asks its questions at once (it is not queued like mirrored messages), so the demo waits for room."""
    wait = rig.telegram.seconds_until_room(SUPPORT_TOKEN, TELEGRAM_DESK, TELEGRAM_GROUP_MESSAGES)
    if wait > 0:
        show.line(
            "(the demo waits)", f"{wait:.0f} s: Telegram takes {TELEGRAM_GROUP_MESSAGES} messages a minute into a group"
        )
        await asyncio.sleep(wait)


async def _telegram_desk(rig: Rig, show: Transcript) -> None:
    """The same job from the Telegram desk: Anna runs “Send a quote” inside topic #1, one field at a time."""
    show.step(
        "",
        "The Telegram desk: Anna sends a quote from topic “#1 Ivan”",
        "The same work from the Telegram group: /startprocess in a session's topic shows the catalog as "
        "buttons, and the form is asked one field per message. A wrong value is asked again.",
    )
    show.line("Anna writes in topic", "/startprocess", "→", "operator")
    await rig.topic_says(ANNA, 1, "/startprocess")
    picker = next((m for m in reversed(await rig.topic(1)) if m.get("text", "").startswith("▶ Start a process")), None)
    if picker is None:
        show.check(False, "the process keyboard appeared in the topic")
        return
    show.line(
        "the bot shows buttons",
        "\n".join(" ".join(f"[{label}]" for label, _ in row) for row in _keyboard(picker)),
        role="bot",
    )
    quote = next((data for row in _keyboard(picker) for label, data in row if label == "Send a quote"), None)
    show.check(quote is not None, "every process offered, grouped by scope")
    if quote is None:
        return
    show.line("Anna clicks", "[Send a quote]", "→", "operator")
    await rig.press(ANNA, picker, quote)
    answers: list[tuple[str, str]] = [
        ("reply", "Dishwasher"),
        ("button", "Use default: 1"),
        ("reply", "a lot"),
        ("reply", "450"),
        ("reply", "2026-12-31"),
    ]
    for how, answer in answers:
        prompt = next(m for m in reversed(await rig.topic(1)) if m.get("text", "").startswith(("📝 Send", "⚠")))
        show.line("the process asks", prompt.get("text", ""), role="bot")
        show.line("Anna answers", f"[{answer}]" if how == "button" else answer, "→", "operator")
        if how == "button":
            data = next((d for row in _keyboard(prompt) for label, d in row if label == answer), "")
            await rig.press(ANNA, prompt, data)
        else:
            await rig.topic_says(ANNA, 1, answer)
    show.line("the bot confirms", (await rig.topic(1))[-1].get("text", ""), role="bot")
    quote_text = next((t for t in reversed(rig.client_chat(IVAN)) if t.startswith("Our quote")), "")
    show.line("Ivan sees", quote_text or "(nothing)", "←", "client")
    show.check(
        quote_text == "Our quote: 1 × Dishwasher = 450 (valid until 2026-12-31).",
        "the wrong price was asked again; Ivan received the quote",
    )


def _keyboard(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    markup = message.get("reply_markup") or {}
    return [[(b["text"], b.get("callback_data", "")) for b in row] for row in markup.get("inline_keyboard", [])]


def _status_card(rig: Rig) -> str:
    cards = [m for m in rig.bot_messages(IVAN) if m.get("text", "").startswith("Request #")]
    if not cards:
        return "(no card)"
    return f"{cards[-1]['text']}   (the same message, edited {cards[-1].get('edit_count', 0)}×)"


async def _wait_for(desk: Linedesk, instance_id: str, status: InstanceStatus, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        record = await desk.store.get_instance(instance_id)
        if record is not None and record.status == status:
            return True
        await asyncio.sleep(0.1)
    return False


async def run_demo(
    quiet: bool = False, out: TextIO | None = None, color: bool | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """Play SPEC §9 and print the transcript to `out` (default stdout); 0 when every check passed.

    `color`: True or False forces colour on or off; None decides by `color_enabled(out, environ)`."""
    stream = printable(out or sys.stdout)
    use_color = color_enabled(stream, environ) if color is None else color
    show = Transcript(out=stream, quiet=quiet, color=use_color)
    logging.basicConfig(level=logging.CRITICAL)
    started = time.perf_counter()
    show.intro()
    with tempfile.TemporaryDirectory(prefix="linedesk-demo-") as folder:
        rig = _LimitedRig(Path(folder), package_processes_dir(), extra_line_config=TEAM_CONFIG)
        await rig.start()
        try:
            await _play(rig, show)
        except Exception as err:  # the demo must say what broke, not dump a traceback on a new user
            show.check(False, f"the demo stopped: {type(err).__name__}: {err}")
        finally:
            show.end()
            await rig.stop()
    show.summary(time.perf_counter() - started)
    return 0 if not show.failed else 1
