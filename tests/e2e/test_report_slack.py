"""`/report [line] [7d]` in Slack and the App Home's last 7 days (SPEC §15), through the Slack sandbox, on both
stores: the summary only the asker sees, the PNG chart uploaded and shown in it, and the refusals."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.clock import ManualClock
from core.reports.charts import SLACK_SIZE
from sandboxes.rig import ANNA, BORIS, CARL, STRANGER, Person, Rig
from tests.support.reports import NOW, write_fixture
from tests.support.rigs import store_rig
from tests.support.slack_desk import block, open_home


@pytest.fixture(params=["sqlite", "redis"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with store_rig(request.param, tmp_path, clock=ManualClock(NOW)) as stage:
        assert stage.desk is not None
        await write_fixture(stage.desk.store)
        yield stage


async def report(rig: Rig, person: Person, text: str) -> dict[str, Any]:
    """`/report text` typed by `person`; the last ephemeral answer they see."""
    response = await rig.slash(person, "/report", text)
    assert response.status == 200
    return rig.ephemeral(person)[-1]


async def test_an_admin_gets_the_summary_and_the_chart(rig: Rig) -> None:
    answer = await report(rig, ANNA, "support 2026-11-02")
    header, summary, image = answer["blocks"]
    assert header["text"]["text"] == "Report · support · 2026-11-02 00:00 – 2026-11-05 01:00 UTC"
    text = summary["text"]["text"]
    assert "Sessions: 5 opened, 3 closed, 2 still open, 1 spam" in text
    assert "First response: p50 1 min, p90 5 min (4 sessions)" in text
    assert "Rating: 3.67 from 3 ratings" in text
    assert image["type"] == "image" and image["alt_text"] == "Sessions per day and response times"
    uploaded = rig.slack.workspace.files[image["slack_file"]["id"]]
    assert uploaded.content is not None and not uploaded.shares  # uploaded, shared nowhere: only Anna sees it
    png = Image.open(io.BytesIO(uploaded.content))
    assert (png.format, png.size) == ("PNG", SLACK_SIZE)
    assert rig.slack.refusals.total == 0


async def test_an_operator_of_one_line_gets_that_lines_report(rig: Rig) -> None:
    answer = await report(rig, CARL, "")  # Carl works the support line only
    assert answer["blocks"][0]["text"]["text"].startswith("Report · support · 2026-10-29 01:00")
    assert "Sessions: 6 opened, 4 closed" in answer["blocks"][1]["text"]["text"]  # with the one before T0


@pytest.mark.parametrize(
    ("person", "text", "refusal"),
    [
        (BORIS, "support", "No report: you are not an operator of the line 'support'."),
        (STRANGER, "", "No report: You are not a linedesk operator."),
        (ANNA, "support lastweek", "No report: since: 'lastweek' is not a date"),
        (ANNA, "support sales", "No report: Use `/report [line] [7d|30d|2026-11-01]`"),
    ],
)
async def test_refusals_say_why_and_upload_nothing(rig: Rig, person: Person, text: str, refusal: str) -> None:
    if person is STRANGER:
        rig.slack.add_user(STRANGER.slack_user, "stranger", display_name="Stranger")
    answer = await report(rig, person, text)
    assert answer["text"].startswith(refusal) and "blocks" not in answer
    assert not rig.slack.workspace.files


async def test_the_app_home_shows_admins_the_last_7_days(rig: Rig) -> None:
    home = await open_home(rig, ANNA)
    assert "Sessions: 7 opened, 5 closed, 2 still open, 1 spam" in block(home, "report")["text"]["text"]
    carl = await open_home(rig, CARL)
    assert all(b.get("block_id") != "report" for b in carl["blocks"])  # not an admin
