"""Every block, script functions, templates and failures — each process started over HTTP from Slack."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from core.model import InstanceStatus, SessionStatus
from sandboxes.rig import IVAN, OLGA, SUPPORT_TOKEN, TELEGRAM_DESK
from tests.support.bpmn import block, script
from tests.support.flows import pick, run_for_ivan
from tests.support.rigs import MakeRig


async def test_reply_and_template_parameters(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "greet",
            "Greet",
            [
                script("count = 3\nwho = client_name.upper()"),
                block(
                    "linedesk.reply", text="Hello {client_name}, line {line_id}, via {channel}, started by {started_by}"
                ),
                block("linedesk.reply", result="sum_text", text="=f'{count} + 2 = {count + 2}'"),
            ],
        )
    )
    record = await run_for_ivan(rig, "Greet")
    assert record.status == InstanceStatus.COMPLETED
    assert rig.client_chat(IVAN)[-2:] == ["Hello Ivan, line support, via telegram, started by anna", "3 + 2 = 5"]
    thread = await rig.desk_thread(1)
    assert "⚙ *Greet* → client: 3 + 2 = 5" in thread
    assert rig.desk is not None
    variables = await rig.desk.processes.variables(record.id)
    assert isinstance(variables["sum_text"], int)  # the reply block's result: the message id


async def test_reply_on_a_closed_session_goes_out_as_an_initiative_message(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "late",
            "Late answer",
            [
                block("linedesk.close_session"),
                block("linedesk.reply", text="We found your order after all"),
            ],
        )
    )
    record = await run_for_ivan(rig, "Late answer")
    assert record.status == InstanceStatus.COMPLETED
    assert rig.desk is not None
    first = await rig.desk.store.get_session(1)
    second = await rig.desk.store.get_session(2)
    assert first is not None and first.status == SessionStatus.CLOSED
    assert second is not None and second.outbound and second.client_id == "telegram:501" and second.is_open
    assert rig.client_chat(IVAN)[-1] == "We found your order after all"
    assert await rig.desk_thread(2) == ["⚙ *Late answer* → client: We found your order after all"]
    assert "■ Session closed by process “Late answer”." in await rig.desk_thread(1)


async def test_initiative_uses_the_open_session_or_refuses_a_client_who_never_wrote(make_rig: MakeRig) -> None:
    rig = await make_rig(
        ("nudge", "Nudge", [block("linedesk.initiative", text="A reminder from us")]),
        ("nudge_olga", "Nudge Olga", [block("linedesk.initiative", text="Hi Olga", client="telegram:502")]),
    )
    record = await run_for_ivan(rig, "Nudge")
    assert record.status == InstanceStatus.COMPLETED
    assert rig.client_chat(IVAN)[-1] == "A reminder from us"
    assert rig.desk is not None
    assert len(await rig.desk.store.list_sessions()) == 1  # the open session was used

    await pick(rig, "Nudge Olga")
    failed = next(r for r in await rig.desk.store.list_instances() if r.process_id == "nudge_olga")
    assert failed.status == InstanceStatus.FAILED and "never wrote" in (failed.error or "")
    assert rig.client_chat(OLGA) == []
    assert any("✖ Nudge Olga failed" in text for text in await rig.desk_thread(1))


async def test_status_is_one_card_edited_in_place_on_telegram_and_slack(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "track",
            "Track",
            [
                block("linedesk.status", text="Order: received"),
                block("linedesk.status", text="Order: packed"),
                block("linedesk.status", text="Order: shipped"),
            ],
        )
    )
    await run_for_ivan(rig, "Track")
    cards = [m for m in rig.bot_messages(IVAN) if m["text"].startswith("Order:")]
    assert [(c["text"], c["edit_count"]) for c in cards] == [("Order: shipped", 2)]
    assert len(rig.telegram.calls_of("editMessageText", token=SUPPORT_TOKEN)) >= 2
    thread = await rig.desk_thread(1)
    assert [t for t in thread if "status:" in t] == ["⚙ *Track* · status: Order: shipped"]
    assert len(rig.slack.calls_of("chat.update")) >= 2
    topic_texts = [m.get("text", "") for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)]
    topic = [text for text in topic_texts if "status:" in text]
    assert topic == ["⚙ Track · status: Order: shipped"]


async def test_create_item_numbers_per_app_and_the_api_lists_them(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "items",
            "Items",
            [
                block("linedesk.create_item", result="lead_a", app="leads", source="{channel}"),
                block("linedesk.create_item", result="lead_b", app="leads", source="phone"),
                block("linedesk.create_item", result="order", app="orders", total="=2 * 21"),
                block("linedesk.reply", text="leads {lead_a}, {lead_b}; order {order}"),
            ],
        )
    )
    await run_for_ivan(rig, "Items")
    assert rig.client_chat(IVAN)[-1] == "leads 1, 2; order 1"
    assert rig.desk is not None
    leads = await rig.desk.store.list_items("leads")
    assert [(i.number, i.fields["source"]) for i in leads] == [(2, "phone"), (1, "telegram")]
    [order] = await rig.desk.store.list_items("orders")
    assert order.fields == {"total": 42} and order.session == 1


async def test_close_session_block_closes_and_updates_the_card(make_rig: MakeRig) -> None:
    rig = await make_rig(("bye", "Goodbye", [block("linedesk.reply", text="Bye!"), block("linedesk.close_session")]))
    await run_for_ivan(rig, "Goodbye")
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.status == SessionStatus.CLOSED
    root = await rig.thread_root(1)
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and "closed" in card["blocks"][0]["text"]["text"] and len(card["blocks"]) == 1


async def test_script_tasks_call_the_blocks_as_functions(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "scripted",
            "Scripted",
            [
                script(
                    'n = create_item("tickets", subject=last_message)\n'
                    'm = create_item("tickets", subject="second")\n'
                    'reply(f"Ticket #{n} opened")\n'
                    'status(f"Ticket #{n}: new")\n'
                    'status(f"Ticket #{n}: assigned")\n'
                    'initiative("Same session, initiative")\n'
                    "close_session()"
                )
            ],
        )
    )
    record = await run_for_ivan(rig, "Scripted")
    assert record.status == InstanceStatus.COMPLETED, record.error
    chat = rig.client_chat(IVAN)
    assert chat[-3:] == ["Ticket #1 opened", "Ticket #1: assigned", "Same session, initiative"]
    assert rig.desk is not None
    assert [i.number for i in await rig.desk.store.list_items("tickets")] == [2, 1]
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.status == SessionStatus.CLOSED


async def test_http_block_calls_allowed_hosts_retries_5xx_and_refuses_others(make_rig: MakeRig) -> None:
    hits: list[dict[str, object]] = []
    flaky = {"left": 2}

    async def crm(request: web.Request) -> web.Response:
        hits.append(await request.json())
        return web.json_response({"deal": 77, "ok": True})

    async def unstable(request: web.Request) -> web.Response:
        if flaky["left"] > 0:
            flaky["left"] -= 1
            return web.Response(status=503)
        return web.json_response({"deal": 78})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/deals", crm)
    app.router.add_post("/unstable", unstable)
    app.router.add_post("/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        rig = await make_rig(
            (
                "crm",
                "To CRM",
                [
                    block(
                        "linedesk.http",
                        result="answer",
                        url=f"{base}/deals",
                        body="={'client': client_name, 'text': last_message}",
                    ),
                    block("linedesk.reply", text="=f\"Deal #{answer['deal']}\""),
                ],
            ),
            (
                "crm_flaky",
                "Flaky CRM",
                [
                    block("linedesk.http", result="answer", url=f"{base}/unstable"),
                    block("linedesk.reply", text="=f\"Deal #{answer['deal']}\""),
                ],
            ),
            ("crm_down", "CRM down", [block("linedesk.http", url=f"{base}/broken")]),
            ("elsewhere", "Elsewhere", [block("linedesk.http", url=f"http://localhost:{port}/deals")]),
            http_allow=("127.0.0.1",),
        )
        record = await run_for_ivan(rig, "To CRM")
        assert record.status == InstanceStatus.COMPLETED, record.error
        assert hits == [{"client": "Ivan", "text": "Hello, my washing machine is broken"}]
        assert rig.client_chat(IVAN)[-1] == "Deal #77"

        await pick(rig, "Flaky CRM")
        assert rig.client_chat(IVAN)[-1] == "Deal #78"

        assert rig.desk is not None
        await pick(rig, "CRM down")
        down = next(r for r in await rig.desk.store.list_instances() if r.process_id == "crm_down")
        assert down.status == InstanceStatus.FAILED and "failed 3 times (HTTP 500)" in (down.error or "")

        await pick(rig, "Elsewhere")
        refused = next(r for r in await rig.desk.store.list_instances() if r.process_id == "elsewhere")
        assert refused.status == InstanceStatus.FAILED
        assert "host 'localhost' is not in processes.http_allow" in (refused.error or "")
        assert len(hits) == 1
    finally:
        await runner.cleanup()


async def test_failures_mark_the_instance_failed_show_the_error_and_linedesk_goes_on(make_rig: MakeRig) -> None:
    rig = await make_rig(
        ("broken_script", "Broken script", [script("x = 1 / 0")]),
        ("missing_var", "Missing variable", [block("linedesk.reply", text="Your order {order_no}")]),
    )
    record = await run_for_ivan(rig, "Broken script")
    assert record.status == InstanceStatus.FAILED and "ZeroDivisionError" in (record.error or "")
    thread = await rig.desk_thread(1)
    assert any(t.startswith("✖ Broken script failed") and "ZeroDivisionError" in t for t in thread)
    topic = [m.get("text", "") for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)]
    assert any(t.startswith("✖ Broken script failed") for t in topic)

    await pick(rig, "Missing variable")
    assert rig.desk is not None
    missing = next(r for r in await rig.desk.store.list_instances() if r.process_id == "missing_var")
    assert missing.status == InstanceStatus.FAILED and "missing variable 'order_no'" in (missing.error or "")
    assert missing.current_task == "step1"
    broken = await rig.desk.store.get_instance(record.id)
    assert broken is not None and broken.current_task == "step1"

    await rig.client_writes(IVAN, "Still there?")  # linedesk is fine
    assert (await rig.desk_thread(1))[-1] == "*Ivan*: Still there?"
    body = json.dumps(missing.model_dump(mode="json"))
    assert "order_no" in body


async def test_http_block_reads_at_most_1_mb_and_calls_only_the_allowed_port(make_rig: MakeRig) -> None:
    """A reply past 1 MB fails the instance with the limit named, and linedesk stops reading it (the host
    is cut off long before it has sent everything); "host:port" in http_allow allows that port only."""
    total = 64 * 1024 * 1024  # never held anywhere: the server writes it chunk by chunk
    chunk = b"x" * (64 * 1024)
    huge = {"sent": 0, "finished": False}
    huge_done = asyncio.Event()
    hits: list[str] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            while huge["sent"] < total:
                await response.write(chunk)
                huge["sent"] += len(chunk)
            await response.write_eof()
            huge["finished"] = True
        except ConnectionError:
            pass
        finally:
            huge_done.set()
        return response

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b" " * 2_000_000, content_type="application/json")

    async def crm(request: web.Request) -> web.Response:
        hits.append(request.host)
        return web.json_response({"deal": 79})

    app = web.Application()
    app.router.add_get("/huge", endless)
    app.router.add_get("/declared", declared)
    app.router.add_post("/deals", crm)
    runner = web.AppRunner(app)
    await runner.setup()
    allowed_site, other_site = web.TCPSite(runner, "127.0.0.1", 0), web.TCPSite(runner, "127.0.0.1", 0)
    await allowed_site.start()
    await other_site.start()
    allowed = allowed_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    other = other_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{allowed}"
    try:
        rig = await make_rig(
            ("huge", "Huge reply", [block("linedesk.http", url=f"{base}/huge", method="GET")]),
            ("declared", "Declared", [block("linedesk.http", url=f"{base}/declared", method="GET")]),
            ("other_port", "Other port", [block("linedesk.http", url=f"http://127.0.0.1:{other}/deals")]),
            (
                "this_port",
                "This port",
                [
                    block("linedesk.http", result="answer", url=f"{base}/deals"),
                    block("linedesk.reply", text="=f\"Deal #{answer['deal']}\""),
                ],
            ),
            http_allow=(f"127.0.0.1:{allowed}",),
        )
        assert rig.desk is not None
        record = await run_for_ivan(rig, "Huge reply")
        assert record.status == InstanceStatus.FAILED
        assert "answered more than 1,000,000 bytes (1 MB)" in (record.error or ""), record.error
        await asyncio.wait_for(huge_done.wait(), 30)
        assert not huge["finished"] and huge["sent"] < total  # linedesk hung up instead of reading on

        await pick(rig, "Declared")
        [declared_run] = [r for r in await rig.desk.store.list_instances() if r.process_id == "declared"]
        assert declared_run.status == InstanceStatus.FAILED
        assert "answered more than 1,000,000 bytes (1 MB)" in (declared_run.error or "")

        await pick(rig, "Other port")
        [refused] = [r for r in await rig.desk.store.list_instances() if r.process_id == "other_port"]
        assert refused.status == InstanceStatus.FAILED
        assert f"port {other} of host '127.0.0.1' is not in processes.http_allow" in (refused.error or "")
        assert hits == []

        await pick(rig, "This port")
        assert rig.client_chat(IVAN)[-1] == "Deal #79"
        assert hits == [f"127.0.0.1:{allowed}"]
    finally:
        await runner.cleanup()


async def test_an_external_topic_that_is_no_block_waits_for_a_worker(make_rig: MakeRig) -> None:
    rig = await make_rig(("ship", "Ship", [block("linedesk.reply", text="Packing"), block("shipping.label")]))
    record = await run_for_ivan(rig, "Ship")
    assert (record.status, record.waiting_for, record.current_task) == (
        InstanceStatus.WAITING,
        "worker:shipping.label",
        "step2",
    )
    assert record.error is None
    assert rig.client_chat(IVAN)[-1] == "Packing"
