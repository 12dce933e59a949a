"""The Slack desk as the tests read it: App Home texts and blocks (moved from test_slack_desk and test_app_home)."""

from __future__ import annotations

from typing import Any

from sandboxes.rig import Person, Rig


def home_text(view: dict[str, Any] | None) -> str:
    """Every text of a view, as a person reads it top to bottom."""
    assert view is not None
    texts: list[str] = []
    for item in view["blocks"]:
        if isinstance(item.get("text"), dict):
            texts.append(item["text"]["text"])
        for element in item.get("elements", []):
            if isinstance(element.get("text"), dict):
                texts.append(element["text"]["text"])
            elif isinstance(element.get("text"), str):
                texts.append(element["text"])
    return "\n".join(texts)


async def open_home(rig: Rig, person: Person) -> dict[str, Any]:
    response = await rig.slack.open_home(rig.slack_url, person.slack_user)
    assert response.status == 200
    await rig.settle()
    home = rig.slack.home(person.slack_user)
    assert home is not None, f"no Home published for {person.name}"
    return home


def block(home: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in home["blocks"] if b.get("block_id") == block_id)
