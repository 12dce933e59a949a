"""Flows the end-to-end tests share: a session opened with Anna online, the process picker and its buttons, a
process run for Ivan, the leads list (moved from test_full_path, test_blocks and test_autostart)."""

from __future__ import annotations

from typing import Any

from core.model import InstanceRecord
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, Rig


def picker_buttons(blocks: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The process picker's buttons by scope title, as the operator sees them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    title = None
    for block in blocks:
        if block["type"] == "header":
            title = block["text"]["text"]
        elif block["type"] == "actions" and title is not None:
            groups[title] = [e for e in block["elements"] if e["type"] == "button"]
    return groups


async def open_session_with_anna_online(rig: Rig) -> dict[str, Any]:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await rig.slash(ANNA, "/status", "online")
    return await rig.thread_root(1)


async def pick(rig: Rig, process_name: str, session_text: str = "1") -> Any:
    """Anna runs /startprocess and clicks the named process; returns the click's response."""
    response = await rig.slash(ANNA, "/startprocess", session_text)
    assert response.status == 200
    buttons = [b for group in picker_buttons(response.json["blocks"]).values() for b in group]
    button = next(b for b in buttons if b["text"]["text"] == process_name)
    picker = rig.ephemeral(ANNA)[-1]
    return await rig.click(
        ANNA,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )


async def run_for_ivan(rig: Rig, name: str) -> InstanceRecord:
    """Ivan writes, Anna goes online and starts the named process; returns the instance as it is then."""
    await open_session_with_anna_online(rig)
    await pick(rig, name)
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    return record


async def leads(rig: Rig) -> list[tuple[int, int | None]]:
    assert rig.desk is not None
    return sorted((item.number, item.session) for item in await rig.desk.store.list_items("leads"))
