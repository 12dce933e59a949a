"""`linedesk report` (SPEC §15) against a store holding the hand-computed fixture (both stores): text, JSON,
the HTML page opened in headless Chromium and its charts found in the screenshot, and bad parameters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.cli import main
from core.reports.charts import CLOSED, OPENED, RATING, RESPONSE
from tests.support.cli import example_folder
from tests.support.reports import SINCE, UNTIL, colour_box, drop_fixture_store, fixture_store_url, screenshot


@pytest.fixture(params=["sqlite", "redis"])
async def workdir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Path]:
    url = await fixture_store_url(tmp_path, request.param)
    (tmp_path / "desk").mkdir()
    folder = example_folder(tmp_path / "desk", monkeypatch)
    monkeypatch.setenv("LINEDESK_STORE_URL", url)
    yield folder
    await drop_fixture_store(url)


PERIOD = ["--since", SINCE, "--until", UNTIL]


def test_text_report_of_a_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--line", "support", *PERIOD]) == 0
    out = capsys.readouterr().out
    assert "support · 2026-11-02 00:00 – 2026-11-05 00:00 UTC" in out
    assert "Sessions: 5 opened, 3 closed, 2 still open, 1 spam" in out
    assert "First response: p50 1 min, p90 5 min (4 sessions)" in out
    assert "Resolution: p50 20 min, p90 1.0 h (3 sessions)" in out
    assert "Rating: 3.67 from 3 ratings" in out
    assert "Processes: 3 started (2 manual, 1 automatic), 1 failed" in out
    assert "2026-11-03       2       1" in out
    # operators by their names in the config (bob is not in it: his id), then the sessions nobody took
    assert out.index("\nAnna ") < out.index("\nbob ") < out.index("\n(not taken) ")


def test_json_report_has_the_same_figures(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *PERIOD, "--format", "json", "--out", str(workdir / "r.json")]) == 0
    doc = json.loads((workdir / "r.json").read_text())
    assert (doc["line"], doc["opened"], doc["closed"]) == (None, 6, 4)
    assert doc["first_response"] == {"count": 5, "p50": 60.0, "p90": 300.0, "within_target": None}
    assert doc["ratings"]["distribution"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}
    assert doc["processes"] == {"started": 4, "manual": 2, "automatic": 2, "failed": 1}
    assert [d["opened"] for d in doc["days"]] == [3, 2, 1]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--line", "nope"], "line: no line 'nope' (lines: support, sales)"),
        (["--since", "yesterday"], "since: 'yesterday' is not a date"),
        (["--since", "7x"], "since: '7x' is not a date"),
        (["--until", "2026-13-01"], "until: '2026-13-01' is not a date"),
        (["--since", "2026-11-05", "--until", "2026-11-01"], "must be before until"),
    ],
)
def test_bad_parameters_are_named(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    assert main(["report", *args]) == 2
    assert fragment in capsys.readouterr().err


def test_the_html_page_shows_its_charts_in_chromium(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = workdir / "report.html"
    assert main(["report", "--line", "support", *PERIOD, "--format", "html", "--out", str(page)]) == 0
    html = page.read_text()
    assert "<script" not in html and 'src="http' not in html and 'href="http' not in html  # self-contained
    assert html.count("<svg") == 3
    image = screenshot(page, workdir / "report.png")
    boxes = {}
    for name, colour in (("opened", OPENED), ("closed", CLOSED), ("response", RESPONSE), ("rating", RATING)):
        count, box = colour_box(image, colour)
        assert count > 200, f"no {name} bars in the screenshot ({count} pixels of {colour})"
        boxes[name] = box
    # the day chart spans the top row; the response times and ratings sit below it, side by side
    assert boxes["opened"] and boxes["response"] and boxes["rating"]
    assert boxes["response"][1] > boxes["opened"][1]
    assert boxes["rating"][0] > boxes["response"][0]
